//! Replays the `multipart` fuzz regression inputs (`fixtures/regressions/multipart/`)
//! without the fuzzer: every input that ever crashed or hung the handler, plus a few
//! interesting corpus entries. Each must get an answer that keeps the API contract.

mod cases;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use tower::ServiceExt;
use wenzi_server::testing::TestBackend;
use wenzi_server::{router, AppState, KeyStore};

use cases::multipart as case;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_regressions_keep_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keys.db");
    let store = KeyStore::open(db.to_str().unwrap()).await.unwrap();
    let key = store
        .add("fuzz", None, None, wenzi_server::store::unix_now())
        .await
        .unwrap()
        .key;
    let backend = Arc::new(case::FuzzBackend(TestBackend::new()));
    let app = router(AppState::new(case::config(), store, backend));

    let inputs =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/regressions/multipart");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&inputs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "md"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no regression inputs in {}",
        inputs.display()
    );
    for path in files {
        let data = std::fs::read(&path).unwrap();
        let Some((req, expect)) = case::request(&data, &key) else {
            continue;
        };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let resp = tokio::time::timeout(Duration::from_secs(10), app.clone().oneshot(req))
            .await
            .unwrap_or_else(|_| panic!("{name}: no answer within 10 s"))
            .unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        case::check(&expect, status, &body);
    }
}
