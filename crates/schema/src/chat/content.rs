//! Message content: a string or an array of typed parts.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::Extra;

/// Content of a message: plain text, or parts (text, images, audio, files).
#[derive(Debug, Clone, PartialEq)]
pub enum MessageContent {
    /// Plain text.
    Text(String),
    /// Typed parts.
    Parts(Vec<ContentPart>),
}

impl MessageContent {
    /// The text: the string, or the text parts joined with no separator.
    pub fn text(&self) -> String {
        match self {
            MessageContent::Text(t) => t.clone(),
            MessageContent::Parts(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    ContentPart::Text(t) => Some(t.text.as_str()),
                    _ => None,
                })
                .collect(),
        }
    }

    /// The parts, with plain text seen as one text part.
    pub fn parts(&self) -> Vec<ContentPart> {
        match self {
            MessageContent::Text(t) => vec![ContentPart::Text(TextPart::new(t.clone()))],
            MessageContent::Parts(p) => p.clone(),
        }
    }
}

impl Serialize for MessageContent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            MessageContent::Text(t) => s.serialize_str(t),
            MessageContent::Parts(p) => p.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for MessageContent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MessageContent;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of content parts")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MessageContent, E> {
                Ok(MessageContent::Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<MessageContent, E> {
                Ok(MessageContent::Text(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MessageContent, A::Error> {
                let mut parts = Vec::new();
                while let Some(p) = seq.next_element()? {
                    parts.push(p);
                }
                Ok(MessageContent::Parts(parts))
            }
        }
        d.deserialize_any(V)
    }
}

/// One typed part of a message's content.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    /// `{"type":"text","text":...}`
    Text(TextPart),
    /// `{"type":"image_url","image_url":{"url","detail"}}`
    ImageUrl(ImagePart),
    /// `{"type":"input_audio","input_audio":{"data","format"}}`
    InputAudio(InputAudioPart),
    /// `{"type":"file","file":{"filename","file_data","file_id"}}`
    File(FilePart),
    /// `{"type":"video_url","video_url":{"url"}}` (and legacy `input_video`)
    VideoUrl(VideoPart),
    /// A part type this version does not know, kept verbatim.
    Other(Extra),
}

impl ContentPart {
    /// The wire `type` of the part.
    pub fn type_name(&self) -> &str {
        match self {
            ContentPart::Text(_) => "text",
            ContentPart::ImageUrl(_) => "image_url",
            ContentPart::InputAudio(_) => "input_audio",
            ContentPart::File(_) => "file",
            ContentPart::VideoUrl(v) => v.legacy_type.as_deref().unwrap_or("video_url"),
            ContentPart::Other(m) => m.get("type").and_then(|t| t.as_str()).unwrap_or(""),
        }
    }
}

/// A text part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct TextPart {
    /// The text.
    pub text: String,
    /// Prompt-caching breakpoint (`{"type":"ephemeral","ttl":"5m"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<serde_json::Value>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl TextPart {
    /// A text part with nothing else.
    pub fn new(text: impl Into<String>) -> Self {
        TextPart {
            text: text.into(),
            cache_control: None,
            extra: Extra::new(),
        }
    }
}

/// An image part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ImagePart {
    /// The image.
    pub image_url: ImageUrl,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Where an image is: an http(s) URL or a `data:` URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ImageUrl {
    /// http(s) or `data:image/...;base64,...` URL.
    pub url: String,
    /// `auto`, `low`, `high` or `original`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An audio part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct InputAudioPart {
    /// The audio.
    pub input_audio: InputAudio,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Base64 audio and its format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct InputAudio {
    /// Base64 data.
    pub data: String,
    /// `wav`, `mp3`, `flac`, ...
    pub format: String,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A file part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct FilePart {
    /// The file.
    pub file: FileData,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A file: name, data URL or URL, or an uploaded file's id.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct FileData {
    /// File name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// `data:` URL or URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<String>,
    /// Id of an uploaded file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A video part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct VideoPart {
    /// The video.
    pub video_url: VideoUrl,
    /// Set when the part came as the legacy `input_video` type, so it is
    /// written back the same way.
    #[serde(skip)]
    pub legacy_type: Option<String>,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Where a video is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct VideoUrl {
    /// URL of the video.
    pub url: String,
    /// Unknown keys, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Serialize)]
struct Tagged<'a, T: Serialize> {
    #[serde(rename = "type")]
    ty: &'a str,
    #[serde(flatten)]
    inner: &'a T,
}

impl Serialize for ContentPart {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let ty = self.type_name();
        match self {
            ContentPart::Text(p) => Tagged { ty, inner: p }.serialize(s),
            ContentPart::ImageUrl(p) => Tagged { ty, inner: p }.serialize(s),
            ContentPart::InputAudio(p) => Tagged { ty, inner: p }.serialize(s),
            ContentPart::File(p) => Tagged { ty, inner: p }.serialize(s),
            ContentPart::VideoUrl(p) => Tagged { ty, inner: p }.serialize(s),
            ContentPart::Other(m) => m.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ContentPart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ContentPart;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a content part object with a `type`")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<ContentPart, A::Error> {
                let mut obj = Extra::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let ty = match obj.get("type") {
                    Some(serde_json::Value::String(t)) => t.clone(),
                    Some(_) => {
                        return Err(de::Error::custom("content part `type` must be a string"));
                    }
                    None => return Err(de::Error::custom("content part is missing `type`")),
                };
                fn part<T: serde::de::DeserializeOwned, E: de::Error>(
                    ty: &str,
                    obj: Extra,
                ) -> Result<T, E> {
                    serde_json::from_value(serde_json::Value::Object(obj))
                        .map_err(|e| E::custom(format!("content part of type `{ty}`: {e}")))
                }
                match ty.as_str() {
                    "text" | "image_url" | "input_audio" | "file" | "video_url" | "input_video" => {
                        obj.remove("type");
                    }
                    _ => return Ok(ContentPart::Other(obj)),
                }
                Ok(match ty.as_str() {
                    "text" => ContentPart::Text(part(&ty, obj)?),
                    "image_url" => ContentPart::ImageUrl(part(&ty, obj)?),
                    "input_audio" => ContentPart::InputAudio(part(&ty, obj)?),
                    "file" => ContentPart::File(part(&ty, obj)?),
                    _ => {
                        let mut v: VideoPart = part(&ty, obj)?;
                        if ty == "input_video" {
                            v.legacy_type = Some(ty);
                        }
                        ContentPart::VideoUrl(v)
                    }
                })
            }
        }
        d.deserialize_map(V)
    }
}

/// The schemas of the two hand-written (de)serializers above, as they read
/// the wire: a string or an array of parts; a part tagged by `type`.
#[cfg(feature = "openapi")]
mod json_schema {
    use std::borrow::Cow;

    use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

    use super::{
        ContentPart, FilePart, ImagePart, InputAudioPart, MessageContent, TextPart, VideoPart,
    };

    impl JsonSchema for MessageContent {
        fn schema_name() -> Cow<'static, str> {
            Cow::Borrowed("MessageContent")
        }

        fn json_schema(generator: &mut SchemaGenerator) -> Schema {
            let parts = generator.subschema_for::<Vec<ContentPart>>();
            json_schema!({
                "description": "Plain text, or an array of typed content parts.",
                "anyOf": [{"type": "string"}, parts]
            })
        }
    }

    /// A known part: its body's schema with `type` fixed to one of `names`.
    fn tagged<T: JsonSchema>(generator: &mut SchemaGenerator, names: &[&str]) -> Schema {
        let body = generator.subschema_for::<T>();
        json_schema!({
            "allOf": [
                body,
                {"type": "object", "required": ["type"], "properties": {"type": {"enum": names}}}
            ]
        })
    }

    impl JsonSchema for ContentPart {
        fn schema_name() -> Cow<'static, str> {
            Cow::Borrowed("ContentPart")
        }

        fn json_schema(generator: &mut SchemaGenerator) -> Schema {
            let known = [
                "text",
                "image_url",
                "input_audio",
                "file",
                "video_url",
                "input_video",
            ];
            json_schema!({
                "description": "One content part, tagged by `type`; a part of an unknown type is kept verbatim.",
                "oneOf": [
                    tagged::<TextPart>(generator, &["text"]),
                    tagged::<ImagePart>(generator, &["image_url"]),
                    tagged::<InputAudioPart>(generator, &["input_audio"]),
                    tagged::<FilePart>(generator, &["file"]),
                    tagged::<VideoPart>(generator, &["video_url", "input_video"]),
                    {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"type": "string", "not": {"enum": known}}}
                    }
                ]
            })
        }
    }
}
