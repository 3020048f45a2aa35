//! Replays the `document` fuzz regression inputs (`fixtures/regressions/document/`) without
//! the fuzzer: every input that ever crashed, hung or blew the memory limit, plus a few
//! interesting corpus entries. Reading each document and writing its pages as TSV, hOCR, ALTO
//! and searchable PDF must give `Ok` or a typed error, never a panic. See docs/robustness.md.

#[path = "cases/document.rs"]
mod case;

#[path = "../../../fixtures/regressions/inputs.rs"]
mod inputs;

use std::sync::atomic::{AtomicBool, Ordering};

use std::time::{Duration, Instant};
use wenzi_document::{DocumentError, DocumentOptions, Pages};

/// Set by a panic in wenzi's own code, even one the PDF reader's `catch_unwind` swallows.
static OURS: AtomicBool = AtomicBool::new(false);

#[test]
fn document_regressions_never_panic() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !case::is_third_party(info) {
            OURS.store(true, Ordering::SeqCst);
        }
        default(info);
    }));
    for (name, bytes) in inputs::regression_inputs("document") {
        eprintln!("replaying {name}"); // shown when the test fails
        let t = Instant::now();
        case::run(&bytes);
        assert!(!OURS.load(Ordering::SeqCst), "{name}: wenzi code panicked");
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            t.elapsed()
        );
    }
}

/// The document part of a regression input (after its script).
fn document(name: &str) -> Vec<u8> {
    let all = inputs::regression_inputs("document");
    let (_, bytes) = all.iter().find(|(n, _)| n == name).expect(name);
    let k = u16::from_le_bytes([bytes[0], bytes[1]]) as usize;
    bytes[2 + k..].to_vec()
}

fn first_page(doc: &[u8]) -> Result<wenzi_document::PageImage, DocumentError> {
    Pages::open(case::engine(), doc, &DocumentOptions::default())?.image(0)
}

/// Found while writing the fuzz case: a 1.5 KB PDF whose 1000x1000 image stream is deflated
/// twice decoded to 400 MiB in hayro-syntax (a few KB more reach gigabytes). The stream's
/// decoded size is now bounded before hayro decodes it.
#[test]
fn twice_deflated_image_bomb_is_refused_before_decoding() {
    let err = first_page(&document("oom-image-flate-twice-400mib")).unwrap_err();
    assert!(
        matches!(&err, DocumentError::InvalidPage { page: 1, message } if message.contains("decompresses")),
        "{err}"
    );
}

/// The same bomb as the page's content stream (400 MiB of spaces after one image).
#[test]
fn twice_deflated_content_bomb_is_refused_before_decoding() {
    let err = first_page(&document("oom-content-flate-twice-400mib")).unwrap_err();
    assert!(
        matches!(&err, DocumentError::InvalidPage { page: 1, message } if message.contains("content decompresses")),
        "{err}"
    );
}

/// Found while writing the fuzz case (by reading hayro, not by a crash): hayro decodes a
/// JPEG 2000 image at its codestream's own size, so a 10x10 image dictionary over a
/// 60000x60000 codestream passed the pixel check made from the dictionary. The codestream's
/// header size is now checked before decoding.
#[test]
fn jpx_larger_than_its_dictionary_is_too_large_before_decoding() {
    let err = first_page(&document("jpx-60000x60000-in-a-10x10-image")).unwrap_err();
    assert!(
        matches!(
            err,
            DocumentError::PageTooLarge {
                page: 1,
                width: 60_000,
                height: 60_000,
                ..
            }
        ),
        "{err}"
    );
}

/// Found while writing the fuzz case: hayro decodes a JBIG2 image at its page information
/// segment's size, so a 10x10 image over a 65535x65535 JBIG2 page allocated 4.3 GB (an abort).
#[test]
fn jbig2_larger_than_its_dictionary_is_too_large_before_decoding() {
    let err = first_page(&document("oom-jbig2-65535x65535-in-a-10x10-image")).unwrap_err();
    assert!(
        matches!(
            err,
            DocumentError::PageTooLarge {
                width: 65_535,
                height: 65_535,
                ..
            }
        ),
        "{err}"
    );
}

/// Found while writing the fuzz case: hayro sizes a CCITT fax image by its `/Columns`, so a
/// 10x10 image with `/Columns 1000000000` allocated 10 GB (an abort).
#[test]
fn ccitt_columns_past_the_limit_are_too_large_before_decoding() {
    let err = first_page(&document("oom-ccitt-columns-1e9-in-a-10x10-image")).unwrap_err();
    assert!(
        matches!(
            err,
            DocumentError::PageTooLarge {
                width: 1_000_000_000,
                height: 10,
                ..
            }
        ),
        "{err}"
    );
}
