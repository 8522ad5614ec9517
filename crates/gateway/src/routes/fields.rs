//! Reading the management endpoints' small JSON bodies and query strings
//! field by field (so every 400 names its field), and writing money and
//! times the way the OpenRouter shapes do.

use std::collections::HashMap;
use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::Query;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Map, Value};
use tollgate_store::{LEDGER_SCALE, LimitReset, MAX_AMOUNT};

use crate::error::ApiError;

/// A query string as a map, or a 400.
pub(crate) fn query(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(map)| map)
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {}", e.body_text())))
}

/// A request body that must be a JSON object; `max` is the body limit (for
/// the 413 of an oversized body).
pub(crate) fn object(
    body: Result<Bytes, BytesRejection>,
    max: usize,
) -> Result<Map<String, Value>, ApiError> {
    let body = body.map_err(|r| ApiError::from_body_rejection(r, max))?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "the request body must be a JSON object",
        )),
        Err(e) => Err(ApiError::bad_request(format!("invalid JSON body: {e}"))),
    }
}

/// A required, non-blank string of at most 256 characters (a name).
pub(crate) fn name(map: &Map<String, Value>, field: &str) -> Result<String, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Err(ApiError::field(field, format!("`{field}` is required"))),
        Some(v) => name_value(field, v),
    }
}

/// The value of a name field: a non-blank string of at most 256
/// characters, trimmed.
pub(crate) fn name_value(field: &str, v: &Value) -> Result<String, ApiError> {
    let s = v
        .as_str()
        .ok_or_else(|| ApiError::field(field, format!("`{field}` must be a string")))?
        .trim();
    if s.is_empty() {
        return Err(ApiError::field(
            field,
            format!("`{field}` must not be empty"),
        ));
    }
    if s.chars().count() > 256 {
        return Err(ApiError::field(
            field,
            format!("`{field}` must be at most 256 characters"),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(ApiError::field(
            field,
            format!("`{field}` must not contain control characters"),
        ));
    }
    Ok(s.to_owned())
}

/// Whether `id`, an identifier a client sent (a generation id, a key
/// hash, an account id), can name anything: ids are printable, and
/// PostgreSQL refuses text holding a NUL, so looking such an id up would
/// be a 500 instead of a 404.
pub(crate) fn can_be_id(id: &str) -> bool {
    !id.chars().any(char::is_control)
}

/// An optional boolean: absent is `None`; `null` is refused.
pub(crate) fn boolean(map: &Map<String, Value>, field: &str) -> Result<Option<bool>, ApiError> {
    match map.get(field) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::field(
            field,
            format!("`{field}` must be true or false"),
        )),
    }
}

/// A present-but-nullable field: absent is `None`, `null` is `Some(None)`.
pub(crate) fn nullable<'a>(map: &'a Map<String, Value>, field: &str) -> Option<Option<&'a Value>> {
    map.get(field).map(|v| (!v.is_null()).then_some(v))
}

/// An amount of USD: a JSON number, or (with `strings`) a decimal string;
/// exact, at most 12 decimal places and at most 1,000,000; `positive`
/// refuses zero.
pub(crate) fn usd(
    field: &str,
    v: &Value,
    strings: bool,
    positive: bool,
) -> Result<Decimal, ApiError> {
    let what = if strings {
        "a number or a decimal string"
    } else {
        "a number"
    };
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) if strings => s.trim().to_owned(),
        _ => return Err(ApiError::field(field, format!("`{field}` must be {what}"))),
    };
    let amount = Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .map_err(|_| ApiError::field(field, format!("`{field}` must be {what} of USD")))?
        .normalize();
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(ApiError::field(
            field,
            format!("`{field}` must not be negative"),
        ));
    }
    if positive && amount.is_zero() {
        return Err(ApiError::field(
            field,
            format!("`{field}` must be greater than 0"),
        ));
    }
    if amount.scale() > LEDGER_SCALE {
        return Err(ApiError::field(
            field,
            format!("`{field}` must have at most {LEDGER_SCALE} decimal places"),
        ));
    }
    if amount > MAX_AMOUNT {
        return Err(ApiError::field(
            field,
            format!("`{field}` must be at most {MAX_AMOUNT}"),
        ));
    }
    Ok(amount.abs())
}

/// A limit reset period: `daily`, `weekly` or `monthly`.
pub(crate) fn limit_reset(field: &str, v: &Value) -> Result<LimitReset, ApiError> {
    v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
        ApiError::field(
            field,
            format!("`{field}` must be \"daily\", \"weekly\", \"monthly\" or null"),
        )
    })
}

/// An RFC 3339 timestamp (any offset; converted to UTC).
pub(crate) fn timestamp(field: &str, v: &Value) -> Result<DateTime<Utc>, ApiError> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| {
            ApiError::field(
                field,
                format!(
                    "`{field}` must be an ISO 8601 timestamp such as 2030-01-31T00:00:00Z, or null"
                ),
            )
        })
}

/// USD as a JSON number, as the OpenRouter shapes have it.
pub(crate) fn usd_json(amount: Decimal) -> Value {
    amount.to_f64().map_or(Value::Null, Value::from)
}

/// An optional USD amount as a JSON number or `null`.
pub(crate) fn usd_json_opt(amount: Option<Decimal>) -> Value {
    amount.map_or(Value::Null, usd_json)
}

/// A time as RFC 3339 in UTC (`2025-08-24T10:30:00Z`, with fractional
/// seconds when there are any).
pub(crate) fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// An optional time as RFC 3339 or `null`.
pub(crate) fn iso_opt(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::from(iso(t)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn amount(v: Value) -> Result<Decimal, String> {
        usd("amount", &v, true, true).map_err(|e| e.to_string())
    }

    #[test]
    fn amounts() {
        assert_eq!(amount(json!(10)).unwrap(), Decimal::from(10));
        assert_eq!(amount(json!("10.50")).unwrap(), Decimal::new(105, 1));
        assert_eq!(amount(json!(0.1)).unwrap(), Decimal::new(1, 1));
        assert_eq!(amount(json!(1e-6)).unwrap(), Decimal::new(1, 6));
        assert_eq!(
            amount(json!("0.000000000001")).unwrap(),
            Decimal::new(1, 12)
        );
        assert_eq!(
            amount(json!(0)).unwrap_err(),
            "`amount` must be greater than 0"
        );
        assert_eq!(
            amount(json!("-1")).unwrap_err(),
            "`amount` must not be negative"
        );
        assert_eq!(
            amount(json!("0.0000000000001")).unwrap_err(),
            "`amount` must have at most 12 decimal places"
        );
        assert_eq!(
            amount(json!(1_000_001)).unwrap_err(),
            "`amount` must be at most 1000000"
        );
        assert_eq!(
            amount(json!("ten")).unwrap_err(),
            "`amount` must be a number or a decimal string of USD"
        );
        assert_eq!(
            amount(json!(true)).unwrap_err(),
            "`amount` must be a number or a decimal string"
        );
        // Zero is a fine limit; strings are not.
        assert_eq!(
            usd("limit", &json!(0), false, false).unwrap(),
            Decimal::ZERO
        );
        assert_eq!(
            usd("limit", &json!("5"), false, false)
                .unwrap_err()
                .to_string(),
            "`limit` must be a number"
        );
    }

    #[test]
    fn times_render_in_utc() {
        let t = DateTime::parse_from_rfc3339("2025-08-24T12:30:00+02:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(iso(t), "2025-08-24T10:30:00Z");
        assert_eq!(
            iso(t + chrono::Duration::microseconds(5)),
            "2025-08-24T10:30:00.000005Z"
        );
        assert_eq!(
            timestamp("x", &json!("2025-08-24T12:30:00+02:00")).unwrap(),
            t
        );
        assert!(timestamp("x", &json!("2025-08-24")).is_err());
    }
}
