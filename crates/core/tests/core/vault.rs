//! The Stronghold vault on disk: round trip, restart, wrong key, key file rules, crash safety,
//! encryption at rest, and two processes sharing one file.

use std::path::Path;

use orgvault_core::vault::{
    open_default, SecretKey, SecretStore, StrongholdVault, VaultError, VaultKey, VaultKeySource, KEY_FILE_NAME,
    KEY_SOURCE_ENV, VAULT_FILE_NAME,
};

const KEY_A: [u8; 32] = [7u8; 32];
const KEY_B: [u8; 32] = [9u8; 32];

fn key(bytes: &[u8; 32]) -> VaultKey {
    VaultKey::from_bytes(bytes).expect("32 bytes are a key")
}

fn get_text(vault: &dyn SecretStore, k: &SecretKey) -> Option<String> {
    vault.get(k).expect("get").map(|v| String::from_utf8(v.to_vec()).expect("utf-8"))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Tests that go through `open_default` keep the key in a file: they must never write to the
/// keyring of the developer who runs them. Every such test sets the same value, so running them
/// in parallel is harmless.
fn force_key_file() {
    std::env::set_var(KEY_SOURCE_ENV, "file");
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn secrets_round_trip_and_survive_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(VAULT_FILE_NAME);
    let pw = SecretKey::password("id1");
    let conn = SecretKey::azure_connection_string("id1");
    {
        let vault = StrongholdVault::open(&path, key(&KEY_A)).expect("a new vault opens");
        assert_eq!(get_text(&vault, &pw), None, "a new vault is empty");
        vault.put(&pw, b"first password").expect("put");
        vault.put(&pw, b"second password").expect("put replaces");
        vault.put(&conn, b"AccountName=a;AccountKey=k").expect("put");
        assert_eq!(get_text(&vault, &pw).as_deref(), Some("second password"), "the latest value wins");
        vault.remove(&conn).expect("remove");
        vault.remove(&conn).expect("removing a missing secret is not an error");
        assert_eq!(get_text(&vault, &conn), None, "a removed secret is gone");
    }
    // A new process: nothing but the file and the key.
    let reopened = StrongholdVault::open(&path, key(&KEY_A)).expect("the vault reopens with its key");
    assert_eq!(get_text(&reopened, &pw).as_deref(), Some("second password"), "secrets survive a restart");
    assert_eq!(get_text(&reopened, &conn), None, "a removal survives a restart");
}

#[test]
fn a_wrong_key_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(VAULT_FILE_NAME);
    let vault = StrongholdVault::open(&path, key(&KEY_A)).expect("open");
    vault.put(&SecretKey::password("id1"), b"wrong-key-test-secret").expect("put");
    drop(vault);
    let err = StrongholdVault::open(&path, key(&KEY_B)).expect_err("another key must not open the vault");
    assert_eq!(
        err.code(),
        orgvault_core::ErrorCode::VaultWrongKey,
        "the UI can tell a wrong key from other failures: {err}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "the message names the vault file: {msg}");
    assert!(!msg.contains("wrong-key-test-secret"), "the message never shows a secret: {msg}");
    let still = StrongholdVault::open(&path, key(&KEY_A)).expect("the right key still opens it");
    assert_eq!(
        get_text(&still, &SecretKey::password("id1")).as_deref(),
        Some("wrong-key-test-secret"),
        "a refused open must not damage the vault"
    );
}

#[test]
fn a_file_that_is_not_a_vault_is_named_as_such() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(VAULT_FILE_NAME);
    std::fs::write(&path, b"{\"not\": \"a vault\"}").expect("write");
    let err = StrongholdVault::open(&path, key(&KEY_A)).expect_err("garbage is not a vault");
    assert!(matches!(err, VaultError::NotAVault { .. }), "a foreign file is not reported as a wrong key: {err}");
}

#[test]
fn no_secret_is_stored_in_plain_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(VAULT_FILE_NAME);
    let vault = StrongholdVault::open(&path, key(&KEY_A)).expect("open");
    let secrets = ["Plain-Text-Password-4711", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0"];
    vault.put(&SecretKey::password("id1"), secrets[0].as_bytes()).expect("put");
    vault.put(&SecretKey::azure_connection_string("id1"), secrets[1].as_bytes()).expect("put");
    let bytes = std::fs::read(&path).expect("the vault file exists after a put");
    assert!(bytes.len() > 64, "the vault file holds the encrypted secrets");
    for s in secrets {
        assert!(!contains(&bytes, s), "the vault file must not hold {s:?} in plain text");
        assert!(!contains(&bytes, &s[..12]), "not even a prefix of {s:?} may show in the vault file");
    }
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600, "the vault file is readable by its owner only");
}

#[test]
fn a_leftover_temporary_file_does_not_break_the_vault() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(VAULT_FILE_NAME);
    let vault = StrongholdVault::open(&path, key(&KEY_A)).expect("open");
    vault.put(&SecretKey::password("id1"), b"before the crash").expect("put");
    drop(vault);
    // A crash during a write leaves a partial temporary file (ours or the engine's salted one).
    let tmp = dir.path().join(format!("{VAULT_FILE_NAME}.tmp"));
    std::fs::write(&tmp, b"PARTI half-written snapshot").expect("write");
    std::fs::write(dir.path().join(format!("{VAULT_FILE_NAME}.tmp.0a1b2c3d4e5f")), b"junk").expect("write");

    let vault = StrongholdVault::open(&path, key(&KEY_A)).expect("a leftover temporary file must not stop the open");
    assert_eq!(
        get_text(&vault, &SecretKey::password("id1")).as_deref(),
        Some("before the crash"),
        "the vault is what the last complete write left"
    );
    vault.put(&SecretKey::password("id2"), b"after the crash").expect("a write replaces the leftover");
    assert!(!tmp.exists(), "the write renamed its temporary file over the vault");
    let reopened = StrongholdVault::open(&path, key(&KEY_A)).expect("reopen");
    assert_eq!(get_text(&reopened, &SecretKey::password("id1")).as_deref(), Some("before the crash"), "old kept");
    assert_eq!(get_text(&reopened, &SecretKey::password("id2")).as_deref(), Some("after the crash"), "new kept");
}

#[test]
fn two_processes_sharing_the_vault_lose_no_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(VAULT_FILE_NAME);
    // Two handles stand for the app and a CLI job: each has its own in-memory copy.
    let app = StrongholdVault::open(&path, key(&KEY_A)).expect("open");
    let cli = StrongholdVault::open(&path, key(&KEY_A)).expect("open");
    app.put(&SecretKey::password("app"), b"from the app").expect("put");
    cli.put(&SecretKey::password("cli"), b"from the cli").expect("put");
    app.remove(&SecretKey::password("nothing")).expect("remove");
    for (who, v) in [("app", &app), ("cli", &cli)] {
        assert_eq!(get_text(v, &SecretKey::password("app")).as_deref(), Some("from the app"), "{who} sees the app's");
        assert_eq!(get_text(v, &SecretKey::password("cli")).as_deref(), Some("from the cli"), "{who} sees the cli's");
    }
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let v = StrongholdVault::open(&path, key(&KEY_A)).expect("open");
                for i in 0..3 {
                    v.put(&SecretKey::password(&format!("t{t}-{i}")), b"x").expect("concurrent put");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
    let check = StrongholdVault::open(&path, key(&KEY_A)).expect("open");
    for t in 0..4 {
        for i in 0..3 {
            assert!(
                check.get(&SecretKey::password(&format!("t{t}-{i}"))).expect("get").is_some(),
                "concurrent writer {t} write {i} must not be lost"
            );
        }
    }
}

#[cfg(unix)]
#[test]
fn the_key_file_is_created_private_and_reused() {
    force_key_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let (vault, source) = open_default(dir.path()).expect("a first start creates the vault key");
    let key_path = dir.path().join(KEY_FILE_NAME);
    assert_eq!(source, VaultKeySource::KeyFile(key_path.clone()), "with {KEY_SOURCE_ENV}=file the key is a file");
    assert_eq!(mode(&key_path), 0o600, "the key file is created readable by its owner only");
    let text = std::fs::read_to_string(&key_path).expect("read");
    assert_eq!(text.trim().len(), 64, "the key file holds 32 bytes as hex");
    vault.put(&SecretKey::password("id1"), b"kept across starts").expect("put");
    drop(vault);

    let (again, _) = open_default(dir.path()).expect("a second start reuses the key");
    assert_eq!(
        get_text(&again, &SecretKey::password("id1")).as_deref(),
        Some("kept across starts"),
        "the key file opens the vault it created"
    );
    assert_eq!(std::fs::read_to_string(&key_path).expect("read"), text, "an existing key is never replaced");
}

#[cfg(unix)]
#[test]
fn a_key_file_others_can_read_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    force_key_file();
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open_default(dir.path()).expect("create"));
    let key_path = dir.path().join(KEY_FILE_NAME);
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = open_default(dir.path()).expect_err("a world-readable key file must be refused");
    assert_eq!(err.code(), orgvault_core::ErrorCode::VaultKeyPermissions, "the refusal has its own code: {err}");
    let msg = err.to_string();
    assert!(msg.contains("chmod 600") && msg.contains(&key_path.display().to_string()), "it says how to fix it: {msg}");
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    assert_eq!(
        open_default(dir.path()).expect_err("group-readable is refused too").code(),
        orgvault_core::ErrorCode::VaultKeyPermissions,
        "the group may not read the key either"
    );
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    open_default(dir.path()).expect("after chmod 600 the vault opens");
}

#[test]
fn a_vault_whose_key_is_lost_is_not_replaced() {
    force_key_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let (vault, _) = open_default(dir.path()).expect("create");
    vault.put(&SecretKey::password("id1"), b"must not be lost silently").expect("put");
    drop(vault);
    std::fs::remove_file(dir.path().join(KEY_FILE_NAME)).expect("lose the key");
    let before = std::fs::read(dir.path().join(VAULT_FILE_NAME)).expect("read");
    let err = open_default(dir.path()).expect_err("no key, no vault");
    assert_eq!(err.code(), orgvault_core::ErrorCode::VaultKeyMissing, "a lost key is named as such: {err}");
    assert!(!dir.path().join(KEY_FILE_NAME).exists(), "no new key is made for an existing vault");
    assert_eq!(std::fs::read(dir.path().join(VAULT_FILE_NAME)).expect("read"), before, "the vault is left untouched");
}

#[test]
fn a_damaged_key_file_is_refused() {
    force_key_file();
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join(KEY_FILE_NAME);
    std::fs::write(&key_path, "not a key\n").expect("write");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let err = open_default(dir.path()).expect_err("a damaged key file is refused");
    assert_eq!(err.code(), orgvault_core::ErrorCode::VaultKeyInvalid, "a damaged key file has its own code: {err}");
}
