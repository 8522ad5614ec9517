//! Files in a prompt turned into text, for models without native file
//! input (the `file-parser` plugin's text engine): a `data:` URL is decoded
//! and a PDF's text extracted with `lopdf`; plain-text files are taken as
//! they are.
//!
//! Nothing here fetches: a file given by URL or by an uploaded file's id
//! cannot be read without I/O, so it is an error the caller reports.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use tollgate_schema::chat::FileData;

use crate::{Error, Result};

/// The most decompressed content one PDF page may have (lopdf's bound on
/// a page's content streams), so a small upload cannot inflate without
/// limit.
const MAX_PAGE_CONTENT_BYTES: usize = 64 * 1024 * 1024;

/// Standard base64, padding optional (clients differ).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The text of a file part, headed by its name when it has one:
/// `"<filename>\n\n<text>"`.
pub fn file_text(file: &FileData) -> Result<String> {
    let Some(data) = file.file_data.as_deref() else {
        return Err(invalid(if file.file_id.is_some() {
            "uploaded file ids cannot be parsed by this gateway; send the file as a data: URL in file_data"
        } else {
            "the file has no file_data"
        }));
    };
    let (media_type, bytes) = decode_data_url(data)?;
    let text = match media_type.as_str() {
        "application/pdf" => pdf_text(&bytes)?,
        t if t.starts_with("text/") || t == "application/json" => String::from_utf8(bytes)
            .map_err(|_| Error::InvalidFile(format!("the {t} file is not UTF-8 text")))?,
        // A client that does not know the type: a PDF says so itself.
        "application/octet-stream" | "" if bytes.starts_with(b"%PDF-") => pdf_text(&bytes)?,
        other => {
            return Err(Error::InvalidFile(format!(
                "files of type `{other}` cannot be turned into text; send a PDF or a text file"
            )));
        }
    };
    Ok(match file.filename.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => format!("{name}\n\n{text}"),
        None => text,
    })
}

/// A `data:<media type>[;base64],<payload>` URL's media type (lowercase,
/// parameters dropped) and decoded bytes.
pub fn decode_data_url(url: &str) -> Result<(String, Vec<u8>)> {
    let Some(rest) = url.strip_prefix("data:") else {
        return Err(invalid(
            "file_data must be a data: URL (data:application/pdf;base64,...); file URLs are not fetched",
        ));
    };
    let Some((header, payload)) = rest.split_once(',') else {
        return Err(invalid("the data: URL has no `,` before its payload"));
    };
    let mut params = header.split(';');
    let media_type = params
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if !params.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return Err(invalid("the data: URL must be base64 (`;base64,`)"));
    }
    // Line breaks and spaces are common in pasted base64.
    let compact: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = BASE64
        .decode(compact.as_bytes())
        .map_err(|e| Error::InvalidFile(format!("file_data is not valid base64: {e}")))?;
    Ok((media_type, bytes))
}

/// The text of every page of a PDF, pages separated by a blank line.
pub fn pdf_text(bytes: &[u8]) -> Result<String> {
    if !bytes.starts_with(b"%PDF-") {
        return Err(invalid(
            "the file is not a PDF (it does not start with %PDF-)",
        ));
    }
    let doc = lopdf::Document::load_mem(bytes)
        .map_err(|e| Error::InvalidFile(format!("the PDF cannot be read: {e}")))?;
    if doc.is_encrypted() {
        return Err(invalid("the PDF is encrypted"));
    }
    let mut pages = Vec::new();
    for number in doc.get_pages().keys() {
        let text = doc
            .extract_text_with_limit(&[*number], MAX_PAGE_CONTENT_BYTES)
            .map_err(|e| {
                Error::InvalidFile(format!("the text of PDF page {number} cannot be read: {e}"))
            })?;
        pages.push(text.trim().to_owned());
    }
    Ok(pages.join("\n\n"))
}

fn invalid(reason: &str) -> Error {
    Error::InvalidFile(reason.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(data: &str, name: Option<&str>) -> FileData {
        FileData {
            filename: name.map(str::to_owned),
            file_data: Some(data.to_owned()),
            ..FileData::default()
        }
    }

    #[test]
    fn text_files_are_taken_as_they_are() {
        // "hello, file" in base64.
        let f = file("data:text/plain;base64,aGVsbG8sIGZpbGU=", Some("a.txt"));
        assert_eq!(file_text(&f).unwrap(), "a.txt\n\nhello, file");
        let f = file("data:text/plain;charset=utf-8;base64,aGVsbG8sIGZpbGU", None);
        assert_eq!(file_text(&f).unwrap(), "hello, file");
    }

    /// `fixtures/files/hello.pdf`, written by `make_pdf.py` beside it: two
    /// pages, "Tollgate reads PDFs." and "Page two says hello.".
    const HELLO_PDF: &[u8] = include_bytes!("../../../fixtures/files/hello.pdf");

    #[test]
    fn a_pdf_gives_the_text_of_its_pages() {
        let text = pdf_text(HELLO_PDF).unwrap();
        assert_eq!(text, "Tollgate reads PDFs.\n\nPage two says hello.");
        let url = format!("data:application/pdf;base64,{}", BASE64.encode(HELLO_PDF));
        assert_eq!(
            file_text(&file(&url, Some("hello.pdf"))).unwrap(),
            "hello.pdf\n\nTollgate reads PDFs.\n\nPage two says hello."
        );
    }

    #[test]
    fn bad_input_is_named() {
        let reason = |f: &FileData| file_text(f).unwrap_err().to_string();
        assert!(reason(&file("https://x/a.pdf", None)).contains("data: URL"));
        assert!(reason(&file("data:application/pdf;base64,@@@", None)).contains("base64"));
        assert!(reason(&file("data:application/pdf,abc", None)).contains("base64"));
        // Valid base64 of "not a pdf".
        assert!(
            reason(&file("data:application/pdf;base64,bm90IGEgcGRm", None)).contains("not a PDF")
        );
        // "%PDF-1.4 garbage": the header, then nothing a reader can use.
        assert!(
            reason(&file(
                "data:application/pdf;base64,JVBERi0xLjQgZ2FyYmFnZQ==",
                None
            ))
            .contains("cannot be read")
        );
        assert!(reason(&file("data:image/png;base64,AAAA", None)).contains("image/png"));
        let by_id = FileData {
            file_id: Some("file-1".into()),
            ..FileData::default()
        };
        assert!(reason(&by_id).contains("file ids"));
    }
}
