//! File names for the zip export, made safe from titles and portal file names.

/// Longest name segment written, in characters; long titles are cut, ids keep names unique.
const MAX_CHARS: usize = 100;

/// Turns any text into one safe path segment: Unicode letters stay; `/`, `\`, `:`, `*`, `?`,
/// `"`, `<`, `>`, `|` and control characters become `_`; leading and trailing dots and spaces
/// are trimmed (no `.`/`..`, nothing Windows refuses); an empty result becomes `_`.
pub fn sanitize_name(text: &str) -> String {
    let replaced: String =
        text.chars()
            .map(|c| {
                if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                    '_'
                } else {
                    c
                }
            })
            .take(MAX_CHARS)
            .collect();
    let trimmed = replaced.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        "_".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// A relative path of sanitized segments (for resource paths that contain `/`).
pub(crate) fn sanitize_path(path: &str) -> String {
    let segs: Vec<String> = path.split(['/', '\\']).filter(|s| !s.is_empty()).map(sanitize_name).collect();
    if segs.is_empty() {
        "_".to_owned()
    } else {
        segs.join("/")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_neutralised() {
        assert_eq!(sanitize_name("../../etc/passwd"), "_.._etc_passwd", "slashes cannot climb out");
        assert_eq!(sanitize_name(".."), "_", "a bare '..' is not a name");
        assert_eq!(sanitize_name("a\u{0}b\nc"), "a_b_c", "control characters are replaced");
        assert_eq!(sanitize_name("Carte des forêts — 北京"), "Carte des forêts — 北京", "Unicode stays readable");
        assert_eq!(sanitize_name("C:\\Windows"), "C__Windows", "drive letters and backslashes are neutralised");
        assert_eq!(sanitize_name(&"x".repeat(500)).chars().count(), MAX_CHARS, "long names are cut");
        assert_eq!(sanitize_path("img/../../a.png"), "img/_/_/a.png", "each segment is sanitized");
    }
}
