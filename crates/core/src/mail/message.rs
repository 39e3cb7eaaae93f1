//! The messages OrgVault sends, as plain text and HTML: a job's result, a token warning and the
//! test message. Everything shown comes from the job history and the identity's row; every piece
//! of text passes through a [`Redactor`] that blanks the secrets the vault holds for the
//! identity and the SMTP server (and anything shaped like a key or a token), then, for the
//! HTML part, through [`escape_html`].

use std::fmt::Write as _;

use lettre::message::{Mailbox, MultiPart};

use super::MailError;
use crate::jobs::{Job, JobCounts, JobItem, JobState, Outcome};
use crate::units::format_bytes;

/// At most this many failed subjects are listed in a job's result; the rest are counted.
pub const FAILED_SUBJECTS_SHOWN: usize = 25;

/// A message before it is addressed: a subject and the same content as text and as HTML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Content {
    /// The message with its sender and recipients, as lettre sends it.
    pub(super) fn to_message(&self, from: &str, to: &[String]) -> Result<lettre::Message, MailError> {
        let mut builder = lettre::Message::builder().from(parse_mailbox(from, "from address")?).subject(&self.subject);
        for address in to {
            builder = builder.to(parse_mailbox(address, "recipient")?);
        }
        builder
            .multipart(MultiPart::alternative_plain_html(self.text.clone(), self.html.clone()))
            .map_err(|e| MailError::InvalidInput(format!("the message could not be built: {e}")))
    }
}

/// Parses an address such as `ops@example.org` or `Ops <ops@example.org>`.
pub fn parse_mailbox(address: &str, what: &str) -> Result<Mailbox, MailError> {
    address
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| MailError::InvalidInput(format!("{address:?} is not a valid {what} ({e})")))
}

/// Blanks secret values in text shown to people. Values shorter than four characters are not
/// blanked (they would blank ordinary words and prove nothing).
#[derive(Default)]
pub struct Redactor {
    values: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} values)", self.values.len())
    }
}

const BLANK: &str = "***";

impl Redactor {
    pub fn add(&mut self, value: &str) {
        if value.chars().count() >= 4 {
            self.values.push(value.to_owned());
        }
    }

    /// `text` with every known secret, and every `AccountKey=`, `SharedAccessSignature=`,
    /// `sig=`, `token=`, `password=` value, replaced by `***`.
    pub fn clean(&self, text: &str) -> String {
        let mut out = text.to_owned();
        // Longest first, so a secret containing another is blanked whole.
        let mut values: Vec<&String> = self.values.iter().collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        for v in values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), BLANK);
            }
        }
        shaped_secrets().replace_all(&out, format!("${{name}}{BLANK}")).into_owned()
    }
}

fn shaped_secrets() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"(?i)(?P<name>\b(?:AccountKey|SharedAccessSignature|sig|token|access_token|refresh_token|password|client_secret)\s*[=:]\s*)[^\s;&,]+",
        )
        .expect("a valid pattern")
    })
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What a job's result message says; built by `mail::report_job` from the history.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub job: Job,
    /// The identity's name (its id when it was deleted).
    pub identity: Option<String>,
    /// The subjects the job recorded; the failed ones are listed.
    pub items: Vec<JobItem>,
    /// When the schedule that ran the job runs next, if it does.
    pub next_run_ms: Option<i64>,
}

fn state_word(state: JobState) -> &'static str {
    match state {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Succeeded => "succeeded",
        JobState::Partial => "finished with problems",
        JobState::Failed => "failed",
        JobState::Cancelled => "was cancelled",
    }
}

/// An instant as the machine's local time with its offset and, where the OS names it, its
/// zone: `2026-12-05 09:38:00 +01:00 (Europe/Berlin)`. A reader of the e-mail sees the time of
/// the place the job ran, and the offset says how to compare it with their own.
pub fn format_time(ms: i64) -> String {
    let zone = iana_time_zone::get_timezone().ok().filter(|z| !z.is_empty());
    match (format_time_in(ms, &chrono::Local), zone) {
        (t, Some(zone)) => format!("{t} ({zone})"),
        (t, None) => t,
    }
}

/// An instant in `zone`: `2026-12-05 09:38:00 +01:00`.
pub fn format_time_in<Z: chrono::TimeZone>(ms: i64, zone: &Z) -> String
where
    Z::Offset: std::fmt::Display,
{
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(zone).format("%Y-%m-%d %H:%M:%S %:z").to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// `1 h 2 min 3 s`.
pub fn format_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s} s"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, m, s) => format!("{h} h {m} min {s} s"),
    }
}

impl JobReport {
    /// The message, with every text passed through `redactor`.
    pub fn render(&self, redactor: &Redactor) -> Content {
        let job = &self.job;
        let clean = |s: &str| redactor.clean(s);
        let name = clean(&job.name);
        let identity = clean(self.identity.as_deref().or(job.identity_id.as_deref()).unwrap_or("(none)"));
        let subject = format!("OrgVault: {} \"{}\" {}", job.kind, name, state_word(job.state));

        // (label, value) lines, shared by both parts.
        let mut facts: Vec<(&str, String)> = vec![
            ("Job", format!("{} (#{})", name, job.id)),
            ("Identity", identity),
            ("Kind", job.kind.to_string()),
            ("State", stored_word(job.state)),
        ];
        if let Some(t) = job.started_ms.or(Some(job.created_ms)) {
            facts.push(("Started", format_time(t)));
        }
        if let (Some(start), Some(end)) = (job.started_ms, job.finished_ms) {
            facts.push(("Duration", format_duration(end - start)));
        }
        if let Some(snapshot) = job.counts.snapshot() {
            facts.push(("Snapshot", clean(snapshot)));
        }
        if let JobCounts::Backup(c) = &job.counts {
            facts.push(("New data", format_bytes(c.bytes_new)));
            facts.push(("Total size", format_bytes(c.bytes_total)));
        }
        let tallies = job.counts.line();
        if !tallies.is_empty() {
            facts.push(("Counts", tallies));
        }
        if let Some(next) = self.next_run_ms {
            facts.push(("Next run", format_time(next)));
        }
        if let Some(error) = &job.error {
            facts.push(("Problem", clean(error)));
        }

        let failed: Vec<&JobItem> = self.items.iter().filter(|i| i.outcome.outcome == Outcome::Failed).collect();
        let shown: Vec<(String, String)> = failed
            .iter()
            .take(FAILED_SUBJECTS_SHOWN)
            .map(|i| {
                let o = &i.outcome;
                let kind =
                    serde_json::to_value(o.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                (
                    clean(&format!("{kind} {} ({})", o.title, o.id)),
                    clean(o.reason.as_deref().unwrap_or("no reason recorded")),
                )
            })
            .collect();
        let more = failed.len().saturating_sub(shown.len());

        let mut text = String::new();
        let mut html = String::from("<!DOCTYPE html><html><body style=\"font-family: sans-serif\">");
        let _ = write!(html, "<h2>{}</h2><table>", escape_html(&subject));
        for (label, value) in &facts {
            let _ = writeln!(text, "{label}: {value}");
            let _ =
                write!(html, "<tr><th align=\"left\">{}</th><td>{}</td></tr>", escape_html(label), escape_html(value));
        }
        html.push_str("</table>");
        if !failed.is_empty() {
            let _ = writeln!(text, "\nFailed ({}):", failed.len());
            let _ = write!(html, "<h3>Failed ({})</h3><ul>", failed.len());
            for (what, why) in &shown {
                let _ = writeln!(text, "- {what}: {why}");
                let _ = write!(html, "<li>{}: {}</li>", escape_html(what), escape_html(why));
            }
            if more > 0 {
                let _ = writeln!(text, "- and {more} more (see the job in OrgVault)");
                let _ = write!(html, "<li>and {more} more (see the job in OrgVault)</li>");
            }
            html.push_str("</ul>");
        }
        let _ = write!(text, "\n-- \nOrgVault");
        html.push_str("<p style=\"color: #666\">OrgVault</p></body></html>");
        Content { subject, text, html }
    }
}

fn stored_word(state: JobState) -> String {
    serde_json::to_value(state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A warning about an identity whose credentials need a person: a token that expires or was
/// revoked, a lost admin role, a changed password.
#[derive(Debug, Clone)]
pub struct TokenWarning {
    pub identity: String,
    pub portal_url: String,
    /// What was found, e.g. "the refresh token expires in 2 days".
    pub problem: String,
    /// When the credentials stop working, if known.
    pub expires_ms: Option<i64>,
    /// What the person should do, e.g. "sign in again in OrgVault (Identities, Sign in)".
    pub action: String,
}

impl TokenWarning {
    pub fn render(&self, redactor: &Redactor) -> Content {
        let identity = redactor.clean(&self.identity);
        let subject = format!("OrgVault: identity \"{identity}\" needs attention");
        let mut facts: Vec<(&str, String)> = vec![
            ("Identity", identity),
            ("Portal", redactor.clean(&self.portal_url)),
            ("Problem", redactor.clean(&self.problem)),
        ];
        if let Some(t) = self.expires_ms {
            facts.push(("Stops working", format_time(t)));
        }
        facts.push(("What to do", redactor.clean(&self.action)));
        simple(subject, &facts)
    }
}

/// The message of "Send test e-mail".
pub fn test_message(settings: &super::SmtpSettings) -> Content {
    simple(
        "OrgVault test e-mail".into(),
        &[
            ("Result", "OrgVault can send e-mail with these settings.".into()),
            ("SMTP server", format!("{}:{} ({})", settings.host, settings.port, settings.security.as_str())),
        ],
    )
}

fn simple(subject: String, facts: &[(&str, String)]) -> Content {
    let mut text = String::new();
    let mut html = format!(
        "<!DOCTYPE html><html><body style=\"font-family: sans-serif\"><h2>{}</h2><table>",
        escape_html(&subject)
    );
    for (label, value) in facts {
        let _ = writeln!(text, "{label}: {value}");
        let _ = write!(html, "<tr><th align=\"left\">{}</th><td>{}</td></tr>", escape_html(label), escape_html(value));
    }
    let _ = write!(text, "\n-- \nOrgVault");
    html.push_str("</table><p style=\"color: #666\">OrgVault</p></body></html>");
    Content { subject, text, html }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escaping_covers_markup_and_quotes() {
        assert_eq!(
            escape_html(r#"<b a="1">&'"#),
            "&lt;b a=&quot;1&quot;&gt;&amp;&#39;",
            "every markup character is escaped"
        );
    }

    #[test]
    fn the_redactor_blanks_known_values_and_secret_shapes() {
        let mut r = Redactor::default();
        r.add("hunter2-long");
        r.add("abc");
        let got = r.clean(
            "pw hunter2-long; DefaultEndpointsProtocol=https;AccountKey=c2VjcmV0;x https://h/?token=T0KEN&f=json abc",
        );
        assert!(!got.contains("hunter2-long"), "a known secret must be blanked: {got}");
        assert!(
            !got.contains("c2VjcmV0") && !got.contains("T0KEN"),
            "key- and token-shaped values must be blanked: {got}"
        );
        assert!(got.contains("abc") && got.contains("f=json"), "short values and ordinary text stay: {got}");
    }

    #[test]
    fn times_are_local_with_their_offset() {
        let winter = 1_796_463_480_000; // 2026-12-05 09:38:00 UTC
        assert_eq!(format_time_in(winter, &chrono_tz::Europe::Berlin), "2026-12-05 10:38:00 +01:00", "CET in winter");
        let summer = winter - 160 * 86_400_000;
        assert!(format_time_in(summer, &chrono_tz::Europe::Berlin).ends_with("+02:00"), "CEST in summer");
        let local = format_time(winter);
        let offset = chrono::DateTime::from_timestamp_millis(winter).expect("t").with_timezone(&chrono::Local);
        assert!(
            local.starts_with(&offset.format("%Y-%m-%d %H:%M:%S %:z").to_string()),
            "the machine's local time and offset, not UTC: {local}"
        );
    }

    #[test]
    fn sizes_and_durations_read_like_a_person_wrote_them() {
        assert_eq!(format_duration(62_000), "1 min 2 s");
        assert_eq!(format_duration(3_723_000), "1 h 2 min 3 s");
    }
}
