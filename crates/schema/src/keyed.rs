//! `Deserialize` for structs that keep unknown keys in an `extra` map,
//! without `#[serde(flatten)]`.
//!
//! A flattened map makes serde buffer the whole object into an
//! intermediate tree and deserialize every field a second time from it:
//! about twice the work of a plain struct, paid on every chunk of every
//! stream. [`with_extra!`] writes the visitor a derive would write for the
//! known keys (same defaults, `null` as `None` for options, "missing field"
//! and "duplicate field" errors) and moves each other key, with its value,
//! into `extra`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, Visitor};

/// A map key, borrowed from the input when it has no escapes.
pub(crate) struct Key<'de>(pub(crate) Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// Implements `Deserialize` for `$ty`, whose fields are the `required`
/// ones (an error when absent), the `optional` ones (their default
/// expression when absent) and `extra: Extra` (every other key).
macro_rules! with_extra {
    (
        $ty:ident, $expecting:literal,
        required { $($rkey:literal => $rfield:ident),* $(,)? }
        optional { $($okey:literal => $ofield:ident = $odefault:expr),* $(,)? }
    ) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct FieldsVisitor;
                impl<'de> serde::de::Visitor<'de> for FieldsVisitor {
                    type Value = $ty;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<$ty, A::Error> {
                        $(let mut $rfield = None;)*
                        $(let mut $ofield = None;)*
                        let mut extra = $crate::Extra::new();
                        while let Some($crate::keyed::Key(key)) = map.next_key()? {
                            match key.as_ref() {
                                $($rkey => {
                                    if $rfield.is_some() {
                                        return Err(serde::de::Error::duplicate_field($rkey));
                                    }
                                    $rfield = Some(map.next_value()?);
                                })*
                                $($okey => {
                                    if $ofield.is_some() {
                                        return Err(serde::de::Error::duplicate_field($okey));
                                    }
                                    $ofield = Some(map.next_value()?);
                                })*
                                _ => {
                                    let value = map.next_value()?;
                                    extra.insert(key.into_owned(), value);
                                }
                            }
                        }
                        Ok($ty {
                            $($rfield: $rfield
                                .ok_or_else(|| serde::de::Error::missing_field($rkey))?,)*
                            $($ofield: $ofield.unwrap_or_else(|| $odefault),)*
                            extra,
                        })
                    }
                }
                d.deserialize_map(FieldsVisitor)
            }
        }
    };
}

pub(crate) use with_extra;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::chat::{ChatChunk, Delta};

    #[test]
    fn unknown_keys_land_in_extra_at_every_level() {
        let chunk: ChatChunk = serde_json::from_value(json!({
            "id": "c1",
            "service_tier": "default",
            "choices": [{
                "index": 1,
                "delta": {"content": "hi", "obfuscation": "xyz"},
                "logprobs": null,
                "stop_reason": 7
            }]
        }))
        .unwrap();
        assert_eq!(chunk.extra["service_tier"], "default");
        assert_eq!(chunk.object, "chat.completion.chunk");
        let choice = &chunk.choices[0];
        assert_eq!(choice.index, 1);
        assert_eq!(choice.extra["stop_reason"], 7);
        assert!(choice.logprobs.is_none());
        assert_eq!(choice.delta.content.as_deref(), Some("hi"));
        assert_eq!(choice.delta.extra["obfuscation"], "xyz");
        // And they are written back out where they came from.
        let back = serde_json::to_value(&chunk).unwrap();
        assert_eq!(back["service_tier"], "default");
        assert_eq!(back["choices"][0]["delta"]["obfuscation"], "xyz");
    }

    #[test]
    fn escaped_keys_are_matched_after_unescaping() {
        let chunk: ChatChunk =
            serde_json::from_str(r#"{"\u0069d":"c2","x\"y":1,"choices":[]}"#).unwrap();
        assert_eq!(chunk.id, "c2");
        assert_eq!(chunk.extra["x\"y"], 1);
    }

    #[test]
    fn missing_required_and_duplicate_keys_are_errors() {
        let missing = serde_json::from_str::<ChatChunk>(r#"{"choices":[]}"#).unwrap_err();
        assert!(missing.to_string().contains("missing field `id`"), "{missing}");
        let dup = serde_json::from_str::<Delta>(r#"{"content":"a","content":"b"}"#).unwrap_err();
        assert!(dup.to_string().contains("duplicate field `content`"), "{dup}");
        let wrong = serde_json::from_str::<ChatChunk>(r#"{"id":"c","created":"soon"}"#).unwrap_err();
        assert!(wrong.to_string().contains("invalid type"), "{wrong}");
        assert!(serde_json::from_str::<ChatChunk>("[1]").is_err());
    }
}
