use std::path::Path;

/// Regenerates the bindings into a temporary file and compares them with the committed ones.
/// Set ORGVAULT_UPDATE_BINDINGS=1 to rewrite ui/src/bindings.ts instead (then commit it).
#[test]
fn bindings_are_fresh() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join(orgvault_desktop::BINDINGS_PATH);
    if std::env::var_os("ORGVAULT_UPDATE_BINDINGS").is_some() {
        orgvault_desktop::export_bindings(&committed).expect("write the bindings");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let fresh = dir.path().join("bindings.ts");
    orgvault_desktop::export_bindings(&fresh).expect("export the bindings");
    let want = std::fs::read_to_string(&fresh).expect("read fresh bindings");
    let got = std::fs::read_to_string(&committed).unwrap_or_default();
    assert!(
        want.contains("startScan") && want.contains("jobFinished"),
        "the generator must export the commands and events (camelCase)"
    );
    assert!(
        got == want,
        "ui/src/bindings.ts is stale: run `ORGVAULT_UPDATE_BINDINGS=1 cargo test -p orgvault-desktop --test desktop bindings` and commit it"
    );
}
