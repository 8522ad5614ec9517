//! Request ids: `x-request-id`, kept from the client when it is sane,
//! generated otherwise, echoed on every response and carried by the request
//! span and the generation record.
//!
//! "Sane" is deliberately narrow, because the value lands verbatim in logs,
//! the database and a response header: 1 to [`MAX_LEN`] bytes of ASCII
//! letters, digits and `-_.:/+=@` (enough for UUIDs, ULIDs, base64 and
//! `service:trace/span` shapes). Anything else (empty, too long, spaces,
//! quotes, control or non-ASCII bytes, several `x-request-id` headers that
//! disagree) is replaced by a fresh id rather than rejected: the request
//! itself is fine, only its label is not.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// `x-request-id`.
pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-sent id kept, in bytes.
pub const MAX_LEN: usize = 128;

/// Whether a client-sent id is kept as it is.
pub fn is_sane(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b))
}

/// A fresh id: a random (v4) UUID, lower-case and hyphenated.
///
/// Drawn from the thread-local generator, not the OS: no system call on the
/// request path.
pub fn generate() -> HeaderValue {
    let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid.hyphenated().encode_lower(&mut buf);
    // A hyphenated UUID is always valid header text.
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

/// Makes `headers` carry exactly one sane `x-request-id` (the client's, or
/// a fresh one) and returns it.
pub(crate) fn ensure(headers: &mut HeaderMap) -> HeaderValue {
    let mut sent = headers.get_all(&HEADER).iter();
    let kept = match (sent.next(), sent.next()) {
        (Some(first), None) if is_sane(first.as_bytes()) => return first.clone(),
        (Some(first), Some(_))
            if is_sane(first.as_bytes()) && headers.get_all(&HEADER).iter().all(|v| v == first) =>
        {
            first.clone()
        }
        _ => generate(),
    };
    headers.insert(HEADER, kept.clone());
    kept
}

/// The request id of a request that went through the gateway's router (the
/// layer has made it sane), as text.
///
/// For the generation record: `RequestContext::new` reads it from the
/// request headers it already has.
pub fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(&HEADER).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sane_ids_are_narrow() {
        for ok in [
            "a",
            "req-7",
            "550e8400-e29b-41d4-a716-446655440000",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV",
            "c2VjcmV0+/=",
            "svc:trace/span@host_1.2",
        ] {
            assert!(is_sane(ok.as_bytes()), "{ok}");
        }
        let long = "a".repeat(MAX_LEN + 1);
        for bad in [
            "",
            long.as_str(),
            "has space",
            "quote\"d",
            "semi;colon",
            "<script>",
            "tab\there",
            "caf\u{e9}",
        ] {
            assert!(!is_sane(bad.as_bytes()), "{bad:?}");
        }
        assert!(is_sane("a".repeat(MAX_LEN).as_bytes()));
    }

    #[test]
    fn generated_ids_are_sane_uuids_and_differ() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(is_sane(a.as_bytes()));
        let text = a.to_str().unwrap();
        assert_eq!(text.len(), 36);
        assert_eq!(uuid::Uuid::parse_str(text).unwrap().get_version_num(), 4);
    }

    #[test]
    fn ensure_keeps_replaces_and_collapses() {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_static("client-1"));
        assert_eq!(ensure(&mut h), "client-1");
        assert_eq!(request_id(&h), Some("client-1"));

        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_static("no spaces please"));
        let id = ensure(&mut h);
        assert_ne!(id, "no spaces please");
        assert_eq!(h.get(&HEADER), Some(&id));

        let mut h = HeaderMap::new();
        let id = ensure(&mut h);
        assert!(is_sane(id.as_bytes()));
        assert_eq!(h.get(&HEADER), Some(&id));

        let mut h = HeaderMap::new();
        h.append(HEADER, HeaderValue::from_static("same"));
        h.append(HEADER, HeaderValue::from_static("same"));
        assert_eq!(ensure(&mut h), "same");
        assert_eq!(h.get_all(&HEADER).iter().count(), 1);

        let mut h = HeaderMap::new();
        h.append(HEADER, HeaderValue::from_static("one"));
        h.append(HEADER, HeaderValue::from_static("two"));
        let id = ensure(&mut h);
        assert!(id != "one" && id != "two");
        assert_eq!(h.get_all(&HEADER).iter().count(), 1);
    }
}
