//! The error envelope of every non-2xx response:
//! `{"error":{"code","message","metadata"}}`.

use serde::{Deserialize, Serialize};

use crate::Extra;

/// A non-2xx response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ErrorResponse {
    /// The error.
    pub error: ErrorBody,
    /// The account, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// The error object, also used mid-stream and in choices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
pub struct ErrorBody {
    /// The HTTP status (mid-stream errors sometimes carry a string code).
    pub code: ErrorCode,
    /// Human-readable message.
    pub message: String,
    /// Structured detail: `provider_name`, `raw`, `error_type`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Extra>,
    /// Unknown keys, kept (`type`, `param` from OpenAI-style bodies).
    #[serde(flatten)]
    pub extra: Extra,
}

impl ErrorBody {
    /// An error with a numeric code and a message.
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        ErrorBody {
            code: ErrorCode::Status(status),
            message: message.into(),
            metadata: None,
            extra: Extra::new(),
        }
    }
}

/// `error.code`: a number (the HTTP status) or, mid-stream, a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum ErrorCode {
    /// An HTTP status.
    Status(u16),
    /// A textual code such as `"server_error"`.
    Text(String),
}

impl ErrorCode {
    /// The numeric status, if this code is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ErrorCode::Status(s) => Some(*s),
            ErrorCode::Text(t) => t.parse().ok(),
        }
    }
}
