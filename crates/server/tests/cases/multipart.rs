//! The `multipart` fuzz case: shared by `fuzz/fuzz_targets/multipart.rs` and the regression
//! replay in `crates/server/tests/regressions.rs`, so both build exactly the same requests.
//!
//! Input layout: byte 0 = mode bits; then header lines `Name: value\n` up to an empty line
//! (`\n\n`); the rest is the body. Mode bits 0-1 pick the target: 0 = keyed endpoint with a
//! valid key, 1 = keyed endpoint with the first header line's value as the query string,
//! 2 = demo endpoint, 3 = a path taken from the first header line. Bit 2 adds a well-formed
//! multipart Content-Type (fixed boundary) unless the input sets one; bit 3 sends the body
//! in 7-byte chunks (a streamed upload); bit 4 uses GET instead of POST.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::Router;
use http::{HeaderName, HeaderValue, Request, StatusCode};
use wenzi_server::backend::{BackendError, JobOptions, OcrBackend, OcrOutput};
use wenzi_server::testing::TestBackend;
use wenzi_server::{router, AppConfig, AppState, KeyStore, API_PATH, DEMO_PATH};

pub const BOUNDARY: &str = "----wenziTestBoundary7MA4YWxkTrZu0gW";

/// The test backend without its `TEST:` directives (sleep/panic would only test the harness).
pub struct FuzzBackend(pub TestBackend);

impl OcrBackend for FuzzBackend {
    fn recognize(&self, image: &[u8], job: &JobOptions) -> Result<OcrOutput, BackendError> {
        if image.starts_with(b"TEST:") {
            return Err(BackendError::InvalidImage("directive".into()));
        }
        self.0.recognize(image, job)
    }
}

/// Small limits so that the fuzzer reaches them.
/// The application under test, with its key database at `db` and one valid key.
pub async fn app(db: &Path) -> (Router, String) {
    let store = KeyStore::open(db.to_str().unwrap()).await.unwrap();
    let key = store
        .add("fuzz", None, None, wenzi_server::store::unix_now())
        .await
        .unwrap()
        .key;
    let backend = Arc::new(FuzzBackend(TestBackend::new()));
    (router(AppState::new(config(), store, backend)), key)
}

pub fn config() -> AppConfig {
    AppConfig {
        rate: 0.0,
        demo_rate: 0.0,
        workers: 1,
        queue_size: 4,
        upload_slots: 16,
        max_body: 64 * 1024,
        demo_max_body: 16 * 1024,
        timeout: Duration::from_secs(5),
        cors_origins: vec!["*".into()],
        ..AppConfig::default()
    }
}

/// What the answer must look like.
pub struct Expect {
    /// The answer must be the JSON contract (a POST to an OCR endpoint).
    pub json: bool,
}

/// Builds the request an input describes, or `None` when it describes no valid request.
pub fn request(data: &[u8], key: &str) -> Option<(Request<Body>, Expect)> {
    let (&mode, rest) = data.split_first()?;
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (&rest[..0], rest),
    };
    let head = String::from_utf8_lossy(head);
    let first = head.lines().next().unwrap_or("");
    let first_value = first.split_once(':').map_or(first, |(_, v)| v).trim();

    let uri = match mode & 3 {
        0 => format!("{API_PATH}?appkey={key}"),
        1 => format!("{API_PATH}?{first_value}"),
        2 => DEMO_PATH.to_string(),
        _ => first_value.to_string(),
    };
    let post = mode & 16 == 0;
    let mut builder = Request::builder()
        .method(if post { "POST" } else { "GET" })
        .uri(uri.as_str());
    let parsed = builder.uri_ref()?.clone();
    let mut has_ct = false;
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) else {
            continue;
        };
        has_ct |= name == http::header::CONTENT_TYPE;
        builder = builder.header(name, value);
    }
    if mode & 4 != 0 && !has_ct {
        builder = builder.header(
            http::header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        );
    }
    let body = if mode & 8 != 0 {
        let chunks: Vec<Result<Bytes, std::io::Error>> = body
            .chunks(7)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    } else {
        Body::from(body.to_vec())
    };
    let path = parsed.path();
    let json = post && (path == API_PATH || path == DEMO_PATH);
    Some((builder.body(body).ok()?, Expect { json }))
}

/// Checks an answer against the contract; panics (a fuzz finding) when it is broken.
pub fn check(expect: &Expect, status: StatusCode, body: &[u8]) {
    if expect.json && status != StatusCode::NOT_FOUND {
        let ok = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .is_some_and(|v| v["DataStatus"]["StatusCode"].is_i64());
        assert!(
            ok,
            "answer {status} is not the JSON contract: {:?}",
            String::from_utf8_lossy(body)
        );
    }
}
