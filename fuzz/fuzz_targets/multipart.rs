//! Arbitrary request heads and bodies into the HTTP application, in-process (no sockets),
//! with the deterministic test backend in place of the OCR engine. The input layout and the
//! answer checks live with the regression replay (`crates/server/tests/cases/multipart.rs`).
#![no_main]

use std::sync::OnceLock;

use axum::Router;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

#[path = "../../crates/server/tests/cases/multipart.rs"]
mod case;

struct App {
    rt: tokio::runtime::Runtime,
    router: Router,
    key: String,
}

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let db = std::env::temp_dir().join(format!("wenzi-fuzz-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&db);
        let (router, key) = rt.block_on(case::app(&db));
        App { rt, router, key }
    })
}

fuzz_target!(|data: &[u8]| {
    let app = app();
    let Some((req, expect)) = case::request(data, &app.key) else {
        return;
    };
    app.rt.block_on(async {
        let resp = app.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        case::check(&expect, status, &body);
    });
});
