//! Command-line arguments of `wenzi serve` and `wenzi keys` (clap derive), ready to be
//! flattened into the `wenzi` CLI.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};

use crate::clientip::parse_net;
use crate::http::{
    default_queue_size, default_threads, default_upload_memory, default_upload_slots,
    default_workers, AppConfig,
};
use crate::server::{ServeConfig, TlsFiles};
use crate::store::{format_ts, parse_expires, unix_now, KeyStatus, KeyStore};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Options of `wenzi serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (use `0.0.0.0:PORT` or `[::]:PORT` to accept remote clients).
    #[arg(long, env = "WENZI_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Key database: a SQLite file path (created if missing) or a postgres:// URL.
    #[arg(long, env = "WENZI_DATABASE", default_value = "wenzi.db")]
    pub database: String,
    /// PEM certificate chain; with --tls-key, serve HTTPS (TLS 1.2/1.3, HTTP/2 via ALPN).
    #[arg(long, env = "WENZI_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "WENZI_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Recognitions running at once, each on `cores / workers` compute threads [default:
    /// half the CPU cores, at least 1].
    #[arg(long, env = "WENZI_WORKERS")]
    pub workers: Option<usize>,
    /// Jobs that may wait for a worker; when full, requests are answered 502 at once
    /// [default: max(16, 4 x workers)].
    #[arg(long, env = "WENZI_QUEUE_SIZE")]
    pub queue_size: Option<usize>,
    /// Per-request deadline in seconds (upload + queue + recognition); past it: -1.
    #[arg(long, env = "WENZI_REQUEST_TIMEOUT", default_value_t = 30.0)]
    pub request_timeout: f64,
    /// Largest image file on the keyed endpoint (e.g. 10MiB, 512KiB, 1048576).
    #[arg(long, env = "WENZI_MAX_BODY", default_value = "10MiB", value_parser = parse_size)]
    pub max_body: usize,
    /// Largest image file on the demo endpoint.
    #[arg(long, env = "WENZI_DEMO_MAX_BODY", default_value = "2MiB", value_parser = parse_size)]
    pub demo_max_body: usize,
    /// Requests per second per client IP on the keyed endpoint (0 = unlimited).
    #[arg(long, env = "WENZI_RATE_LIMIT", default_value_t = 5.0)]
    pub rate_limit: f64,
    /// Burst size of the per-IP token bucket on the keyed endpoint.
    #[arg(long, env = "WENZI_RATE_BURST", default_value_t = 10)]
    pub rate_burst: u32,
    /// Requests per second per client IP on the demo endpoint (0 = unlimited).
    #[arg(long, env = "WENZI_DEMO_RATE_LIMIT", default_value_t = 1.0)]
    pub demo_rate_limit: f64,
    /// Burst size on the demo endpoint.
    #[arg(long, env = "WENZI_DEMO_RATE_BURST", default_value_t = 2)]
    pub demo_rate_burst: u32,
    /// Client IPs tracked at most per rate limiter (memory bound; idle ones are evicted).
    #[arg(long, default_value_t = 100_000)]
    pub rate_limit_max_clients: usize,
    /// Proxy address or CIDR whose X-Forwarded-For / X-Real-IP is trusted (repeatable or
    /// comma-separated), e.g. 127.0.0.1 or 10.0.0.0/8.
    #[arg(long, env = "WENZI_TRUSTED_PROXY", value_delimiter = ',')]
    pub trusted_proxy: Vec<String>,
    /// Origin allowed to call the API from browsers (repeatable or comma-separated; "*" for
    /// any). Without it no CORS headers are sent (the built-in demo page needs none).
    #[arg(long, env = "WENZI_CORS_ORIGIN", value_delimiter = ',')]
    pub cors_origin: Vec<String>,
    /// Do not serve the demo page and demo endpoint.
    #[arg(long, env = "WENZI_NO_DEMO")]
    pub no_demo: bool,
    /// Do not create a key when the key table is empty.
    #[arg(long)]
    pub no_initial_key: bool,
    /// Open connections at most.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Request bodies held in memory at once at most [default: 2 x (workers + queue) + 16].
    #[arg(long)]
    pub upload_slots: Option<usize>,
    /// Bytes of uploaded images held in memory at once (received, queued or being
    /// recognized); beyond: 502 [default: 64MiB or 2 x --max-body].
    #[arg(long, env = "WENZI_UPLOAD_MEMORY", value_parser = parse_size)]
    pub upload_memory: Option<usize>,
    /// Seconds to let open requests finish after SIGTERM.
    #[arg(long, default_value_t = 30.0)]
    pub shutdown_grace: f64,
    /// Most pages of an uploaded PDF or multi-page TIFF (read one after another by one
    /// worker); more: -1.
    #[arg(long, env = "WENZI_MAX_PDF_PAGES", default_value_t = crate::backend::DEFAULT_MAX_PAGES)]
    pub max_pdf_pages: usize,
    /// Log format on stderr (level from RUST_LOG, default info).
    #[arg(long, env = "WENZI_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl Default for ServeArgs {
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct W {
            #[command(flatten)]
            a: ServeArgs,
        }
        W::parse_from(["serve"]).a
    }
}

impl ServeArgs {
    /// Resolve defaults and check the arguments.
    pub fn to_config(&self) -> anyhow::Result<ServeConfig> {
        let workers = self.workers.unwrap_or_else(default_workers).max(1);
        let queue_size = self
            .queue_size
            .unwrap_or_else(|| default_queue_size(workers))
            .max(1);
        let secs = |v: f64, what: &str| -> anyhow::Result<Duration> {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .with_context(|| format!("{what} must be a positive number of seconds"))
        };
        let trusted_proxies = self
            .trusted_proxy
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| parse_net(s).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if self.max_body == 0 || self.demo_max_body == 0 {
            anyhow::bail!("--max-body and --demo-max-body must be > 0");
        }
        if self.max_pdf_pages == 0 {
            anyhow::bail!("--max-pdf-pages must be at least 1");
        }
        Ok(ServeConfig {
            listen: self.listen.clone(),
            database: self.database.clone(),
            tls: match (&self.tls_cert, &self.tls_key) {
                (Some(c), Some(k)) => Some(TlsFiles {
                    cert: c.clone(),
                    key: k.clone(),
                }),
                (None, None) => None,
                _ => anyhow::bail!("--tls-cert and --tls-key go together"),
            },
            app: AppConfig {
                max_body: self.max_body,
                demo_max_body: self.demo_max_body,
                timeout: secs(self.request_timeout, "--request-timeout")?,
                rate: self.rate_limit,
                burst: self.rate_burst.max(1),
                demo_rate: self.demo_rate_limit,
                demo_burst: self.demo_rate_burst.max(1),
                rate_limit_max_clients: self.rate_limit_max_clients.max(16),
                workers,
                threads: default_threads(workers),
                queue_size,
                upload_slots: self
                    .upload_slots
                    .unwrap_or_else(|| default_upload_slots(workers, queue_size)),
                upload_memory: self.upload_memory.unwrap_or_else(|| {
                    default_upload_memory(self.max_body.max(self.demo_max_body))
                }),
                trusted_proxies,
                cors_origins: self.cors_origin.clone(),
                demo: !self.no_demo,
                max_pdf_pages: self.max_pdf_pages,
            },
            initial_key: !self.no_initial_key,
            max_connections: self.max_connections.max(1),
            shutdown_grace: secs(self.shutdown_grace, "--shutdown-grace")?,
            http2_max_streams: 64,
        })
    }
}

/// Parse a size: `1048576`, `512K`/`512KiB`/`512KB`, `10M`/`10MiB`/`10MB`, `1G` (all binary
/// multiples of 1024).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("unknown size unit in {s:?} (use K, M or G)")),
    };
    let v = num * mult;
    if !v.is_finite() || v < 0.0 || v > usize::MAX as f64 {
        return Err(format!("size out of range: {s:?}"));
    }
    Ok(v as usize)
}

/// Install the global tracing subscriber (stderr; level from RUST_LOG, default `info`).
/// Does nothing if one is installed already.
pub fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,rustls=warn"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => b.try_init(),
        LogFormat::Json => b.json().flatten_event(true).try_init(),
    };
}

/// `wenzi keys ...`
#[derive(Debug, Clone, Args)]
pub struct KeysArgs {
    /// Key database: a SQLite file path (created if missing) or a postgres:// URL.
    #[arg(
        long,
        env = "WENZI_DATABASE",
        default_value = "wenzi.db",
        global = true
    )]
    pub database: String,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, Clone, Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (only the key goes to stdout).
    Add {
        /// Who or what the key is for.
        #[arg(long)]
        name: String,
        /// Total successful requests allowed (default: unlimited).
        #[arg(long)]
        quota: Option<i64>,
        /// YYYY-MM-DD: valid through that day (UTC), expiring at the next midnight UTC; or
        /// an RFC 3339 timestamp for the exact expiry instant. Default: never.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List all keys.
    List,
    /// Disable a key (requests get 503).
    Disable { key: String },
    /// Enable a disabled key.
    Enable { key: String },
    /// Show a key's usage and state.
    Usage { key: String },
    /// Change a key's quota ("unlimited" to remove it).
    SetQuota { key: String, quota: String },
    /// Change a key's expiry (same forms as `add --expires`, or "never").
    SetExpires { key: String, expires: String },
}

fn status_word(s: KeyStatus) -> &'static str {
    match s {
        KeyStatus::Ok => "active",
        KeyStatus::NotFound => "not found",
        KeyStatus::Disabled => "disabled",
        KeyStatus::Expired => "expired",
        KeyStatus::QuotaExceeded => "quota used up",
    }
}

/// Run a `wenzi keys` subcommand, printing to stdout.
pub async fn run_keys_command(args: &KeysArgs) -> anyhow::Result<()> {
    let mut out = Vec::new();
    let r = keys_command_to(args, &mut out).await;
    std::io::stdout().write_all(&out)?;
    r
}

/// Run a `wenzi keys` subcommand, writing what it prints to `out`.
pub async fn keys_command_to(args: &KeysArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = KeyStore::open(&args.database).await.with_context(|| {
        format!(
            "opening key database {}",
            crate::server::redact(&args.database)
        )
    })?;
    let now = unix_now();
    let r = keys_inner(&store, &args.command, now, out).await;
    store.close().await;
    r
}

async fn keys_inner(
    store: &KeyStore,
    cmd: &KeysCommand,
    now: i64,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match cmd {
        KeysCommand::Add {
            name,
            quota,
            expires,
        } => {
            let exp = expires.as_deref().map(parse_expires).transpose()?;
            let rec = store.add(name, *quota, exp, now).await?;
            writeln!(out, "{}", rec.key)?;
            eprintln!(
                "created key for {:?}: quota {}, expires {}",
                rec.name,
                rec.quota.map_or("unlimited".into(), |q| q.to_string()),
                rec.expires_at.map_or("never".into(), format_ts)
            );
        }
        KeysCommand::List => {
            writeln!(
                out,
                "{:<32}  {:<8}  {:>10}  {:>10}  {:<23}  {:<23}  name",
                "key", "state", "used", "quota", "created", "expires_at"
            )?;
            for k in store.list().await? {
                writeln!(
                    out,
                    "{:<32}  {:<8}  {:>10}  {:>10}  {:<23}  {:<23}  {}",
                    k.key,
                    match k.status(now) {
                        KeyStatus::QuotaExceeded => "used-up",
                        s => status_word(s),
                    },
                    k.used,
                    k.quota.map_or("unlimited".into(), |q| q.to_string()),
                    format_ts(k.created),
                    k.expires_at.map_or("never".into(), format_ts),
                    k.name
                )?;
            }
        }
        KeysCommand::Disable { key } | KeysCommand::Enable { key } => {
            let on = matches!(cmd, KeysCommand::Enable { .. });
            if !store.set_enabled(key, on).await? {
                anyhow::bail!("no such key: {key}");
            }
            writeln!(out, "{} {key}", if on { "enabled" } else { "disabled" })?;
        }
        KeysCommand::Usage { key } => {
            let Some(k) = store.get(key).await? else {
                anyhow::bail!("no such key: {key}");
            };
            writeln!(out, "key:        {}", k.key)?;
            writeln!(out, "name:       {}", k.name)?;
            writeln!(out, "state:      {}", status_word(k.status(now)))?;
            writeln!(out, "used:       {}", k.used)?;
            writeln!(
                out,
                "quota:      {}",
                k.quota.map_or("unlimited".into(), |q| q.to_string())
            )?;
            writeln!(
                out,
                "remaining:  {}",
                k.quota
                    .map_or("unlimited".into(), |q| (q - k.used).max(0).to_string())
            )?;
            writeln!(out, "created:    {}", format_ts(k.created))?;
            writeln!(
                out,
                "expires_at: {}",
                k.expires_at.map_or("never".into(), format_ts)
            )?;
        }
        KeysCommand::SetQuota { key, quota } => {
            let q = if quota.eq_ignore_ascii_case("unlimited") {
                None
            } else {
                let q: i64 = quota
                    .parse()
                    .context("quota must be a number or \"unlimited\"")?;
                anyhow::ensure!(q >= 0, "quota must be >= 0");
                Some(q)
            };
            if !store.set_quota(key, q).await? {
                anyhow::bail!("no such key: {key}");
            }
            writeln!(
                out,
                "quota of {key}: {}",
                q.map_or("unlimited".into(), |q| q.to_string())
            )?;
        }
        KeysCommand::SetExpires { key, expires } => {
            let e = if expires.eq_ignore_ascii_case("never") {
                None
            } else {
                Some(parse_expires(expires)?)
            };
            if !store.set_expires(key, e).await? {
                anyhow::bail!("no such key: {key}");
            }
            writeln!(
                out,
                "expires_at of {key}: {}",
                e.map_or("never".into(), format_ts)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10MiB").unwrap(), 10 << 20);
        assert_eq!(parse_size("2M").unwrap(), 2 << 20);
        assert_eq!(parse_size("512kb").unwrap(), 512 << 10);
        assert_eq!(parse_size("1234").unwrap(), 1234);
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5X").is_err());
    }

    #[test]
    fn default_args_give_default_config() {
        let c = ServeArgs::default().to_config().unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.database, "wenzi.db");
        assert_eq!(c.app.max_body, 10 << 20);
        assert_eq!(c.app.demo_max_body, 2 << 20);
        assert_eq!(c.app.timeout, Duration::from_secs(30));
        assert_eq!(c.app.rate, 5.0);
        assert_eq!(c.app.demo_rate, 1.0);
        assert!(c.initial_key && c.tls.is_none() && c.app.demo);
        assert_eq!(c.app.workers, default_workers());
    }
}
