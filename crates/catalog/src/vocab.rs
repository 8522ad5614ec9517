//! The closed vocabularies of the listing format and the Models API:
//! quantizations, sampling parameters, features and modalities.
//!
//! `provider-integration.txt` documents the first three (plus the newer
//! quantizations and OpenAI-compatible parameters of today's OpenAPI
//! document); the modalities are those of the Models API (`WIRE-NOTES.md`
//! §3).

/// Valid `quantization` values of a listing.
pub const QUANTIZATIONS: &[&str] = &[
    "int4", "int8", "fp4", "fp6", "fp8", "fp16", "bf16", "fp32", "mxfp4", "nvfp4", "mxfp8",
    "unknown",
];

/// Valid `supported_sampling_parameters` of a listing: the eight of the seed
/// and the wider OpenAI-compatible set.
pub const SAMPLING_PARAMETERS: &[&str] = &[
    "temperature",
    "top_p",
    "top_k",
    "repetition_penalty",
    "frequency_penalty",
    "presence_penalty",
    "stop",
    "seed",
    "min_p",
    "top_a",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "max_tokens",
    "response_format",
];

/// Valid `supported_features` of a listing.
pub const FEATURES: &[&str] = &[
    "tools",
    "json_mode",
    "structured_outputs",
    "web_search",
    "reasoning",
];

/// Valid `input_modalities`, in the canonical order used for output.
pub const INPUT_MODALITIES: &[&str] = &["text", "image", "file", "audio", "video"];

/// Valid `output_modalities`, in the canonical order used for output.
pub const OUTPUT_MODALITIES: &[&str] = &[
    "text",
    "image",
    "embeddings",
    "audio",
    "video",
    "rerank",
    "speech",
    "transcription",
];

/// Request parameters every endpoint accepts, whatever its listing says.
pub const ALWAYS_SUPPORTED_PARAMETERS: &[&str] = &["max_tokens"];

/// The request parameters a listing feature enables.
pub fn feature_parameters(feature: &str) -> &'static [&'static str] {
    match feature {
        "tools" => &["tools", "tool_choice", "parallel_tool_calls"],
        "json_mode" => &["response_format"],
        "structured_outputs" => &["response_format", "structured_outputs"],
        "reasoning" => &["reasoning", "include_reasoning"],
        "web_search" => &["web_search_options"],
        _ => &[],
    }
}

/// Sorts modalities in the canonical order of `order` (unknown ones last,
/// alphabetically) and removes duplicates.
pub(crate) fn sort_modalities(mut items: Vec<String>, order: &[&str]) -> Vec<String> {
    let rank = |m: &str| order.iter().position(|o| *o == m).unwrap_or(order.len());
    items.sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.cmp(b)));
    items.dedup();
    items
}

/// Maps a listing's tokenizer (a tiktoken encoding name such as `o200k`, or
/// a family) to the Models API tokenizer group clients know (`GPT`,
/// `Claude`, ...). A name that already is a group is kept; an unknown one
/// becomes `Other`.
pub fn tokenizer_group(tokenizer: &str) -> &'static str {
    const GROUPS: &[&str] = &[
        "Router", "Media", "Other", "GPT", "Claude", "Gemini", "Gemma", "Grok", "Cohere", "Nova",
        "Qwen", "Yi", "DeepSeek", "Mistral", "Llama2", "Llama3", "Llama4", "PaLM", "RWKV", "Qwen3",
    ];
    if let Some(g) = GROUPS.iter().find(|g| g.eq_ignore_ascii_case(tokenizer)) {
        return g;
    }
    match tokenizer.to_ascii_lowercase().as_str() {
        "o200k" | "o200k_base" | "cl100k" | "cl100k_base" | "p50k" | "p50k_base" | "r50k"
        | "r50k_base" | "gpt" | "tiktoken" => "GPT",
        "llama-3" | "llama_3" => "Llama3",
        "llama-2" | "llama_2" => "Llama2",
        "llama-4" | "llama_4" => "Llama4",
        _ => "Other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modalities_sort_canonically() {
        let v = vec![
            "file".to_string(),
            "text".into(),
            "image".into(),
            "text".into(),
        ];
        assert_eq!(
            sort_modalities(v, INPUT_MODALITIES),
            ["text", "image", "file"]
        );
    }

    #[test]
    fn tokenizer_groups() {
        assert_eq!(tokenizer_group("o200k"), "GPT");
        assert_eq!(tokenizer_group("cl100k_base"), "GPT");
        assert_eq!(tokenizer_group("claude"), "Claude");
        assert_eq!(tokenizer_group("llama3"), "Llama3");
        assert_eq!(tokenizer_group("Gemini"), "Gemini");
        assert_eq!(tokenizer_group("sentencepiece"), "Other");
    }
}
