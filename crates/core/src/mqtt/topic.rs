//! MQTT 3.1.1 topic names and topic filters: validation and matching.
//!
//! Everything here works on borrowed `&str` level by level with `split('/')`,
//! so matching a message against the subscription table never allocates.

use core::fmt;

/// The longest topic the protocol can carry: its length is a 16-bit prefix.
pub const MAX_TOPIC_LEN: usize = 65_535;

/// What is wrong with a topic name or topic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError {
    /// Topics must be at least one character long.
    Empty,
    /// Longer than 65,535 bytes of UTF-8.
    TooLong,
    /// Contains the NUL character U+0000, which MQTT forbids.
    ContainsNul,
    /// A topic name (what is published to) contains `+` or `#`.
    WildcardInName,
    /// `#` that is not a whole level on its own at the end of a filter.
    MisplacedMultiLevelWildcard,
    /// `+` that does not occupy a whole level of a filter.
    MisplacedSingleLevelWildcard,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TopicError::Empty => "the topic is empty; it needs at least one character",
            TopicError::TooLong => "the topic is longer than 65535 bytes",
            TopicError::ContainsNul => "the topic contains a NUL character",
            TopicError::WildcardInName => {
                "a topic name to publish to must not contain the wildcards '+' or '#'"
            }
            TopicError::MisplacedMultiLevelWildcard => {
                "'#' must be the last level of a topic filter and stand alone in it (like \"a/#\")"
            }
            TopicError::MisplacedSingleLevelWildcard => {
                "'+' must fill a whole level of a topic filter (like \"a/+/b\")"
            }
        })
    }
}

impl core::error::Error for TopicError {}

fn check_common(topic: &str) -> Result<(), TopicError> {
    if topic.is_empty() {
        return Err(TopicError::Empty);
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    if topic.as_bytes().contains(&0) {
        return Err(TopicError::ContainsNul);
    }
    Ok(())
}

/// Checks a topic name: the topic of a PUBLISH, which must name one topic.
pub fn validate_topic_name(topic: &str) -> Result<(), TopicError> {
    check_common(topic)?;
    if topic.bytes().any(|b| b == b'+' || b == b'#') {
        return Err(TopicError::WildcardInName);
    }
    Ok(())
}

/// Checks a topic filter: what SUBSCRIBE and UNSUBSCRIBE carry.
pub fn validate_topic_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter)?;
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(TopicError::MisplacedMultiLevelWildcard);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::MisplacedSingleLevelWildcard);
        }
    }
    Ok(())
}

/// Whether `topic` (a valid topic name) is matched by `filter` (a valid
/// topic filter). Topics beginning with `$` are not matched by filters that
/// begin with a wildcard, as the specification requires (4.7.2).
///
/// One pass over the bytes of both, level by level; never allocates and
/// never panics, whatever the input.
pub fn matches(filter: &str, topic: &str) -> bool {
    let (f, t) = (filter.as_bytes(), topic.as_bytes());
    if t.first() == Some(&b'$') && matches!(f.first(), Some(b'+' | b'#')) {
        return false;
    }
    // `i` and `j` always stand at the start of a level of filter and topic.
    let (mut i, mut j) = (0, 0);
    loop {
        let level_end = f[i..]
            .iter()
            .position(|&c| c == b'/')
            .map_or(f.len(), |p| i + p);
        match &f[i..level_end] {
            b"#" if level_end == f.len() => return true,
            b"+" => {
                j = t[j..]
                    .iter()
                    .position(|&c| c == b'/')
                    .map_or(t.len(), |p| j + p);
            }
            literal => {
                let Some(rest) = t.get(j..j + literal.len()) else {
                    return false;
                };
                if rest != literal {
                    return false;
                }
                j += literal.len();
                if j < t.len() && t[j] != b'/' {
                    return false;
                }
            }
        }
        i = level_end;
        // Both now stand at a '/' or at their end.
        match (i < f.len(), j < t.len()) {
            (false, false) => return true,
            (true, true) => {
                i += 1;
                j += 1;
            }
            // "a/#" also matches its parent "a".
            (true, false) => return &f[i..] == b"/#",
            (false, true) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names() {
        assert_eq!(validate_topic_name("a/b/c"), Ok(()));
        assert_eq!(validate_topic_name("/"), Ok(()));
        assert_eq!(validate_topic_name("$SYS/x"), Ok(()));
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
        assert_eq!(
            validate_topic_name("a/+/c"),
            Err(TopicError::WildcardInName)
        );
        assert_eq!(validate_topic_name("a/#"), Err(TopicError::WildcardInName));
        assert_eq!(validate_topic_name("a\0b"), Err(TopicError::ContainsNul));
        let long = "x".repeat(MAX_TOPIC_LEN + 1);
        assert_eq!(validate_topic_name(&long), Err(TopicError::TooLong));
        assert_eq!(validate_topic_name(&long[1..]), Ok(()));
    }

    #[test]
    fn topic_filters() {
        for ok in [
            "#", "+", "a/#", "a/+/c", "+/+", "/+", "a//b", "+/#", "$SYS/#",
        ] {
            assert_eq!(validate_topic_filter(ok), Ok(()), "{ok}");
        }
        for (bad, err) in [
            ("", TopicError::Empty),
            ("a/#/c", TopicError::MisplacedMultiLevelWildcard),
            ("a#", TopicError::MisplacedMultiLevelWildcard),
            ("a/b#", TopicError::MisplacedMultiLevelWildcard),
            ("##", TopicError::MisplacedMultiLevelWildcard),
            ("a+", TopicError::MisplacedSingleLevelWildcard),
            ("a/+b/c", TopicError::MisplacedSingleLevelWildcard),
            ("++", TopicError::MisplacedSingleLevelWildcard),
            ("a\0", TopicError::ContainsNul),
        ] {
            assert_eq!(validate_topic_filter(bad), Err(err), "{bad:?}");
        }
    }

    #[test]
    fn matching() {
        let cases: &[(&str, &str, bool)] = &[
            ("a/b/c", "a/b/c", true),
            ("a/b/c", "a/b", false),
            ("a/b", "a/b/c", false),
            ("a/+/c", "a/b/c", true),
            ("a/+/c", "a//c", true),
            ("a/+/c", "a/b/d", false),
            ("a/+", "a/b/c", false),
            ("a/#", "a", true),
            ("a/#", "a/b/c", true),
            ("a/#", "ab", false),
            ("#", "a/b", true),
            ("#", "/", true),
            ("+", "a", true),
            ("+", "/a", false),
            ("+/+", "/a", true),
            ("/+", "/a", true),
            ("+/#", "a", true),
            ("#", "$SYS/x", false),
            ("+/x", "$SYS/x", false),
            ("$SYS/#", "$SYS/x", true),
            (
                "/sys/pk/dn/#",
                "/sys/pk/dn/thing/event/property/post_reply",
                true,
            ),
            (
                "/ext/auth/identity/response",
                "/ext/auth/identity/response",
                true,
            ),
        ];
        for &(filter, topic, expected) in cases {
            assert_eq!(matches(filter, topic), expected, "{filter} vs {topic}");
        }
    }

    /// The specification's rules written the plain way, level by level.
    fn reference_matches(filter: &str, topic: &str) -> bool {
        if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
            return false;
        }
        let mut filter_levels = filter.split('/');
        let mut topic_levels = topic.split('/');
        loop {
            match (filter_levels.next(), topic_levels.next()) {
                (Some("#"), _) => return true,
                (Some("+"), Some(_)) => {}
                (Some(f), Some(t)) if f == t => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    /// Every string of up to four characters over a small alphabet.
    fn all_short_strings() -> Vec<String> {
        let alphabet = ['a', 'b', '/', '+', '#', '$'];
        let mut all = vec![String::new()];
        let mut frontier = vec![String::new()];
        for _ in 0..4 {
            frontier = frontier
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            all.extend(frontier.iter().cloned());
        }
        all
    }

    #[test]
    fn matching_agrees_with_the_reference_exhaustively() {
        let strings = all_short_strings();
        let filters: Vec<&String> = strings
            .iter()
            .filter(|s| validate_topic_filter(s).is_ok())
            .collect();
        let names: Vec<&String> = strings
            .iter()
            .filter(|s| validate_topic_name(s).is_ok())
            .collect();
        for filter in &filters {
            for name in &names {
                assert_eq!(
                    matches(filter, name),
                    reference_matches(filter, name),
                    "{filter:?} vs {name:?}"
                );
            }
        }
        // Invalid input is answered, never a panic.
        for a in &strings {
            for b in strings.iter().take(200) {
                let _ = matches(a, b);
            }
        }
    }
}
