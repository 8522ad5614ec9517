//! Serde helpers for money in [`Decimal`].
//!
//! Prices travel as decimal strings (`"0.000008"`) so no float ever touches
//! them; some clients send numbers (`max_price: {prompt: 1}`), which are
//! accepted too. Costs go out as JSON numbers, which is what clients expect
//! (`usage.cost`).

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serializer, de};

/// Deserializes a decimal from a string or a JSON number.
pub fn de_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
    d.deserialize_any(LenientVisitor)
}

/// Like [`de_lenient`], for optional (nullable) values.
pub fn de_lenient_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
    #[derive(Deserialize)]
    struct Wrap(#[serde(deserialize_with = "de_lenient")] Decimal);
    Ok(Option::<Wrap>::deserialize(d)?.map(|Wrap(v)| v))
}

/// Serializes a decimal as a JSON number (for costs in responses).
pub fn ser_number<S: Serializer>(v: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    use rust_decimal::prelude::ToPrimitive;
    match v.normalize().to_f64() {
        Some(f) => s.serialize_f64(f),
        None => s.serialize_str(&v.to_string()),
    }
}

/// [`ser_number`] for optional values (callers skip `None`).
pub fn ser_number_opt<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => ser_number(v, s),
        None => s.serialize_none(),
    }
}

/// Serializes a decimal as a plain string without trailing zeros lost or
/// added (`"0.000008"`).
pub fn ser_string<S: Serializer>(v: &Decimal, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// [`ser_string`] for optional values (callers skip `None`).
pub fn ser_string_opt<S: Serializer>(v: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => ser_string(v, s),
        None => s.serialize_none(),
    }
}

struct LenientVisitor;

impl de::Visitor<'_> for LenientVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a decimal number or a string holding one")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        let t = v.trim();
        t.parse::<Decimal>()
            .or_else(|_| Decimal::from_scientific(t))
            .map_err(|_| E::custom(format!("`{v}` is not a decimal number")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        // Shortest round-trip text of the float, then parsed exactly: 0.1
        // becomes 0.1, not 0.1000000000000000055511151231.
        let text = format!("{v}");
        text.parse::<Decimal>()
            .or_else(|_| Decimal::from_scientific(&text))
            .map_err(|_| E::custom(format!("{v} is out of range for a decimal")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Deserialize, Serialize)]
    struct P {
        #[serde(deserialize_with = "de_lenient", serialize_with = "ser_string")]
        v: Decimal,
    }

    #[test]
    fn accepts_strings_and_numbers_exactly() {
        let a: P = serde_json::from_str(r#"{"v":"0.000008"}"#).unwrap();
        assert_eq!(a.v, Decimal::new(8, 6));
        let b: P = serde_json::from_str(r#"{"v":0.1}"#).unwrap();
        assert_eq!(b.v, Decimal::new(1, 1));
        let c: P = serde_json::from_str(r#"{"v":3}"#).unwrap();
        assert_eq!(c.v, Decimal::from(3));
        let d: P = serde_json::from_str(r#"{"v":"1e-6"}"#).unwrap();
        assert_eq!(d.v, Decimal::new(1, 6));
    }

    #[test]
    fn rejects_words() {
        let e = serde_json::from_str::<P>(r#"{"v":"cheap"}"#).err().unwrap();
        assert!(
            e.to_string().contains("`cheap` is not a decimal number"),
            "{e}"
        );
    }

    #[test]
    fn writes_strings_unchanged() {
        let p: P = serde_json::from_str(r#"{"v":"0.000008"}"#).unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), r#"{"v":"0.000008"}"#);
    }
}
