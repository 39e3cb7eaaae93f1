//! The token watch and on-demand e-mail through the real `orgvault` binary, against portal-sim
//! and a real SMTP server on loopback (`tools/smtp_sink.py`): `identity mail` sets the
//! identity's recipients; an on-demand `scan` e-mails its result as the identity's default or
//! its `--email`/`--email-when` say; `identity check` finds a demoted admin and a changed
//! password, each e-mailed once, with no secret in the message.

use portal_sim::{RunningSim, SimConfig};

use crate::smtp_sink::SmtpSink;
use crate::support::{add_identity, json_line, run, set_mail, stderr};

async fn sim() -> RunningSim {
    RunningSim::start(SimConfig { orgs: 1, items: 6, users: 4, groups: 1, ..SimConfig::default() })
        .await
        .expect("sim starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_check_warns_by_email_once_per_finding_and_on_demand_jobs_email_their_result() -> anyhow::Result<()> {
    let sim = sim().await;
    let org = &sim.orgs[0];
    let sink = SmtpSink::start(None);
    let data = tempfile::tempdir()?;
    let dest = data.path().join("backups");
    add_identity(data.path(), org, "Acme", dest.to_str().expect("utf-8")).await;
    set_mail(data.path(), sink.port, "orgvault@example.org", None).await;

    let mail = ["identity", "mail", "Acme", "--email", "ops@example.org", "--email-when", "always", "--json"];
    let out = run(data.path(), &mail, None, None).await;
    assert!(out.status.success(), "identity mail: {}", stderr(&out));
    let shown = json_line(&out);
    assert_eq!(shown["email"], serde_json::json!(["ops@example.org"]), "the recipients are stored: {shown}");
    assert_eq!(shown["email_when"], "always", "{shown}");

    // On demand: the identity's default sends; --email-when never silences one run; --email
    // sends one run elsewhere.
    let out = run(data.path(), &["scan", "--identity", "Acme", "--json"], None, None).await;
    assert!(out.status.success(), "scan: {}", stderr(&out));
    let job_id = json_line(&out)["job_id"].as_i64().expect("job id");
    let got = sink.wait_for(1);
    assert_eq!(got[0].rcpt_tos, vec!["ops@example.org".to_owned()], "the identity's recipient gets the result");
    assert!(got[0].text.contains(&job_id.to_string()), "the result names its job: {}", got[0].text);
    let out = run(data.path(), &["scan", "--identity", "Acme", "--email-when", "never"], None, None).await;
    assert!(out.status.success(), "scan: {}", stderr(&out));
    let out = run(data.path(), &["scan", "--identity", "Acme", "--email", "boss@example.org"], None, None).await;
    assert!(out.status.success(), "scan: {}", stderr(&out));
    let got = sink.wait_for(2);
    assert_eq!(got.len(), 2, "the run with --email-when never sent nothing");
    assert_eq!(got[1].rcpt_tos, vec!["boss@example.org".to_owned()], "--email overrides the recipients");

    let out = run(data.path(), &["identity", "check", "Acme", "--json"], None, None).await;
    assert!(out.status.success(), "a healthy identity passes: {}", stderr(&out));
    assert_eq!(json_line(&out)["finding"], "ok");

    assert!(sim.control().demote_to_user(&org.url_key, &org.admin.username));
    let out = run(data.path(), &["identity", "check", "--all", "--json"], None, None).await;
    assert!(!out.status.success(), "a demoted admin fails the check");
    let all = json_line(&out);
    assert_eq!(all[0]["finding"], "not_admin", "the finding is the lost role: {all}");
    let got = sink.wait_for(3);
    assert!(got[2].subject.contains("Acme"), "the warning names the identity: {}", got[2].subject);
    assert!(got[2].text.contains("administrator"), "and says what to do: {}", got[2].text);
    let out = run(data.path(), &["identity", "check", "Acme"], None, None).await;
    assert!(!out.status.success(), "still not an admin");
    assert!(crate::support::stdout(&out).contains("NOT_ADMIN"), "the text output names the finding");

    assert!(sim.control().set_password(&org.url_key, &org.admin.username, "a-new-Passw0rd"));
    let out = run(data.path(), &["identity", "check", "Acme", "--json"], None, None).await;
    assert!(!out.status.success(), "a changed password fails the check");
    let checked = json_line(&out);
    assert_eq!(checked["finding"], "password_rejected", "{checked}");
    assert_eq!(checked["sign_in"]["ok"], false, "{checked}");
    let got = sink.wait_for(4);
    assert_eq!(got.len(), 4, "the repeated not_admin check sent no second e-mail; the new finding sent one");
    for m in &got {
        for secret in [org.admin.password.as_str(), "a-new-Passw0rd"] {
            assert!(!m.raw.contains(secret) && !m.text.contains(secret), "no password in any e-mail");
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_run_checks_every_identity_at_start_and_emails_a_warning() -> anyhow::Result<()> {
    let sim = sim().await;
    let org = &sim.orgs[0];
    let sink = SmtpSink::start(None);
    let data = tempfile::tempdir()?;
    let add = [
        "identity",
        "add",
        "--name",
        "Acme",
        "--portal",
        &org.portal_url,
        "--username",
        &org.admin.username,
        "--password-stdin",
    ];
    let out = run(data.path(), &add, Some(&format!("{}\n", org.admin.password)), None).await;
    assert!(out.status.success(), "identity add: {}", stderr(&out));
    set_mail(data.path(), sink.port, "orgvault@example.org", None).await;
    let mail = ["identity", "mail", "Acme", "--email", "ops@example.org"];
    assert!(run(data.path(), &mail, None, None).await.status.success());

    assert!(sim.control().demote_to_user(&org.url_key, &org.admin.username));
    // No schedule at all: the service still checks the identities when it starts.
    let out = run(data.path(), &["service", "run", "--once"], None, None).await;
    assert!(out.status.success(), "service run --once: {}", stderr(&out));
    let got = sink.wait_for(1);
    assert!(got[0].subject.contains("Acme"), "the start's check e-mailed the warning: {}", got[0].subject);
    let out = run(data.path(), &["service", "run", "--once"], None, None).await;
    assert!(out.status.success());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.messages().len(), 1, "a second start does not e-mail the same finding again");
    Ok(())
}
