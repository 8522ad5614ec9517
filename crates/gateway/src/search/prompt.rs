//! Pure: how results enter the prompt, how much room they may take, and
//! the `url_citation` annotations found in an answer.

use serde_json::{Value, json};

use super::backend::{MAX_TITLE_BYTES, MAX_URL_BYTES, SearchResult};

/// OpenRouter's default `search_prompt`, with `date` the day of the search.
pub fn default_search_prompt(date: &str) -> String {
    format!(
        "A web search was conducted on {date}. Incorporate the following web search results \
         into your response.\n\nIMPORTANT: Cite them using markdown links named using the \
         domain of the source.\nExample: [nytimes.com](https://nytimes.com/some-page)."
    )
}

/// The most bytes the default prompt takes (its date is 10 bytes).
const DEFAULT_PROMPT_BYTES: usize = 256;

/// The domain a citation is named after: the URL's host without `www.`.
pub fn domain(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    host.strip_prefix("www.").unwrap_or(host)
}

/// The text added to the prompt: the search prompt, then each result as
/// a markdown link named by its domain, its title and its content.
pub fn results_text(search_prompt: &str, results: &[SearchResult]) -> String {
    let mut out = String::from(search_prompt);
    for r in results {
        out.push_str("\n\n[");
        out.push_str(domain(&r.url));
        out.push_str("](");
        out.push_str(&r.url);
        out.push_str("): ");
        out.push_str(&r.title);
        if !r.content.is_empty() {
            out.push('\n');
            out.push_str(&r.content);
        }
    }
    out
}

/// A sure bound of the tokens [`results_text`] of `max_results` results
/// (content at most `max_characters` bytes) adds to a prompt, with the
/// framing of the message or part that carries it: no tokenizer makes a
/// token of less than one byte.
pub fn allowance(search_prompt: Option<&str>, max_results: u32, max_characters: usize) -> u64 {
    let prompt = search_prompt.map_or(DEFAULT_PROMPT_BYTES, str::len);
    // "\n\n[" domain "](" url "): " title "\n" content; the domain is at
    // most the URL.
    let per_result = 2 * MAX_URL_BYTES + MAX_TITLE_BYTES + max_characters + 16;
    let bytes = prompt + usize::try_from(max_results).unwrap_or(usize::MAX) * per_result;
    u64::try_from(bytes).unwrap_or(u64::MAX).saturating_add(64)
}

/// The `url_citation` annotations of an answer `content` for `results`:
/// one per result, in order; where the answer cites it (its markdown link
/// `[...](url)`, else the bare URL), `start_index` and `end_index` give
/// that span in characters (Unicode scalar values), the end exclusive.
pub fn annotations(content: &str, results: &[SearchResult]) -> Vec<Value> {
    results
        .iter()
        .map(|r| {
            let mut citation = json!({
                "url": r.url,
                "title": r.title,
                "content": r.content,
            });
            if let Some((start, end)) = cited_span(content, &r.url) {
                citation["start_index"] = json!(start);
                citation["end_index"] = json!(end);
            }
            json!({"type": "url_citation", "url_citation": citation})
        })
        .collect()
}

/// Where `content` cites `url`, in characters.
fn cited_span(content: &str, url: &str) -> Option<(usize, usize)> {
    let link = format!("]({url})");
    let (start, end) = match content.find(&link) {
        Some(at) => {
            let open = content[..at].rfind('[')?;
            (open, at + link.len())
        }
        None => {
            let at = content.find(url)?;
            (at, at + url.len())
        }
    };
    let chars = |byte: usize| content[..byte].chars().count();
    Some((chars(start), chars(end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(url: &str) -> SearchResult {
        SearchResult {
            url: url.into(),
            title: "T".into(),
            content: "C".into(),
        }
    }

    #[test]
    fn the_default_prompt_is_openrouters() {
        assert_eq!(
            default_search_prompt("2026-12-07"),
            "A web search was conducted on 2026-12-07. Incorporate the following web search \
             results into your response.\n\nIMPORTANT: Cite them using markdown links named \
             using the domain of the source.\nExample: [nytimes.com](https://nytimes.com/some-page)."
        );
        assert!(default_search_prompt("2026-12-07").len() <= DEFAULT_PROMPT_BYTES);
    }

    #[test]
    fn results_are_links_named_by_domain() {
        let text = results_text("P", &[result("https://www.a.example/x?y=1")]);
        assert_eq!(text, "P\n\n[a.example](https://www.a.example/x?y=1): T\nC");
        assert!(
            (text.len() as u64) <= allowance(Some("P"), 1, 1),
            "the allowance bounds the text"
        );
    }

    #[test]
    fn citations_point_at_the_link_in_characters() {
        let content = "é see [a.example](https://a.example/p) and https://b.example/q.";
        let a = annotations(
            content,
            &[
                result("https://a.example/p"),
                result("https://b.example/q"),
                result("https://c.example/"),
            ],
        );
        let span = |i: usize| {
            let c = &a[i]["url_citation"];
            (c["start_index"].as_u64(), c["end_index"].as_u64())
        };
        // "é see " is 6 characters (7 bytes); the link is 32 characters.
        assert_eq!(span(0), (Some(6), Some(6 + 32)));
        // the bare URL after "é see <link> and " (6 + 32 + 5 characters)
        assert_eq!(span(1), (Some(43), Some(43 + 19)));
        assert_eq!(span(2), (None, None), "an uncited result has no span");
        assert_eq!(a[2]["type"], "url_citation");
        assert_eq!(a[2]["url_citation"]["url"], "https://c.example/");
    }
}
