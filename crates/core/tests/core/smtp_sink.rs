//! A real SMTP server on loopback for the e-mail tests: `tools/smtp_sink.py` (aiosmtpd, see
//! scripts/setup.sh) started on a free port, writing each message it accepts to a folder. Shared
//! with the CLI tests through `#[path]`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One message as the server received it.
#[derive(Debug, serde::Deserialize)]
pub struct Delivered {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    pub subject: String,
    pub from: String,
    pub text: String,
    pub html: String,
    /// The username the client signed in with, if it did.
    pub login: Option<String>,
    /// The raw bytes as received (headers, encoded parts).
    #[serde(skip)]
    pub raw: String,
}

pub struct SmtpSink {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Child,
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/smtp_sink.py")
}

impl SmtpSink {
    /// Starts the server; `auth`: the only `(user, password)` it accepts (then required).
    pub fn start(auth: Option<(&str, &str)>) -> SmtpSink {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let mut cmd = Command::new("python3");
        cmd.arg(script()).arg("--port").arg(port.to_string()).arg("--dir").arg(dir.path());
        if let Some((u, p)) = auth {
            cmd.arg("--auth").arg(format!("{u}:{p}"));
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd (scripts/setup.sh installs it) must start");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read");
        assert_eq!(line.trim(), "ready", "the SMTP sink must start (is aiosmtpd installed? run scripts/setup.sh)");
        SmtpSink { port, dir, child }
    }

    /// The messages received so far, in order.
    pub fn messages(&self) -> Vec<Delivered> {
        let mut out = Vec::new();
        for n in 1.. {
            let json = self.dir.path().join(format!("{n}.json"));
            let Ok(text) = std::fs::read_to_string(&json) else { break };
            let mut d: Delivered = serde_json::from_str(&text).expect("sink json");
            d.raw = std::fs::read_to_string(self.dir.path().join(format!("{n}.eml"))).unwrap_or_default();
            out.push(d);
        }
        out
    }

    /// Waits up to 10 s for the `n`th message.
    pub fn wait_for(&self, n: usize) -> Vec<Delivered> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let got = self.messages();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
