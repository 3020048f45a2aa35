//! `wenzi-server`: a self-hosted, drop-in replacement for an image-stream OCR HTTP API,
//! serving the wenzi OCR engine.
//!
//! - [`OcrBackend`]: the engine interface (the `wenzi` crate implements it).
//! - [`serve`] / [`bind`]: run the server ([`ServeConfig`], usually from [`ServeArgs`]).
//! - [`router`]: the HTTP application, callable in-process (tests, fuzzing).
//! - [`KeysArgs`] / [`run_keys_command`]: `wenzi keys ...` administration.
//!
//! See `docs/server.md` for the API contract and `docs/deploy.md` for deployment.

pub mod backend;
pub mod cli;
pub mod clientip;
pub mod http;
pub mod metrics;
pub mod pool;
pub mod ratelimit;
pub mod response;
pub mod server;
pub mod store;
pub mod testing;
pub mod tls;

pub use backend::{BackendError, JobOptions, OcrBackend, OcrOutput};
pub use cli::{
    init_tracing, keys_command_to, run_keys_command, KeysArgs, KeysCommand, LogFormat, ServeArgs,
};
pub use http::{router, AppConfig, AppState, API_PATH, DEMO_PATH};
pub use response::Code;
pub use server::{bind, serve, ServeConfig, Server, TlsFiles};
pub use store::{KeyRecord, KeyStatus, KeyStore};

/// Run a future (e.g. [`serve`] or [`run_keys_command`]) on a new multi-threaded tokio
/// runtime, for a synchronous `main` that has no runtime of its own.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the tokio runtime")
        .block_on(f)
}
