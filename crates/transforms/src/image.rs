//! Token cost of images (OpenAI's documented rule) and the dimensions of
//! PNG, JPEG, GIF and WebP images read from their headers.
//!
//! OpenAI's vision guide (GPT-4o / GPT-4 Turbo class models): a `low`
//! detail image costs 85 tokens; a `high` detail image is first scaled to
//! fit in a 2048 × 2048 square, then so that its shortest side is 768 px
//! (both only ever scale down), and costs 85 + 170 per 512 px tile
//! covering it. `auto` lets the provider choose, so it is counted as
//! `high`, the larger. When the dimensions cannot be known (an `http(s)`
//! URL, or a data URL whose header is unreadable) a `high` image is counted
//! at [`UNKNOWN_IMAGE_TOKENS`], the most any image can cost under the
//! rule: an image is never counted at less than it may cost.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Cost of a `low` detail image, and the base cost of a `high` one.
pub const BASE_IMAGE_TOKENS: u64 = 85;
/// Cost of one 512 × 512 tile of a `high` detail image.
pub const TILE_TOKENS: u64 = 170;
/// Cost of a `high` or `auto` image of unknown size: 85 + 170 × 8, the
/// largest possible (a 768 × 2048 image after scaling is 2 × 4 tiles).
pub const UNKNOWN_IMAGE_TOKENS: u64 = BASE_IMAGE_TOKENS + TILE_TOKENS * 8;

/// How much of a data URL's base64 payload is decoded to find the image
/// size: JPEG's frame header may follow large EXIF segments.
const HEADER_PREFIX_CHARS: usize = 256 * 1024;

/// Token cost of an image of `width` × `height` pixels at `detail`
/// (`low`, `high`, `auto` or absent; anything else counts as `high`).
pub fn image_tokens(width: u32, height: u32, detail: Option<&str>) -> u64 {
    if is_low(detail) {
        return BASE_IMAGE_TOKENS;
    }
    let (mut w, mut h) = (f64::from(width.max(1)), f64::from(height.max(1)));
    let longest = w.max(h);
    if longest > 2048.0 {
        let s = 2048.0 / longest;
        w *= s;
        h *= s;
    }
    let shortest = w.min(h);
    if shortest > 768.0 {
        let s = 768.0 / shortest;
        w *= s;
        h *= s;
    }
    // Both sides are at most 2048 here, so the casts are exact.
    let tiles = (w / 512.0).ceil() as u64 * (h / 512.0).ceil() as u64;
    BASE_IMAGE_TOKENS + TILE_TOKENS * tiles
}

/// Token cost of an `image_url` part: from the image's dimensions when the
/// URL is a `data:` URL with a readable header, else
/// [`UNKNOWN_IMAGE_TOKENS`] (or 85 at `low` detail).
pub fn image_url_tokens(url: &str, detail: Option<&str>) -> u64 {
    if is_low(detail) {
        return BASE_IMAGE_TOKENS;
    }
    match data_url_prefix(url).and_then(|bytes| image_dimensions(&bytes)) {
        Some((w, h)) => image_tokens(w, h, detail),
        None => UNKNOWN_IMAGE_TOKENS,
    }
}

fn is_low(detail: Option<&str>) -> bool {
    detail.is_some_and(|d| d.eq_ignore_ascii_case("low"))
}

/// The payload of a base64 `data:` URL (its first 192 KiB at most).
fn data_url_prefix(url: &str) -> Option<Vec<u8>> {
    let rest = url.strip_prefix("data:")?;
    let (meta, payload) = rest.split_once(',')?;
    if !meta.ends_with(";base64") {
        return None;
    }
    // Base64 is ASCII: work on bytes, so a stray multi-byte character
    // only makes decoding fail.
    let payload = payload.trim_start().as_bytes();
    let mut take = payload.len().min(HEADER_PREFIX_CHARS);
    take -= take % 4;
    let mut prefix = &payload[..take];
    while let [rest @ .., b'='] = prefix {
        prefix = rest;
    }
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    const LENIENT_URL: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    LENIENT
        .decode(prefix)
        .or_else(|_| LENIENT_URL.decode(prefix))
        .ok()
}

/// Width and height of a PNG, JPEG, GIF or WebP image, read from the
/// start of its bytes; `None` for other formats or truncated headers.
pub fn image_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return png(bytes);
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Some((u32::from(le16(bytes, 6)?), u32::from(le16(bytes, 8)?)));
    }
    if bytes.starts_with(&[0xFF, 0xD8]) {
        return jpeg(bytes);
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return webp(bytes);
    }
    None
}

fn png(b: &[u8]) -> Option<(u32, u32)> {
    if b.get(12..16)? != b"IHDR" {
        return None;
    }
    Some((be32(b, 16)?, be32(b, 20)?))
}

fn jpeg(b: &[u8]) -> Option<(u32, u32)> {
    let mut i = 2;
    loop {
        // Markers start with 0xFF, possibly padded with more 0xFF bytes.
        if *b.get(i)? != 0xFF {
            return None;
        }
        while *b.get(i)? == 0xFF {
            i += 1;
        }
        let marker = *b.get(i)?;
        i += 1;
        match marker {
            // Standalone markers: TEM, RSTn, SOI.
            0x01 | 0xD0..=0xD8 => continue,
            // End of image or start of scan before any frame header.
            0xD9 | 0xDA => return None,
            // SOFn frame headers (not DHT C4, JPG C8, DAC CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let h = be16(b, i + 3)?;
                let w = be16(b, i + 5)?;
                return Some((u32::from(w), u32::from(h)));
            }
            _ => {
                let len = usize::from(be16(b, i)?);
                if len < 2 {
                    return None;
                }
                i += len;
            }
        }
    }
}

fn webp(b: &[u8]) -> Option<(u32, u32)> {
    match b.get(12..16)? {
        b"VP8 " => {
            // Frame tag (3 bytes) at 20, start code 9d 01 2a at 23.
            if b.get(23..26)? != [0x9d, 0x01, 0x2a] {
                return None;
            }
            let w = le16(b, 26)? & 0x3FFF;
            let h = le16(b, 28)? & 0x3FFF;
            Some((u32::from(w), u32::from(h)))
        }
        b"VP8L" => {
            if *b.get(20)? != 0x2F {
                return None;
            }
            let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => {
            let w = le24(b, 24)? + 1;
            let h = le24(b, 27)? + 1;
            Some((w, h))
        }
        _ => None,
    }
}

fn be16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

fn le16(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(i..i + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

fn le24(b: &[u8], i: usize) -> Option<u32> {
    let s = b.get(i..i + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked examples of OpenAI's vision guide.
    #[test]
    fn openai_documented_examples() {
        // 1024 x 1024 high: scaled to 768 x 768, 4 tiles.
        assert_eq!(image_tokens(1024, 1024, Some("high")), 765);
        // 2048 x 4096 high: 1024 x 2048, then 768 x 1536, 6 tiles.
        assert_eq!(image_tokens(2048, 4096, Some("high")), 1105);
        // 4096 x 8192 low.
        assert_eq!(image_tokens(4096, 8192, Some("low")), 85);
    }

    #[test]
    fn small_images_are_not_upscaled() {
        assert_eq!(image_tokens(512, 512, None), 85 + 170);
        assert_eq!(image_tokens(1, 1, Some("auto")), 85 + 170);
        assert_eq!(image_tokens(0, 0, None), 85 + 170);
    }

    #[test]
    fn no_image_costs_more_than_the_unknown_default() {
        for (w, h) in [
            (768, 2048),
            (700, 4000),
            (100_000, 3),
            (3, 100_000),
            (4000, 4000),
        ] {
            assert!(image_tokens(w, h, None) <= UNKNOWN_IMAGE_TOKENS, "{w}x{h}");
        }
        assert_eq!(image_tokens(768, 2048, None), UNKNOWN_IMAGE_TOKENS);
    }

    fn png_bytes(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(w.to_be_bytes());
        b.extend(h.to_be_bytes());
        b.extend([8, 6, 0, 0, 0]);
        b
    }

    #[test]
    fn reads_png_gif_jpeg_webp_headers() {
        assert_eq!(image_dimensions(&png_bytes(640, 480)), Some((640, 480)));
        let gif = b"GIF89a\x40\x01\xf0\x00\x00\x00\x00";
        assert_eq!(image_dimensions(gif), Some((320, 240)));
        // SOI, APP0 (16 bytes), SOF0 with height 600, width 800.
        let mut jpg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        jpg.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        jpg.extend([0xFF, 0xC0, 0x00, 0x11, 0x08, 0x02, 0x58, 0x03, 0x20, 0x03]);
        assert_eq!(image_dimensions(&jpg), Some((800, 600)));
        let mut vp8x = b"RIFF\0\0\0\0WEBPVP8X\x0a\0\0\0\0\0\0\0".to_vec();
        vp8x.extend([0x7F, 0x07, 0x00, 0x37, 0x04, 0x00]); // 1920 x 1080
        assert_eq!(image_dimensions(&vp8x), Some((1920, 1080)));
        let mut vp8l = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        let bits: u32 = 99 | (49 << 14); // 100 x 50
        vp8l.extend(bits.to_le_bytes());
        assert_eq!(image_dimensions(&vp8l), Some((100, 50)));
        let mut vp8 = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a".to_vec();
        vp8.extend([0x40, 0x01, 0xF0, 0x00]); // 320 x 240
        assert_eq!(image_dimensions(&vp8), Some((320, 240)));
        assert_eq!(image_dimensions(b"not an image"), None);
        assert_eq!(image_dimensions(&[0xFF, 0xD8, 0xFF]), None);
    }

    #[test]
    fn data_urls_are_measured_and_urls_are_not() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(png_bytes(1024, 1024));
        let url = format!("data:image/png;base64,{b64}");
        assert_eq!(image_url_tokens(&url, None), 765);
        assert_eq!(image_url_tokens(&url, Some("low")), 85);
        assert_eq!(
            image_url_tokens("https://example.com/cat.png", None),
            UNKNOWN_IMAGE_TOKENS
        );
        assert_eq!(
            image_url_tokens("data:image/png;base64,!!!!", None),
            UNKNOWN_IMAGE_TOKENS
        );
    }
}
