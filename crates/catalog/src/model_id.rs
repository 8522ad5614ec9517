//! Model ids as clients send them: `author/slug` with an optional variant
//! suffix (`openai/gpt-4o:nitro`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Id of the router that picks a model from the prompt.
pub const AUTO_ROUTER: &str = "openrouter/auto";
/// Id of the router that picks among free models.
pub const FREE_ROUTER: &str = "openrouter/free";

/// A model variant: the `:suffix` of a model id (`faq.txt`, "What are model
/// variants?").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    /// `:free` — always provided for free, with low rate limits.
    Free,
    /// `:extended` — a longer than usual context length.
    Extended,
    /// `:thinking` — reasoning is on by default.
    Thinking,
    /// `:online` (deprecated) — every request runs a web search whose results
    /// are attached to the prompt.
    Online,
    /// `:nitro` — providers sorted by throughput instead of the default sort.
    Nitro,
    /// `:floor` — providers sorted by price instead of the default sort.
    Floor,
    /// `:exacto` — providers sorted by quality-first signals tuned for
    /// tool-calling reliability.
    Exacto,
}

impl Variant {
    /// Every variant, in the order the FAQ lists them.
    pub const ALL: [Variant; 7] = [
        Variant::Free,
        Variant::Extended,
        Variant::Thinking,
        Variant::Online,
        Variant::Nitro,
        Variant::Floor,
        Variant::Exacto,
    ];

    /// The suffix without its colon (`"free"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Free => "free",
            Variant::Extended => "extended",
            Variant::Thinking => "thinking",
            Variant::Online => "online",
            Variant::Nitro => "nitro",
            Variant::Floor => "floor",
            Variant::Exacto => "exacto",
        }
    }

    /// The variant named `s` (without the colon), if any.
    pub fn from_name(s: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a model id. Every message names the id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelIdError {
    /// The id is empty.
    #[error("model id is empty")]
    Empty,
    /// The id holds whitespace or a control character.
    #[error("model id `{id}` contains whitespace or a control character")]
    Whitespace {
        /// The id as given.
        id: String,
    },
    /// No `/` between author and slug.
    #[error("model id `{id}` is not of the form `author/slug`")]
    MissingSlash {
        /// The id as given.
        id: String,
    },
    /// More than one `/`.
    #[error("model id `{id}` has more than one `/`; expected `author/slug`")]
    TooManySlashes {
        /// The id as given.
        id: String,
    },
    /// Nothing before the `/`.
    #[error("model id `{id}` has an empty author")]
    EmptyAuthor {
        /// The id as given.
        id: String,
    },
    /// Nothing between the `/` and the end or the `:`.
    #[error("model id `{id}` has an empty slug")]
    EmptySlug {
        /// The id as given.
        id: String,
    },
    /// A `:` with nothing after it.
    #[error("model id `{id}` has an empty variant after `:`")]
    EmptyVariant {
        /// The id as given.
        id: String,
    },
    /// A suffix that is not one of [`Variant::ALL`].
    #[error(
        "model id `{id}` has unknown variant `{variant}`; valid variants: \
         free, extended, thinking, online, nitro, floor, exacto"
    )]
    UnknownVariant {
        /// The id as given.
        id: String,
        /// The unknown suffix, without its colon.
        variant: String,
    },
}

/// A parsed model id: `author/slug` and an optional [`Variant`].
///
/// Parsing is exact (no case folding, no trimming) so that
/// `ModelId::parse(s)?.to_string() == s`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelId {
    /// The whole id as given.
    full: String,
    /// Byte offset of the `/`.
    slash: usize,
    /// Byte length of `author/slug` (the id without the variant).
    base_len: usize,
    variant: Option<Variant>,
}

impl ModelId {
    /// Parses `author/slug` or `author/slug:variant`.
    pub fn parse(id: &str) -> Result<ModelId, ModelIdError> {
        let owned = || id.to_string();
        if id.is_empty() {
            return Err(ModelIdError::Empty);
        }
        if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ModelIdError::Whitespace { id: owned() });
        }
        let (base, variant) = match id.split_once(':') {
            Some((base, variant)) => (base, Some(variant)),
            None => (id, None),
        };
        let Some((author, slug)) = base.split_once('/') else {
            return Err(ModelIdError::MissingSlash { id: owned() });
        };
        if slug.contains('/') {
            return Err(ModelIdError::TooManySlashes { id: owned() });
        }
        if author.is_empty() {
            return Err(ModelIdError::EmptyAuthor { id: owned() });
        }
        if slug.is_empty() {
            return Err(ModelIdError::EmptySlug { id: owned() });
        }
        let variant = match variant {
            None => None,
            Some("") => return Err(ModelIdError::EmptyVariant { id: owned() }),
            Some(name) => match Variant::from_name(name) {
                Some(v) => Some(v),
                None => {
                    return Err(ModelIdError::UnknownVariant {
                        id: owned(),
                        variant: name.to_string(),
                    });
                }
            },
        };
        Ok(ModelId {
            full: owned(),
            slash: author.len(),
            base_len: base.len(),
            variant,
        })
    }

    /// The whole id, variant included.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// `author/slug`, without the variant.
    pub fn base(&self) -> &str {
        &self.full[..self.base_len]
    }

    /// The part before the `/`.
    pub fn author(&self) -> &str {
        &self.full[..self.slash]
    }

    /// The part between the `/` and the variant.
    pub fn slug(&self) -> &str {
        &self.full[self.slash + 1..self.base_len]
    }

    /// The variant suffix, if any.
    pub fn variant(&self) -> Option<Variant> {
        self.variant
    }

    /// The same model with `variant` (or none) instead of the current one.
    pub fn with_variant(&self, variant: Option<Variant>) -> ModelId {
        let base = self.base();
        let full = match variant {
            Some(v) => format!("{base}:{v}"),
            None => base.to_string(),
        };
        ModelId {
            full,
            slash: self.slash,
            base_len: self.base_len,
            variant,
        }
    }

    /// Whether the base id names one of Tollgate's routers
    /// ([`AUTO_ROUTER`], [`FREE_ROUTER`]) rather than a model.
    pub fn is_router(&self) -> bool {
        matches!(self.base(), AUTO_ROUTER | FREE_ROUTER)
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

impl FromStr for ModelId {
    type Err = ModelIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelId::parse(s)
    }
}

impl AsRef<str> for ModelId {
    fn as_ref(&self) -> &str {
        &self.full
    }
}

impl Serialize for ModelId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.full)
    }
}

impl<'de> Deserialize<'de> for ModelId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ModelId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_parts() {
        let id = ModelId::parse("meta-llama/llama-3.1-8b-instruct:free").unwrap();
        assert_eq!(id.author(), "meta-llama");
        assert_eq!(id.slug(), "llama-3.1-8b-instruct");
        assert_eq!(id.base(), "meta-llama/llama-3.1-8b-instruct");
        assert_eq!(id.variant(), Some(Variant::Free));
        assert_eq!(id.to_string(), "meta-llama/llama-3.1-8b-instruct:free");
    }

    #[test]
    fn with_variant_replaces_the_suffix() {
        let id = ModelId::parse("a/b:nitro").unwrap();
        assert_eq!(id.with_variant(Some(Variant::Floor)).as_str(), "a/b:floor");
        let plain = id.with_variant(None);
        assert_eq!(plain.as_str(), "a/b");
        assert_eq!(plain, ModelId::parse("a/b").unwrap());
    }

    #[test]
    fn routers() {
        assert!(ModelId::parse("openrouter/auto").unwrap().is_router());
        assert!(ModelId::parse("openrouter/free").unwrap().is_router());
        assert!(!ModelId::parse("openrouter/other").unwrap().is_router());
    }

    #[test]
    fn serde_round_trip_and_error() {
        let id: ModelId = serde_json::from_str(r#""x/y:online""#).unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), r#""x/y:online""#);
        let err = serde_json::from_str::<ModelId>(r#""x/y:fast""#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `fast`"), "{err}");
    }
}
