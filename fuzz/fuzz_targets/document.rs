//! A document (PDF, multi-page TIFF, image) read page by page under small limits, and its
//! pages, with synthetic text from the input, through the TSV, hOCR, ALTO and searchable-PDF
//! writers. The input layout and the checks live with the regression replay
//! (`crates/document/tests/cases/document.rs`).
#![no_main]

use std::collections::BTreeSet;
use std::sync::{Mutex, Once};

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/document/tests/cases/document.rs"]
mod case;

/// libFuzzer's hook aborts on every panic, including those the PDF reader's `catch_unwind`
/// turns into `InvalidPdf` on purpose. This one lets a panic inside a registry crate (hayro)
/// unwind to that catch, printing each place once; any other panic still aborts. A panic that
/// escapes wenzi-document aborts in libFuzzer's own `catch_unwind` around the target.
fn hook() {
    static SEEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    std::panic::set_hook(Box::new(|info| {
        if case::is_third_party(info) {
            let place = info.location().map(|l| l.to_string()).unwrap_or_default();
            if SEEN.lock().map(|mut s| s.insert(place)).unwrap_or(false) {
                eprintln!("third-party panic (caught by wenzi-document): {info}");
            }
            return;
        }
        eprintln!("{info}");
        std::process::abort();
    }));
}

fuzz_target!(|data: &[u8]| {
    static HOOK: Once = Once::new();
    HOOK.call_once(hook);
    case::run(data)
});
