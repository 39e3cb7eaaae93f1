//! The `q` query language of `/search`, `/community/groups`, `/portals/self/users/search` and
//! group content search, after Esri's "Search reference".
//!
//! Supported: `field:value`, `field:"a phrase"`, `field:[A TO B]` / `{A TO B}` on time fields
//! (epoch ms, also Esri's 19-digit zero-padded form, `*` for an open end), bare terms and phrases
//! (free text), `AND` / `OR` / `NOT` (upper case, also `&&`, `||`, `!`), `-term`, parentheses,
//! and a trailing `*` for a prefix match. As in Lucene, terms without an operator between them
//! are OR'ed, while a `NOT`/`-` clause narrows what precedes it. What each field means is up to the
//! searched document ([`Searchable`]); an unknown field matches nothing.

/// Longest `q` accepted: Online caps the query string near 10 KB.
pub const MAX_QUERY_LEN: usize = 10_240;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("Unbalanced parentheses in query.")]
    Unbalanced,
    #[error("Unterminated quoted phrase or range in query.")]
    Unterminated,
    #[error("Invalid range in query: {0}")]
    BadRange(String),
    #[error("Query string exceeds the maximum length of {MAX_QUERY_LEN} characters.")]
    TooLong,
    #[error("Unexpected end of query.")]
    UnexpectedEnd,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// Empty query or `*`: everything.
    All,
    /// `field:value` (field lower-cased) or a bare term (`field == None`).
    Term {
        field: Option<String>,
        value: String,
    },
    /// Inclusive/exclusive bounds on a time field; `None` is open.
    Range {
        field: String,
        lo: Option<i64>,
        hi: Option<i64>,
        lo_inclusive: bool,
        hi_inclusive: bool,
    },
    And(Box<Query>, Box<Query>),
    Or(Box<Query>, Box<Query>),
    Not(Box<Query>),
}

/// A document the query language can search: an item, a group or a user.
pub trait Searchable {
    /// Whether `field:value` holds; `value` may end in `*` (see [`text_matches`], [`exact_matches`]).
    fn field_matches(&self, field: &str, value: &str) -> bool;
    /// The epoch-ms value of a time field (`created`, `modified`), if the document has it.
    fn time_field(&self, field: &str) -> Option<i64>;
    /// Free-text match of a bare term.
    fn text_matches(&self, value: &str) -> bool;
}

/// Case-insensitive word/phrase containment, with a trailing `*` as a prefix wildcard.
pub fn text_matches(haystack: &str, needle: &str) -> bool {
    let needle = needle.to_lowercase();
    if needle == "*" || needle.is_empty() {
        return true;
    }
    let hay = haystack.to_lowercase();
    match needle.strip_suffix('*') {
        Some(prefix) => {
            hay.split(|c: char| !c.is_alphanumeric()).any(|w| w.starts_with(prefix)) || hay.starts_with(prefix)
        }
        None => hay.contains(&needle),
    }
}

/// Case-insensitive equality, with a trailing `*` as a prefix wildcard.
pub fn exact_matches(value: &str, needle: &str) -> bool {
    match needle.strip_suffix('*') {
        Some(prefix) => value.to_lowercase().starts_with(&prefix.to_lowercase()),
        None => value.eq_ignore_ascii_case(needle) || value.to_lowercase() == needle.to_lowercase(),
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Clause(Query),
}

fn parse_bound(s: &str) -> Result<Option<i64>, QueryError> {
    let s = s.trim();
    if s == "*" {
        return Ok(None);
    }
    s.parse::<i64>().map(Some).map_err(|_| QueryError::BadRange(s.to_string()))
}

fn parse_range(field: &str, body: &str, lo_inclusive: bool, hi_inclusive: bool) -> Result<Query, QueryError> {
    let (lo, hi) = body.split_once(" TO ").ok_or_else(|| QueryError::BadRange(body.to_string()))?;
    Ok(Query::Range {
        field: field.to_lowercase(),
        lo: parse_bound(lo)?,
        hi: parse_bound(hi)?,
        lo_inclusive,
        hi_inclusive,
    })
}

fn lex(q: &str) -> Result<Vec<Token>, QueryError> {
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    let mut out = vec![];
    let read_until = |i: &mut usize, end: char| -> Result<String, QueryError> {
        let start = *i;
        while *i < chars.len() && chars[*i] != end {
            *i += 1;
        }
        if *i >= chars.len() {
            return Err(QueryError::Unterminated);
        }
        let s: String = chars[start..*i].iter().collect();
        *i += 1;
        Ok(s)
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() || c == '+' {
            i += 1;
            continue;
        }
        match c {
            '(' => {
                out.push(Token::Open);
                i += 1;
                continue;
            }
            ')' => {
                out.push(Token::Close);
                i += 1;
                continue;
            }
            '-' | '!' => {
                out.push(Token::Not);
                i += 1;
                continue;
            }
            '"' => {
                i += 1;
                let phrase = read_until(&mut i, '"')?;
                out.push(Token::Clause(Query::Term { field: None, value: phrase }));
                continue;
            }
            _ => {}
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '(' | ')' | ':') {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        if i < chars.len() && chars[i] == ':' && !word.is_empty() {
            i += 1;
            let field = word.to_lowercase();
            let clause = match chars.get(i) {
                Some('"') => {
                    i += 1;
                    Query::Term { field: Some(field), value: read_until(&mut i, '"')? }
                }
                Some('[') => {
                    i += 1;
                    let body = read_until(&mut i, ']')?;
                    parse_range(&field, &body, true, true)?
                }
                Some('{') => {
                    i += 1;
                    let body = read_until(&mut i, '}')?;
                    parse_range(&field, &body, false, false)?
                }
                _ => {
                    let vstart = i;
                    while i < chars.len() && !chars[i].is_whitespace() && chars[i] != ')' {
                        i += 1;
                    }
                    Query::Term { field: Some(field), value: chars[vstart..i].iter().collect() }
                }
            };
            out.push(Token::Clause(clause));
            continue;
        }
        out.push(match word.as_str() {
            "AND" | "&&" => Token::And,
            "OR" | "||" => Token::Or,
            "NOT" => Token::Not,
            "*" => Token::Clause(Query::All),
            _ => Token::Clause(Query::Term { field: None, value: word }),
        });
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    /// A sequence of clauses: explicit AND/OR, implicit OR, and NOT clauses AND'ed on.
    fn sequence(&mut self) -> Result<Query, QueryError> {
        let mut acc = self.unary()?;
        loop {
            match self.peek() {
                None | Some(Token::Close) => return Ok(acc),
                Some(Token::And) => {
                    self.pos += 1;
                    let rhs = self.unary()?;
                    acc = Query::And(Box::new(acc), Box::new(rhs));
                }
                Some(Token::Or) => {
                    self.pos += 1;
                    let rhs = self.unary()?;
                    acc = Query::Or(Box::new(acc), Box::new(rhs));
                }
                Some(Token::Not) => {
                    let rhs = self.unary()?;
                    acc = Query::And(Box::new(acc), Box::new(rhs));
                }
                Some(_) => {
                    let rhs = self.unary()?;
                    acc = Query::Or(Box::new(acc), Box::new(rhs));
                }
            }
        }
    }

    fn unary(&mut self) -> Result<Query, QueryError> {
        match self.tokens.get(self.pos).cloned() {
            None => Err(QueryError::UnexpectedEnd),
            Some(Token::Not) => {
                self.pos += 1;
                Ok(Query::Not(Box::new(self.unary()?)))
            }
            Some(Token::Open) => {
                self.pos += 1;
                let inner = self.sequence()?;
                if self.peek() != Some(&Token::Close) {
                    return Err(QueryError::Unbalanced);
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::Clause(q)) => {
                self.pos += 1;
                Ok(q)
            }
            Some(Token::Close) => Err(QueryError::Unbalanced),
            Some(Token::And | Token::Or) => Err(QueryError::UnexpectedEnd),
        }
    }
}

/// Parses `q`. AND binds no tighter than OR here (left to right), which is how the flat
/// `a AND b OR c` of most clients reads; use parentheses for anything else.
pub fn parse(q: &str) -> Result<Query, QueryError> {
    if q.len() > MAX_QUERY_LEN {
        return Err(QueryError::TooLong);
    }
    let tokens = lex(q)?;
    if tokens.is_empty() {
        return Ok(Query::All);
    }
    let mut p = Parser { tokens, pos: 0 };
    let query = p.sequence()?;
    if p.pos != p.tokens.len() {
        return Err(QueryError::Unbalanced);
    }
    Ok(query)
}

impl Query {
    pub fn matches<S: Searchable + ?Sized>(&self, doc: &S) -> bool {
        match self {
            Query::All => true,
            Query::Term { field: None, value } => doc.text_matches(value),
            Query::Term { field: Some(f), value } => doc.field_matches(f, value),
            Query::Range { field, lo, hi, lo_inclusive, hi_inclusive } => match doc.time_field(field) {
                None => false,
                Some(t) => {
                    let above = lo.is_none_or(|lo| if *lo_inclusive { t >= lo } else { t > lo });
                    let below = hi.is_none_or(|hi| if *hi_inclusive { t <= hi } else { t < hi });
                    above && below
                }
            },
            Query::And(a, b) => a.matches(doc) && b.matches(doc),
            Query::Or(a, b) => a.matches(doc) || b.matches(doc),
            Query::Not(a) => !a.matches(doc),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Doc {
        owner: &'static str,
        kind: &'static str,
        title: &'static str,
        created: i64,
    }

    impl Searchable for Doc {
        fn field_matches(&self, field: &str, value: &str) -> bool {
            match field {
                "owner" => exact_matches(self.owner, value),
                "type" => exact_matches(self.kind, value),
                "title" => text_matches(self.title, value),
                _ => false,
            }
        }
        fn time_field(&self, field: &str) -> Option<i64> {
            (field == "created").then_some(self.created)
        }
        fn text_matches(&self, value: &str) -> bool {
            text_matches(self.title, value)
        }
    }

    const MAP: Doc = Doc { owner: "ann", kind: "Web Map", title: "City Parks", created: 1_249_084_800_000 };
    const PDF: Doc = Doc { owner: "bob", kind: "PDF", title: "Annual report", created: 1_600_000_000_000 };

    fn hits(q: &str) -> Vec<&'static str> {
        let query = parse(q).unwrap_or_else(|e| panic!("{q} must parse: {e}"));
        [&MAP, &PDF].into_iter().filter(|d| query.matches(*d)).map(|d| d.owner).collect()
    }

    #[test]
    fn fields_quotes_and_booleans() {
        assert_eq!(hits("type:\"Web Map\""), ["ann"], "quoted type matches exactly");
        assert_eq!(hits("type:PDF OR owner:ann"), ["ann", "bob"], "OR unites");
        assert_eq!(hits("type:PDF AND owner:ann"), Vec::<&str>::new(), "AND intersects");
        assert_eq!(hits("(owner:ann OR owner:bob) NOT type:PDF"), ["ann"], "NOT narrows the preceding clause");
        assert_eq!(hits("-owner:ann"), ["bob"], "a leading minus negates");
        assert_eq!(hits("parks"), ["ann"], "free text matches titles");
        assert_eq!(hits("owner:a*"), ["ann"], "trailing star is a prefix");
        assert_eq!(hits(""), ["ann", "bob"], "empty query is everything");
        assert_eq!(hits("owner:ann annual"), ["ann", "bob"], "terms without operator are OR'ed, as in Lucene");
    }

    #[test]
    fn ranges_in_both_documented_forms() {
        assert_eq!(
            hits("created:[0000001249084800000 TO 0001249548000000]"),
            ["ann"],
            "19-digit padded bounds, inclusive low end"
        );
        assert_eq!(hits("created:[1249084800000 TO 1249084800000]"), ["ann"], "inclusive at both ends");
        assert_eq!(hits("created:{1249084800000 TO 1700000000000}"), ["bob"], "braces exclude the bounds");
        assert_eq!(hits("created:[1500000000000 TO *]"), ["bob"], "a star is an open end");
    }

    #[test]
    fn malformed_queries_are_refused() {
        assert_eq!(parse("(owner:ann"), Err(QueryError::Unbalanced), "missing close paren");
        assert_eq!(parse("title:\"open"), Err(QueryError::Unterminated), "missing close quote");
        assert!(matches!(parse("created:[x TO 5]"), Err(QueryError::BadRange(_))), "non-numeric bound");
        assert_eq!(parse(&"a ".repeat(6000)), Err(QueryError::TooLong), "query over 10 KB");
    }
}
