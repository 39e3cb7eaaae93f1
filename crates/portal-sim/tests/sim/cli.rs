//! The `portal-sim` binary: one ready line on stdout, deterministic orgs per seed, clean exit on
//! SIGTERM, and `--tls` serving HTTPS with the certificate it writes out.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

struct Sim {
    child: Child,
    ready: Value,
    /// Whatever the binary prints on stdout after the ready line, collected until it exits.
    rest: tokio::task::JoinHandle<String>,
}

/// Starts the binary with `args` and reads its ready line (10 s at most).
async fn spawn(args: &[&str]) -> Sim {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portal-sim"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the portal-sim binary starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout);
    let mut line = String::new();
    tokio::time::timeout(Duration::from_secs(10), lines.read_line(&mut line))
        .await
        .expect("the ready line must come within 10 s")
        .expect("stdout readable");
    let ready: Value =
        serde_json::from_str(line.trim_end()).unwrap_or_else(|e| panic!("the ready line must be JSON ({e}): {line:?}"));
    // Keep reading stdout for the exactly-one-line check.
    let rest = tokio::spawn(async move {
        let mut rest = String::new();
        let _ = lines.read_to_string(&mut rest).await;
        rest
    });
    Sim { child, ready, rest }
}

/// Sends SIGTERM to our own child (by its pid), waits for it to exit, and answers its exit status
/// with what it printed on stdout after the ready line.
async fn terminate(mut sim: Sim) -> (std::process::ExitStatus, String) {
    let pid = sim.child.id().expect("child still running").to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
    assert!(status.success(), "SIGTERM delivered");
    let exit = tokio::time::timeout(Duration::from_secs(10), sim.child.wait())
        .await
        .expect("exits within 10 s after SIGTERM")
        .expect("wait");
    let rest =
        tokio::time::timeout(Duration::from_secs(5), sim.rest).await.expect("stdout closes").expect("reader task");
    (exit, rest)
}

fn org_identity(ready: &Value) -> Vec<(String, String, String, String, String, String)> {
    ready["orgs"]
        .as_array()
        .expect("orgs array")
        .iter()
        .map(|o| {
            let s = |v: &Value| v.as_str().expect("string field").to_owned();
            (
                s(&o["id"]),
                s(&o["url_key"]),
                s(&o["admin"]["username"]),
                s(&o["admin"]["password"]),
                s(&o["user"]["username"]),
                s(&o["user"]["password"]),
            )
        })
        .collect()
}

#[tokio::test]
async fn binary_prints_one_ready_line_and_same_seed_gives_same_orgs() {
    let a = spawn(&["--orgs", "2", "--items", "30", "--seed", "7"]).await;
    let b = spawn(&["--orgs", "2", "--items", "30", "--seed", "7"]).await;
    let c = spawn(&["--orgs", "2", "--items", "30", "--seed", "8"]).await;

    let base = a.ready["base_url"].as_str().expect("base_url").to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "base_url is loopback http: {base}");
    let orgs = a.ready["orgs"].as_array().expect("orgs");
    assert_eq!(orgs.len(), 2, "--orgs 2 gives two orgs");
    for o in orgs {
        for key in ["id", "url_key", "portal_url"] {
            assert!(o[key].is_string(), "each org has {key}: {o}");
        }
        for who in ["admin", "user"] {
            assert!(
                o[who]["username"].is_string() && o[who]["password"].is_string(),
                "each org has {who} credentials: {o}"
            );
        }
        assert_eq!(
            o["portal_url"].as_str(),
            Some(format!("{base}/{}", o["url_key"].as_str().expect("key")).as_str()),
            "portal_url is base/urlKey"
        );
    }
    assert_eq!(org_identity(&a.ready), org_identity(&b.ready), "the same seed must give the same orgs and logins");
    assert_ne!(org_identity(&a.ready), org_identity(&c.ready), "another seed gives other orgs");

    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let portal = orgs[0]["portal_url"].as_str().expect("portal_url");
    let v: Value = http
        .post(format!("{portal}/sharing/rest/generateToken"))
        .form(&[
            ("username", orgs[0]["admin"]["username"].as_str().expect("u")),
            ("password", orgs[0]["admin"]["password"].as_str().expect("p")),
            ("client", "referer"),
            ("referer", "http://127.0.0.1"),
            ("f", "json"),
        ])
        .send()
        .await
        .expect("the binary serves")
        .json()
        .await
        .expect("json");
    assert!(v["token"].is_string(), "the printed admin login signs in: {v}");

    for sim in [a, b, c] {
        let (status, rest) = terminate(sim).await;
        assert!(status.success(), "SIGTERM ends the sim cleanly: {status:?}");
        assert_eq!(rest, "", "nothing but the one ready line may appear on stdout");
    }
}

#[tokio::test]
async fn tls_serves_https_trusted_only_with_the_written_certificate() {
    let cert_path =
        std::env::temp_dir().join(format!("portal-sim-cert-{}-{}.pem", std::process::id(), portal_sim::auth::now_ms()));
    let cert_arg = cert_path.to_str().expect("utf-8 temp path").to_owned();
    let sim = spawn(&["--orgs", "1", "--items", "10", "--tls", "--tls-cert-out", &cert_arg]).await;
    let portal = sim.ready["orgs"][0]["portal_url"].as_str().expect("portal_url").to_owned();
    assert!(portal.starts_with("https://127.0.0.1:"), "with --tls every URL is https: {portal}");
    assert!(sim.ready["base_url"].as_str().expect("base").starts_with("https://"), "base_url too");

    let pem = std::fs::read(&cert_path).expect("the certificate PEM is written");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let trusting = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("valid PEM")])
        .build()
        .expect("client");
    let info = format!("{portal}/sharing/rest/info?f=json");
    let ok = trusting.get(&info).send().await.expect("a client trusting the written PEM connects");
    assert_eq!(ok.status(), 200, "HTTPS request succeeds");

    let stranger = reqwest::Client::builder().build().expect("client");
    let err =
        stranger.get(&info).send().await.expect_err("a client without the PEM must refuse the self-signed certificate");
    let chain = {
        let mut text = format!("{err:?}");
        let mut source = std::error::Error::source(&err);
        while let Some(s) = source {
            text.push_str(&format!(" | {s}"));
            source = s.source();
        }
        text.to_lowercase()
    };
    assert!(
        chain.contains("certificate") || chain.contains("unknownissuer"),
        "the refusal is a certificate error: {chain}"
    );
    let _ = std::fs::remove_file(&cert_path);
    let (status, rest) = terminate(sim).await;
    assert!(status.success(), "SIGTERM ends the TLS sim cleanly: {status:?}");
    assert_eq!(rest, "", "only the ready line on stdout with --tls too");
}

#[tokio::test]
async fn in_process_tls_hands_out_https_urls() {
    let sim =
        portal_sim::RunningSim::start(portal_sim::SimConfig { tls: true, orgs: 1, items: 10, ..Default::default() })
            .await
            .expect("starts with tls");
    assert!(sim.base_url.starts_with("https://"), "base_url is https: {}", sim.base_url);
    assert!(sim.orgs.iter().all(|o| o.portal_url.starts_with("https://")), "every portal_url is https");
}

#[tokio::test]
async fn empty_orgs_flag_makes_the_last_orgs_restore_targets() {
    let sim = spawn(&["--orgs", "2", "--items", "10", "--users", "5", "--empty-orgs", "1"]).await;
    let orgs = sim.ready["orgs"].as_array().expect("orgs").clone();
    assert_eq!(orgs.len(), 2, "the empty org is still on the ready line");
    let base = sim.ready["base_url"].as_str().expect("base_url").to_owned();
    let http = reqwest::Client::new();
    let counts = |key: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let url = format!("{base}/_sim/orgs/{key}/counts");
            http.get(url).send().await.expect("control reachable").json::<Value>().await.expect("counts JSON")
        }
    };
    let full = counts(orgs[0]["url_key"].as_str().expect("key").to_owned()).await;
    let empty = counts(orgs[1]["url_key"].as_str().expect("key").to_owned()).await;
    assert_eq!(full["items"], 10, "the first org is generated: {full}");
    assert_eq!(
        (empty["items"].clone(), empty["groups"].clone(), empty["folders"].clone()),
        (json!(0), json!(0), json!(0)),
        "{empty}"
    );
    assert_eq!(empty["users"], 2, "the empty org keeps its admin and non-admin user: {empty}");
    let (status, _) = terminate(sim).await;
    assert!(status.success(), "SIGTERM ends the sim cleanly: {status:?}");
}
