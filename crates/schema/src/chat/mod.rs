//! Chat completions: `POST /chat/completions` request, response and stream
//! chunks.

mod content;
mod message;
mod request;
mod response;
mod stream;
mod tools;

pub use content::{
    ContentPart, FileData, FilePart, ImagePart, ImageUrl, InputAudio, InputAudioPart,
    MessageContent, TextPart, VideoPart, VideoUrl,
};
pub use message::{Message, Role};
pub use request::{
    ChatRequest, JsonSchemaFormat, ReasoningConfig, ResponseFormat, Stop, StreamOptions,
    UsageRequest,
};
pub use response::{ChatCompletion, Choice, ResponseMessage};
pub use stream::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta};
pub use tools::{
    FunctionCall, FunctionDef, NamedFunction, NamedToolChoice, Tool, ToolCall, ToolChoice,
};
