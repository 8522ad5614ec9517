//! What of a generation is billed.

use tollgate_schema::usage::Usage;

/// The billable quantities of one request.
///
/// See the crate docs for the token conventions: `cached_read_tokens` and
/// `cache_write_tokens` are part of `prompt_tokens`; `reasoning_tokens` are
/// part of `completion_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BillableUsage {
    /// Every input token, cache reads and writes included.
    pub prompt_tokens: u64,
    /// Every generated token, reasoning included.
    pub completion_tokens: u64,
    /// Prompt tokens read from the provider's prompt cache.
    pub cached_read_tokens: u64,
    /// Prompt tokens written to the provider's prompt cache.
    pub cache_write_tokens: u64,
    /// Completion tokens spent on internal reasoning.
    pub reasoning_tokens: u64,
    /// Input images.
    pub images: u64,
    /// Web searches run for the request.
    pub web_searches: u64,
    /// Requests: 1 for a generation (the per-request price applies once).
    pub requests: u64,
}

impl Default for BillableUsage {
    /// No tokens, one request.
    fn default() -> Self {
        BillableUsage {
            prompt_tokens: 0,
            completion_tokens: 0,
            cached_read_tokens: 0,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
            images: 0,
            web_searches: 0,
            requests: 1,
        }
    }
}

impl BillableUsage {
    /// The billable usage of one request from the usage a provider reported
    /// (already normalised to the conventions above by its adapter) and the
    /// counts the usage object does not carry.
    pub fn from_usage(usage: &Usage, images: u64, web_searches: u64) -> Self {
        BillableUsage {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cached_read_tokens: usage.cached_tokens(),
            cache_write_tokens: usage
                .prompt_tokens_details
                .as_ref()
                .and_then(|d| d.cache_write_tokens)
                .unwrap_or(0),
            reasoning_tokens: usage.reasoning_tokens(),
            images,
            web_searches,
            requests: 1,
        }
    }

    /// The same usage with every detail counter at most its total: cache
    /// reads at most the prompt tokens, cache writes at most the prompt
    /// tokens not read from cache, reasoning at most the completion tokens.
    ///
    /// Totals win because they are what the provider counted and billed;
    /// an inconsistent detail (a provider bug, or an adapter that forgot to
    /// add cache tokens into the prompt total) cannot then make a request
    /// cost more than all its tokens at their dearest price, which is what
    /// [`crate::max_cost`] holds.
    pub fn clamped(self) -> Self {
        let cached_read_tokens = self.cached_read_tokens.min(self.prompt_tokens);
        let cache_write_tokens = self
            .cache_write_tokens
            .min(self.prompt_tokens - cached_read_tokens);
        BillableUsage {
            cached_read_tokens,
            cache_write_tokens,
            reasoning_tokens: self.reasoning_tokens.min(self.completion_tokens),
            ..self
        }
    }

    /// Prompt tokens priced at the plain prompt price.
    pub fn uncached_prompt_tokens(&self) -> u64 {
        let c = self.clamped();
        c.prompt_tokens - c.cached_read_tokens - c.cache_write_tokens
    }

    /// Completion tokens that are not reasoning.
    pub fn output_tokens(&self) -> u64 {
        let c = self.clamped();
        c.completion_tokens - c.reasoning_tokens
    }
}

#[cfg(test)]
mod tests {
    use tollgate_schema::usage::{CompletionTokensDetails, PromptTokensDetails};

    use super::*;

    #[test]
    fn from_usage_reads_the_details() {
        let usage = Usage {
            prompt_tokens: 1000,
            completion_tokens: 300,
            prompt_tokens_details: Some(PromptTokensDetails {
                cached_tokens: 600,
                cache_write_tokens: Some(200),
                ..Default::default()
            }),
            completion_tokens_details: Some(CompletionTokensDetails {
                reasoning_tokens: 120,
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(
            BillableUsage::from_usage(&usage, 2, 3),
            BillableUsage {
                prompt_tokens: 1000,
                completion_tokens: 300,
                cached_read_tokens: 600,
                cache_write_tokens: 200,
                reasoning_tokens: 120,
                images: 2,
                web_searches: 3,
                requests: 1,
            }
        );
        let plain = BillableUsage::from_usage(&Usage::new(5, 7), 0, 0);
        assert_eq!(
            plain,
            BillableUsage {
                prompt_tokens: 5,
                completion_tokens: 7,
                ..Default::default()
            }
        );
        let bare = BillableUsage::from_usage(&Usage::default(), 0, 0);
        assert_eq!(bare, BillableUsage::default());
    }

    #[test]
    fn details_are_clamped_to_totals() {
        let u = BillableUsage {
            prompt_tokens: 100,
            completion_tokens: 10,
            cached_read_tokens: 80,
            cache_write_tokens: 50,
            reasoning_tokens: 25,
            ..Default::default()
        };
        let c = u.clamped();
        assert_eq!(
            (
                c.cached_read_tokens,
                c.cache_write_tokens,
                c.reasoning_tokens
            ),
            (80, 20, 10)
        );
        assert_eq!(u.uncached_prompt_tokens(), 0);
        assert_eq!(u.output_tokens(), 0);

        let too_many_reads = BillableUsage {
            prompt_tokens: 10,
            cached_read_tokens: 30,
            cache_write_tokens: 5,
            ..Default::default()
        }
        .clamped();
        assert_eq!(
            (
                too_many_reads.cached_read_tokens,
                too_many_reads.cache_write_tokens
            ),
            (10, 0)
        );
    }
}
