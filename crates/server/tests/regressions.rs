//! Replays the `multipart` fuzz regression inputs (`fixtures/regressions/multipart/`)
//! without the fuzzer: every input that ever crashed or hung the handler, plus a few
//! interesting corpus entries. Each must get an answer that keeps the API contract.

mod cases;

#[path = "../../../fixtures/regressions/inputs.rs"]
mod inputs;

use std::time::Duration;

use http_body_util::BodyExt;
use tower::ServiceExt;

use cases::multipart as case;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_regressions_keep_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let (app, key) = case::app(&dir.path().join("keys.db")).await;
    for (name, data) in inputs::regression_inputs("multipart") {
        let Some((req, expect)) = case::request(&data, &key) else {
            continue;
        };
        let resp = tokio::time::timeout(Duration::from_secs(10), app.clone().oneshot(req))
            .await
            .unwrap_or_else(|_| panic!("{name}: no answer within 10 s"))
            .unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        case::check(&expect, status, &body);
    }
}
