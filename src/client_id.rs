//! Which implementation an EL is, from its `engine_getClientVersionV1` answer (asked by the
//! probe). Used to label the disagreement journal and, with `--vote-by client`, to group votes
//! by implementation.
//!
//! The answer comes from the EL and is checked like any other: only the first entry is read,
//! every field is cut to [`MAX_FIELD`] characters and anything but printable ASCII is dropped, so
//! an EL cannot put control characters into logs or a megabyte into every journal record.

use serde::Deserialize;
use serde_json::value::RawValue;

/// Longest field kept, in characters.
pub const MAX_FIELD: usize = 64;

/// One EL's identity as it reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClientId {
    /// The two-letter client code of the spec (`GE`, `NM`, `BU`, `EG`, `RH`, …), upper-cased.
    pub code: String,
    pub name: String,
    pub version: String,
    pub commit: String,
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} ({})", self.name, self.version, self.code)
    }
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    code: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    version: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    commit: Option<std::borrow::Cow<'a, str>>,
}

fn clean(s: Option<std::borrow::Cow<'_, str>>) -> String {
    s.map(|s| {
        s.chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .take(MAX_FIELD)
            .collect()
    })
    .unwrap_or_default()
}

/// The identity in a `getClientVersionV1` result (an array of ClientVersionV1), or `None` when
/// the result is not one or names no client code.
pub fn parse(result: &RawValue) -> Option<ClientId> {
    let entries: Vec<Wire<'_>> = serde_json::from_str(result.get()).ok()?;
    let first = entries.into_iter().next()?;
    let code = clean(first.code).to_ascii_uppercase();
    if code.is_empty() {
        return None;
    }
    Some(ClientId {
        code,
        name: clean(first.name),
        version: clean(first.version),
        commit: clean(first.commit),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_owned()).expect("json")
    }

    #[test]
    fn reads_the_first_entry() {
        let id = parse(&raw(
            r#"[{"code":"ge","name":"Geth","version":"1.15.0","commit":"0xabcdef01"},{"code":"NM","name":"x","version":"y","commit":"z"}]"#,
        ))
        .expect("an identity");
        assert_eq!(id.code, "GE");
        assert_eq!(id.name, "Geth");
        assert_eq!(id.to_string(), "Geth 1.15.0 (GE)");
    }

    #[test]
    fn refuses_what_is_not_an_identity() {
        for bad in [
            r#"[]"#,
            r#"{}"#,
            r#"[{"name":"no code"}]"#,
            r#"[{"code":""}]"#,
            r#"null"#,
        ] {
            assert_eq!(parse(&raw(bad)), None, "{bad}");
        }
    }

    #[test]
    fn cuts_and_cleans_what_an_el_sends() {
        let long = "x".repeat(10_000);
        let id = parse(&raw(&format!(
            r#"[{{"code":"G\u001bE","name":"{long}","version":"1\n2","commit":"c"}}]"#
        )))
        .expect("an identity");
        assert_eq!(id.code, "GE");
        assert_eq!(id.name.len(), MAX_FIELD);
        assert_eq!(id.version, "12");
    }
}
