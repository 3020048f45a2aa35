//! `wenzi-server`: the server with the deterministic test backend (feature `test-backend`).
//! For end-to-end tests (nginx + PostgreSQL, Chromium, load runs) until the `wenzi` CLI,
//! which serves the real engine, takes over. Same arguments as `wenzi serve` / `wenzi keys`.

use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use wenzi_server::testing::TestBackend;
use wenzi_server::{init_tracing, run_keys_command, serve, KeysArgs, ServeArgs};

#[derive(Parser)]
#[command(
    name = "wenzi-server",
    version,
    about = "wenzi OCR server (test backend build)"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendKind {
    /// Deterministic stand-in: answers lines derived from the bytes (see wenzi_server::testing).
    Test,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the HTTP server.
    Serve {
        #[command(flatten)]
        args: Box<ServeArgs>,
        /// OCR backend. This build only has the test backend.
        #[arg(long, value_enum)]
        backend: BackendKind,
        /// CPU milliseconds the test backend burns per image.
        #[arg(long, default_value_t = 0)]
        test_work_ms: u64,
    },
    /// Manage app keys.
    Keys(KeysArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Serve {
            args,
            backend: BackendKind::Test,
            test_work_ms,
        } => {
            init_tracing(args.log_format);
            let backend = Arc::new(TestBackend::with_work(Duration::from_millis(test_work_ms)));
            serve(args.to_config()?, backend).await
        }
        Cmd::Keys(k) => run_keys_command(&k).await,
    }
}
