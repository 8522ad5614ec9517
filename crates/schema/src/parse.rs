//! Parsing JSON with errors that name the offending field.

use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// Parses `bytes` as `T`, reporting the path of the field at fault
/// (`messages[1].content[0].type`) rather than only a line and column.
pub fn from_json_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    // Tracking the path costs on every field; only a failed parse needs
    // it, so parse plainly first and again, with the path, on failure
    // (the same bytes fail at the same place).
    if let Ok(value) = serde_json::from_slice(bytes) {
        return Ok(value);
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        classify(path, inner)
    })?;
    de.end().map_err(|e| classify(String::from("."), e))?;
    Ok(value)
}

fn classify(path: String, e: serde_json::Error) -> Error {
    use serde_json::error::Category;
    match e.classify() {
        // A number JSON can write but no type can hold (`1e999`): the
        // value's fault, so the field is named like any other bad value.
        Category::Syntax if is_out_of_range(&e) && !path.is_empty() && path != "." => {
            Error::Field {
                path,
                message: strip_position(&e.to_string()),
            }
        }
        Category::Syntax | Category::Eof | Category::Io => Error::Syntax {
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        },
        Category::Data => {
            let message = strip_position(&e.to_string());
            if let Some(field) = missing_field(&message) {
                let path = if path == "." || path.is_empty() {
                    field.to_string()
                } else {
                    format!("{path}.{field}")
                };
                Error::Missing { path }
            } else {
                let path = if path.is_empty() {
                    String::from(".")
                } else {
                    path
                };
                Error::Field { path, message }
            }
        }
    }
}

fn is_out_of_range(e: &serde_json::Error) -> bool {
    e.to_string().starts_with("number out of range")
}

/// serde_json appends " at line L column C"; the path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.strip_suffix('`')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Vec<Inner>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        n: u32,
    }

    #[test]
    fn names_the_field_with_the_wrong_type() {
        let err = from_json_slice::<Outer>(br#"{"inner":[{"n":1},{"n":"x"}]}"#).unwrap_err();
        assert_eq!(err.path(), Some("inner[1].n"));
        assert!(
            err.to_string().contains("invalid type: string \"x\""),
            "{err}"
        );
    }

    #[test]
    fn names_the_missing_field() {
        let err = from_json_slice::<Outer>(br#"{"inner":[{}]}"#).unwrap_err();
        assert_eq!(err.path(), Some("inner[0].n"));
        assert!(matches!(err, Error::Missing { .. }));
    }

    #[test]
    fn reports_syntax_errors_with_position() {
        let err = from_json_slice::<Outer>(b"{\"inner\": [").unwrap_err();
        assert!(matches!(err, Error::Syntax { line: 1, .. }), "{err:?}");
    }

    #[test]
    fn names_the_field_of_a_number_out_of_range() {
        let err = from_json_slice::<Outer>(br#"{"inner":[{"n":1e999}]}"#).unwrap_err();
        assert_eq!(err.path(), Some("inner[0].n"), "{err:?}");
        assert!(err.to_string().contains("number out of range"), "{err}");
    }

    #[test]
    fn rejects_trailing_garbage() {
        let err = from_json_slice::<Outer>(br#"{"inner":[]} x"#).unwrap_err();
        assert!(matches!(err, Error::Syntax { .. }), "{err:?}");
    }
}
