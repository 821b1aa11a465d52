//! The platform rules as data: `sim/rules.toml` is compiled in as the
//! defaults, a file given with `--rules` replaces single rows, and the
//! endpoint reads every limit and choice from the resulting [`Rules`].

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const DEFAULT_RULES: &str = include_str!("../rules.toml");
const STATUSES: [&str; 3] = ["documented", "unknown", "measured"];

/// One row of the rule file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Row {
    pub value: toml::Value,
    pub status: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The rows by name, in file order of names (sorted).
pub type Table = BTreeMap<String, Row>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Will {
    Ignore,
    Refuse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    Drop,
    Disconnect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retain {
    Ignore,
    Drop,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pub,
    Sub,
    All,
}

impl Access {
    pub fn parse(text: &str) -> Option<Access> {
        match text.to_ascii_uppercase().as_str() {
            "PUB" => Some(Access::Pub),
            "SUB" => Some(Access::Sub),
            "ALL" => Some(Access::All),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Pub => "PUB",
            Access::Sub => "SUB",
            Access::All => "ALL",
        }
    }
    pub fn can_publish(self) -> bool {
        matches!(self, Access::Pub | Access::All)
    }
    pub fn can_subscribe(self) -> bool {
        matches!(self, Access::Sub | Access::All)
    }
}

/// The typed rules the sim enforces.
#[derive(Debug, Clone)]
pub struct Rules {
    pub table: Table,
    pub tls_versions: Vec<String>,
    pub tls_sni_required: bool,
    pub tls12_ciphers: String,
    pub tls_curves: Vec<String>,
    pub protocol_levels: Vec<u8>,
    pub client_id_max: usize,
    pub bad_client_id_code: u8,
    pub securemode: String,
    pub sign_methods: Vec<String>,
    pub keepalive_min: u16,
    pub keepalive_min_code: u8,
    pub keepalive_max: u16,
    pub first_connect_usernames: Vec<String>,
    pub not_authorized_code: u8,
    pub will: Will,
    pub will_refuse_code: u8,
    pub session_per_device: bool,
    pub persistent_session: bool,
    /// (short name below `/${pk}/${dn}/`, access)
    pub default_topic_classes: Vec<(String, Access)>,
    pub unauthorized_publish: Violation,
    pub qos2: Violation,
    pub retain: Retain,
    pub max_payload: usize,
    pub cert_subject_cn: String,
    pub cert_serial_bytes: usize,
    /// Device certificates' notAfter, unix seconds.
    pub cert_not_after: i64,
    pub region: String,
    pub page_size_max: usize,
    pub batch_count_max: usize,
}

pub fn parse_table(text: &str, origin: &str) -> Result<Table> {
    let table: Table =
        toml::from_str(text).with_context(|| format!("parsing the rules in {origin}"))?;
    for (name, row) in &table {
        if !STATUSES.contains(&row.status.as_str()) {
            bail!(
                "{origin}: rule {name} has status {}; use one of {}",
                crate::quote::q(&row.status),
                STATUSES.join(", ")
            );
        }
    }
    Ok(table)
}

fn get<T: serde::de::DeserializeOwned>(table: &Table, name: &str) -> Result<T> {
    let row = table
        .get(name)
        .with_context(|| format!("the rules lack the row {name}"))?;
    row.value
        .clone()
        .try_into()
        .map_err(|e| anyhow::anyhow!("rule {name} = {}: wrong type ({e})", row.value))
}

fn choice<T: Copy>(table: &Table, name: &str, options: &[(&str, T)]) -> Result<T> {
    let text: String = get(table, name)?;
    options
        .iter()
        .find(|(key, _)| *key == text)
        .map(|(_, value)| *value)
        .with_context(|| {
            let names: Vec<&str> = options.iter().map(|(k, _)| *k).collect();
            format!(
                "rule {name} = {text}; use one of {}",
                names.join(", "),
                text = crate::quote::q(&text)
            )
        })
}

impl Rules {
    /// The compiled-in defaults.
    pub fn defaults() -> Rules {
        Rules::from_table(
            parse_table(DEFAULT_RULES, "the built-in rules").expect("built-in rules parse"),
        )
        .expect("built-in rules are complete")
    }

    /// The defaults with the rows of `file` (if any) replacing theirs.
    pub fn load(file: Option<&Path>) -> Result<Rules> {
        let mut table = parse_table(DEFAULT_RULES, "the built-in rules")?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the rules file {}", path.display()))?;
            let overrides = parse_table(&text, &path.display().to_string())?;
            for (name, row) in overrides {
                if !table.contains_key(&name) {
                    bail!(
                        "{}: unknown rule {name}; `iotkit-sim rules` lists the rule names",
                        path.display()
                    );
                }
                table.insert(name, row);
            }
        }
        Rules::from_table(table)
    }

    pub fn from_table(table: Table) -> Result<Rules> {
        let classes: Vec<String> = get(&table, "default_topic_classes")?;
        let default_topic_classes = classes
            .iter()
            .map(|entry| {
                let (topic, access) = entry.rsplit_once(':').with_context(|| {
                    format!(
                        "default_topic_classes entry {entry} is not topic:PUB|SUB|ALL",
                        entry = crate::quote::q(&entry)
                    )
                })?;
                let access = Access::parse(access).with_context(|| {
                    format!(
                        "default_topic_classes entry {entry}: access must be PUB, SUB or ALL",
                        entry = crate::quote::q(&entry)
                    )
                })?;
                validate_class(topic)?;
                Ok((topic.to_string(), access))
            })
            .collect::<Result<Vec<_>>>()?;
        let rules = Rules {
            tls_versions: get(&table, "tls_versions")?,
            tls_sni_required: get(&table, "tls_sni_required")?,
            tls12_ciphers: get(&table, "tls12_ciphers")?,
            tls_curves: get(&table, "tls_curves")?,
            protocol_levels: get(&table, "protocol_levels")?,
            client_id_max: get(&table, "client_id_max")?,
            bad_client_id_code: get(&table, "bad_client_id_code")?,
            securemode: get(&table, "securemode")?,
            sign_methods: get(&table, "sign_methods")?,
            keepalive_min: get(&table, "keepalive_min")?,
            keepalive_min_code: get(&table, "keepalive_min_code")?,
            keepalive_max: get(&table, "keepalive_max")?,
            first_connect_usernames: get(&table, "first_connect_usernames")?,
            not_authorized_code: get(&table, "not_authorized_code")?,
            will: choice(
                &table,
                "will",
                &[("ignore", Will::Ignore), ("refuse", Will::Refuse)],
            )?,
            will_refuse_code: get(&table, "will_refuse_code")?,
            session_per_device: get(&table, "session_per_device")?,
            persistent_session: get(&table, "persistent_session")?,
            default_topic_classes,
            unauthorized_publish: choice(
                &table,
                "unauthorized_publish",
                &[
                    ("drop", Violation::Drop),
                    ("disconnect", Violation::Disconnect),
                ],
            )?,
            qos2: choice(
                &table,
                "qos2",
                &[
                    ("drop", Violation::Drop),
                    ("disconnect", Violation::Disconnect),
                ],
            )?,
            retain: choice(
                &table,
                "retain",
                &[("ignore", Retain::Ignore), ("drop", Retain::Drop)],
            )?,
            max_payload: get(&table, "max_payload")?,
            cert_subject_cn: get(&table, "cert_subject_cn")?,
            cert_serial_bytes: get(&table, "cert_serial_bytes")?,
            cert_not_after: {
                let text: String = get(&table, "cert_not_after")?;
                parse_date(&text).with_context(|| {
                    format!(
                        "rule cert_not_after = {text} is not YYYY-MM-DD",
                        text = crate::quote::q(&text)
                    )
                })?
            },
            region: get(&table, "region")?,
            page_size_max: get(&table, "page_size_max")?,
            batch_count_max: get(&table, "batch_count_max")?,
            table,
        };
        for version in &rules.tls_versions {
            if version != "1.2" && version != "1.3" {
                bail!(
                    "rule tls_versions: {version} is not supported; use \"1.2\" and/or \"1.3\"",
                    version = crate::quote::q(&version)
                );
            }
        }
        if rules.tls_versions.is_empty() {
            bail!("rule tls_versions is empty; give \"1.2\" and/or \"1.3\"");
        }
        if !(1..=20).contains(&rules.cert_serial_bytes) {
            bail!("rule cert_serial_bytes must be 1 to 20 (RFC 5280)");
        }
        Ok(rules)
    }

    /// The table as a rule file (TOML), e.g. for `iotkit-sim rules`.
    pub fn to_toml(table: &Table) -> String {
        let mut out = String::new();
        for (name, row) in table {
            out.push_str(&format!("[{name}]\n"));
            out.push_str(&format!("value = {}\n", row.value));
            out.push_str(&format!(
                "status = {}\n",
                toml::Value::from(row.status.as_str())
            ));
            out.push_str(&format!(
                "source = {}\n",
                toml::Value::from(row.source.as_str())
            ));
            if let Some(note) = &row.note {
                out.push_str(&format!("note = {}\n", toml::Value::from(note.as_str())));
            }
            out.push('\n');
        }
        out
    }

    /// The table as Markdown (sim/README.md shows it).
    pub fn to_markdown(table: &Table) -> String {
        let mut out = String::from(
            "| rule | value | status | source | note |\n| --- | --- | --- | --- | --- |\n",
        );
        for (name, row) in table {
            let cell = |text: &str| text.replace('|', "\\|");
            out.push_str(&format!(
                "| `{name}` | `{}` | {} | {} | {} |\n",
                cell(&row.value.to_string()),
                row.status,
                cell(&row.source),
                cell(row.note.as_deref().unwrap_or(""))
            ));
        }
        out
    }
}

/// `YYYY-MM-DD` as unix seconds (UTC midnight).
pub fn parse_date(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (proleptic Gregorian), the inverse of clock::civil_from_days.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some((era * 146_097 + doe - 719_468) * 86_400)
}

/// A topic class short name: the part after `/${pk}/${dn}/`, e.g. `user/get`.
/// Literal segments of letters, digits and `_-.`, plus whole-segment `+` and a final `#`.
pub fn validate_class(short: &str) -> Result<()> {
    if short.is_empty() || short.len() > 64 {
        bail!(
            "topic class {short} must have 1 to 64 characters",
            short = crate::quote::q(&short)
        );
    }
    let segments: Vec<&str> = short.split('/').collect();
    for (index, segment) in segments.iter().enumerate() {
        let wildcard = *segment == "+" || (*segment == "#" && index == segments.len() - 1);
        let literal = !segment.is_empty()
            && segment
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !wildcard && !literal {
            bail!(
                "topic class {short}: segment {segment} must be letters, digits, _ - . or a whole-segment + / final #", short = crate::quote::q(&short), segment = crate::quote::q(&segment)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_rules_parse_and_round_trip() {
        let rules = Rules::defaults();
        assert_eq!(rules.keepalive_min, 30);
        assert_eq!(rules.protocol_levels, vec![3, 4]);
        let again = parse_table(&Rules::to_toml(&rules.table), "round trip").unwrap();
        assert_eq!(again, rules.table);
    }

    #[test]
    fn overrides_replace_single_rows_and_unknown_rows_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("measured.toml");
        std::fs::write(
            &file,
            "[keepalive_min]\nvalue = 60\nstatus = \"measured\"\nsource = \"probe\"\n",
        )
        .unwrap();
        let rules = Rules::load(Some(&file)).unwrap();
        assert_eq!(rules.keepalive_min, 60);
        assert_eq!(rules.keepalive_max, 1200);
        std::fs::write(
            &file,
            "[nope]\nvalue = 1\nstatus = \"measured\"\nsource = \"x\"\n",
        )
        .unwrap();
        assert!(
            format!("{:#}", Rules::load(Some(&file)).unwrap_err()).contains("unknown rule nope")
        );
        std::fs::write(
            &file,
            "[will]\nvalue = \"maybe\"\nstatus = \"measured\"\nsource = \"x\"\n",
        )
        .unwrap();
        assert!(format!("{:#}", Rules::load(Some(&file)).unwrap_err())
            .contains("use one of ignore, refuse"));
        std::fs::write(
            &file,
            "[will]\nvalue = \"refuse\"\nstatus = \"guess\"\nsource = \"x\"\n",
        )
        .unwrap();
        assert!(Rules::load(Some(&file)).is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(
            crate::clock::rfc3339(parse_date("2119-06-01").unwrap()),
            "2119-06-01T00:00:00Z"
        );
        assert_eq!(parse_date("2119-13-01"), None);
        assert_eq!(parse_date("soon"), None);
    }

    #[test]
    fn topic_class_names() {
        for ok in ["user/get", "user/+/cmd", "user/#", "thing-1/a_b.c"] {
            validate_class(ok).unwrap();
        }
        for bad in ["", "/user", "user//x", "us#er", "user/#/x", "a b"] {
            assert!(validate_class(bad).is_err(), "{bad}");
        }
    }
}
