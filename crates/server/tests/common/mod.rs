#![allow(dead_code)]
//! Helpers shared by the integration tests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use wenzi_server::testing::{multipart_body, TestBackend};
use wenzi_server::{router, AppConfig, AppState, KeyStore, OcrBackend};

pub struct TestApp {
    pub state: AppState,
    pub router: Router,
    pub store: KeyStore,
    pub key: String,
    _dir: tempfile::TempDir,
}

/// Fast, permissive defaults for tests; rate limits off unless a test turns them on.
pub fn test_config() -> AppConfig {
    AppConfig {
        rate: 0.0,
        demo_rate: 0.0,
        workers: 2,
        queue_size: 8,
        upload_slots: 64,
        timeout: Duration::from_secs(10),
        ..AppConfig::default()
    }
}

pub async fn app_with(cfg: AppConfig) -> TestApp {
    app_with_backend(cfg, Arc::new(TestBackend::new())).await
}

pub async fn app_with_backend(cfg: AppConfig, backend: Arc<dyn OcrBackend>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keys.db");
    let store = KeyStore::open(db.to_str().unwrap()).await.unwrap();
    let key = store
        .add("test", None, None, wenzi_server::store::unix_now())
        .await
        .unwrap()
        .key;
    let state = AppState::new(cfg, store.clone(), backend);
    TestApp {
        router: router(state.clone()),
        state,
        store,
        key,
        _dir: dir,
    }
}

pub async fn app() -> TestApp {
    app_with(test_config()).await
}

pub fn upload(path: &str, field: &str, data: &[u8]) -> Request<Body> {
    let (ct, body) = multipart_body(field, "img.bin", data);
    Request::post(path)
        .header("content-type", ct)
        .body(Body::from(body))
        .unwrap()
}

pub fn from_ip(mut req: Request<Body>, ip: &str) -> Request<Body> {
    let addr: SocketAddr = format!("{ip}:5555").parse().unwrap();
    req.extensions_mut().insert(ConnectInfo(addr));
    req
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub json: Value,
    pub raw: String,
}

impl Answer {
    pub fn code(&self) -> i64 {
        self.json["DataStatus"]["StatusCode"].as_i64().unwrap()
    }
    pub fn desc(&self) -> String {
        self.json["DataStatus"]["StatusDescription"]
            .as_str()
            .unwrap()
            .to_string()
    }
    pub fn lines(&self) -> Vec<String> {
        self.json["Data"]["ResultText"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    }
}

pub async fn call(router: &Router, req: Request<Body>) -> Answer {
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json: Value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)));
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/json; charset=utf-8"
    );
    Answer {
        status,
        headers,
        json,
        raw: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// Check the contract's shape for an error answer.
pub fn assert_error(a: &Answer, code: i64) {
    assert_eq!(a.code(), code, "{}", a.json);
    assert!(a.json["Data"].is_null(), "{}", a.json);
    assert_eq!(a.json["DataStatus"]["DataTotalCount"], 0);
    assert!(!a.desc().is_empty());
}
