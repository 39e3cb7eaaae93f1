//! Turning results into text: one-line errors and JSON (sizes: `orgvault_core::units`).

/// The error and its causes on one line, without repeating a cause the message already contains.
pub fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string().replace('\n', " ");
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// Prints one JSON document on stdout.
pub fn print_json(v: &serde_json::Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(v)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_joined_once() {
        let e = anyhow::anyhow!("inner cause").context("outer");
        assert_eq!(one_line(&e), "outer: inner cause");
        let e = anyhow::anyhow!("cannot reach host: refused").context("cannot reach host: refused");
        assert_eq!(one_line(&e), "cannot reach host: refused", "a cause already in the message must not repeat");
    }
}
