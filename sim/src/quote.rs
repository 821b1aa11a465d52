//! Quoting of names, topics and other user-supplied text in messages.
//!
//! Messages show such text between double quotes so a person sees where it
//! starts and ends (an empty name, a trailing space). Characters that would
//! be invisible or break the line are written as escapes (`\n`, `\t`,
//! `\u{1b}`), and a quote or backslash inside the text is escaped, so one
//! message stays on one line whatever a device sends.

use std::fmt;

/// Text shown between double quotes with unprintable characters escaped.
pub struct Quoted<'a>(&'a str);

/// Wraps `text` for a message: `format!("device {}", q(&name))`.
pub fn q<S: AsRef<str> + ?Sized>(text: &S) -> Quoted<'_> {
    Quoted(text.as_ref())
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() => write!(f, "\\u{{{:x}}}", u32::from(c))?,
                c => write!(f, "{c}")?,
            }
        }
        f.write_str("\"")
    }
}

/// Bytes as space-separated hex pairs ("20 02 00 05") for protocol messages.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{hex, q};

    #[test]
    fn bytes_are_hex_pairs() {
        assert_eq!(hex(&[0x20, 0x02, 0x00, 0x05]), "20 02 00 05");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn plain_text_is_quoted() {
        assert_eq!(q("dev-1").to_string(), "\"dev-1\"");
        assert_eq!(q("").to_string(), "\"\"");
    }

    #[test]
    fn invisible_characters_are_escaped() {
        assert_eq!(
            q("a\"b\\c\nd\te\u{1b}").to_string(),
            "\"a\\\"b\\\\c\\nd\\te\\u{1b}\""
        );
        assert_eq!(q("héllo").to_string(), "\"héllo\"");
    }
}
