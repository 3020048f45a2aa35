//! The HTTP API: routes, the OCR request pipeline, health and metrics.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use http::{header, HeaderValue, Method, StatusCode};
use http_body::Body as _;
use ipnet::IpNet;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::backend::{BackendError, OcrBackend};
use crate::clientip::ClientIpResolver;
use crate::metrics::{Metrics, Snapshot};
use crate::pool::{JobError, SubmitError, WorkerPool};
use crate::ratelimit::{Decision, RateLimiter};
use crate::response::{ApiResponse, Code, Data};
use crate::store::{unix_now, KeyStatus, KeyStore};

/// Path of the keyed OCR endpoint.
pub const API_PATH: &str = "/imagerecognition/imagestreamocr";
/// Path of the key-less demo endpoint.
pub const DEMO_PATH: &str = "/imagerecognition/imagestreamocr/demo";

/// Room for multipart framing and small extra fields on top of the file size limit.
const MULTIPART_SLACK: usize = 64 * 1024;
/// After an early answer, read and discard at most this long so the client sees the answer
/// instead of a connection reset.
const DRAIN_TIME: Duration = Duration::from_secs(10);

static INDEX_HTML: &str = include_str!("../static/index.html");

/// Request-handling settings (everything except sockets and the database location).
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Largest accepted file on the keyed endpoint, in bytes.
    pub max_body: usize,
    /// Largest accepted file on the demo endpoint, in bytes.
    pub demo_max_body: usize,
    /// Per-request deadline, from the first byte of the request to the answer.
    pub timeout: Duration,
    /// Requests per second per client IP on the keyed endpoint (<= 0: no limit).
    pub rate: f64,
    pub burst: u32,
    /// Requests per second per client IP on the demo endpoint (<= 0: no limit).
    pub demo_rate: f64,
    pub demo_burst: u32,
    /// Client IPs tracked at most by each rate limiter.
    pub rate_limit_max_clients: usize,
    /// Recognitions running at once (each on its own worker thread).
    pub workers: usize,
    /// Compute threads per worker (each worker has its own rayon pool of this size).
    pub threads: usize,
    pub queue_size: usize,
    /// Request bodies held in memory at once at most (each up to `max_body`).
    pub upload_slots: usize,
    /// Bytes of uploaded images held in memory at once at most (being received, queued or
    /// recognized); past it new uploads are answered 502. At least `max_body`.
    pub upload_memory: usize,
    /// Peers whose X-Forwarded-For / X-Real-IP are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Allowed CORS origins ("*" for any); empty: no CORS headers.
    pub cors_origins: Vec<String>,
    /// Serve the demo page and the demo endpoint.
    pub demo: bool,
    /// Most pages of an uploaded PDF or multi-page TIFF; more: -1.
    pub max_pdf_pages: usize,
}

impl Default for AppConfig {
    fn default() -> Self {
        let workers = default_workers();
        let queue_size = default_queue_size(workers);
        AppConfig {
            max_body: 10 * 1024 * 1024,
            demo_max_body: 2 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            rate: 5.0,
            burst: 10,
            demo_rate: 1.0,
            demo_burst: 2,
            rate_limit_max_clients: 100_000,
            workers,
            threads: default_threads(workers),
            queue_size,
            upload_slots: default_upload_slots(workers, queue_size),
            upload_memory: default_upload_memory(10 * 1024 * 1024),
            trusted_proxies: Vec::new(),
            cors_origins: Vec::new(),
            demo: true,
            max_pdf_pages: crate::backend::DEFAULT_MAX_PAGES,
        }
    }
}

/// Number of CPU cores.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One worker per two cores (at least 1), each computing on two threads. Measured on 2
/// cores with the soak mix (docs/server.md, "Workers × threads"): 1 worker × 2 threads and 2
/// workers × 1 thread turn the cores into the same images/s (within the run-to-run noise,
/// both ≈ `wenzi --jsonl`), but 1 × 2 halves the time of the largest jobs (p99/p50 2.2–2.3
/// against 3.4–6.0) and holds one job's buffers instead of two (peak RSS 264 vs 379–442 MiB).
pub fn default_workers() -> usize {
    (cores() / 2).max(1)
}

/// Compute threads per worker: the cores divided among the workers (at least 1), so that
/// `workers × threads` never exceeds the cores when the workers divide them evenly.
pub fn default_threads(workers: usize) -> usize {
    (cores() / workers.max(1)).max(1)
}

pub fn default_queue_size(workers: usize) -> usize {
    (4 * workers).max(16)
}

/// 64 MiB, or twice the largest file if that is more.
pub fn default_upload_memory(max_body: usize) -> usize {
    (64 << 20).max(2 * max_body)
}

pub fn default_upload_slots(workers: usize, queue_size: usize) -> usize {
    2 * (workers + queue_size) + 16
}

struct Inner {
    cfg: AppConfig,
    store: KeyStore,
    pool: WorkerPool,
    limiter: RateLimiter,
    demo_limiter: RateLimiter,
    ip: ClientIpResolver,
    metrics: Metrics,
    uploads: Arc<Semaphore>,
    /// One permit per byte of upload held (see [`AppConfig::upload_memory`]).
    upload_bytes: Arc<Semaphore>,
}

/// Shared state of the HTTP handlers. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    /// Start the worker pool and set up limiters. Must be called inside a tokio runtime only
    /// for the handlers; creating it needs none.
    pub fn new(cfg: AppConfig, store: KeyStore, backend: Arc<dyn OcrBackend>) -> Self {
        let pool = WorkerPool::new(backend, cfg.workers, cfg.threads, cfg.queue_size);
        AppState(Arc::new(Inner {
            limiter: RateLimiter::new(cfg.rate, cfg.burst, cfg.rate_limit_max_clients),
            demo_limiter: RateLimiter::new(
                cfg.demo_rate,
                cfg.demo_burst,
                cfg.rate_limit_max_clients,
            ),
            ip: ClientIpResolver::new(cfg.trusted_proxies.clone()),
            uploads: Arc::new(Semaphore::new(cfg.upload_slots.max(1))),
            upload_bytes: Arc::new(Semaphore::new(
                cfg.upload_memory
                    .max(cfg.max_body.max(cfg.demo_max_body) + MULTIPART_SLACK)
                    .min(Semaphore::MAX_PERMITS),
            )),
            metrics: Metrics::default(),
            pool,
            store,
            cfg,
        }))
    }

    pub fn config(&self) -> &AppConfig {
        &self.0.cfg
    }

    pub fn store(&self) -> &KeyStore {
        &self.0.store
    }

    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    pub fn pool(&self) -> &WorkerPool {
        &self.0.pool
    }

    /// Forget idle rate-limit buckets (the server calls this every few seconds).
    pub fn sweep(&self) {
        let now = Instant::now();
        self.0.limiter.sweep(now);
        self.0.demo_limiter.sweep(now);
    }

    /// The Prometheus text of `/metrics`.
    pub fn render_metrics(&self) -> String {
        let st = self.0.pool.stats();
        let snap = Snapshot {
            queue_depth: st.queued.load(Ordering::Relaxed).max(0),
            queue_capacity: self.0.pool.queue_size(),
            workers: self.0.pool.workers(),
            workers_busy: st.busy.load(Ordering::Relaxed),
            workers_alive: st.alive.load(Ordering::Relaxed),
            worker_panics: st.panics.load(Ordering::Relaxed),
            jobs_skipped: st.skipped.load(Ordering::Relaxed),
            rate_limit_clients: self.0.limiter.tracked() + self.0.demo_limiter.tracked(),
            upload_slots_free: self.0.uploads.available_permits(),
            upload_bytes_free: self.0.upload_bytes.available_permits(),
        };
        self.0.metrics.render(&snap)
    }
}

/// The complete HTTP application. Callable in-process (`tower::ServiceExt::oneshot`); the
/// client address is read from a `ConnectInfo<SocketAddr>` request extension (the server
/// inserts it; without it the client counts as 0.0.0.0).
pub fn router(state: AppState) -> Router {
    let mut r = Router::new()
        .route(API_PATH, post(api_handler).fallback(method_not_allowed))
        .route(
            "/imagerecognition/imagestreamocr/",
            post(api_handler).fallback(method_not_allowed),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if state.config().demo {
        r = r
            .route(DEMO_PATH, post(demo_handler).fallback(method_not_allowed))
            .route("/", get(index))
            .route("/index.html", get(index));
    } else {
        r = r.route("/", get(|| async { "wenzi OCR server\n" }));
    }
    let cors = cors_layer(&state.config().cors_origins);
    let mut r = r
        .fallback(not_found)
        .with_state(state)
        .layer(CatchPanicLayer::custom(
            |_err: Box<dyn std::any::Any + Send>| {
                tracing::error!("panic in a request handler");
                ApiResponse::error(Code::Internal, "内部错误 / internal error").into_response()
            },
        ));
    if let Some(c) = cors {
        r = r.layer(c);
    }
    r
}

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            origins
                .iter()
                .filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()),
        )
    };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(tower_http::cors::Any)
            .expose_headers([header::RETRY_AFTER])
            .max_age(Duration::from_secs(3600)),
    )
}

async fn index() -> Response {
    let mut r = Html(INDEX_HTML).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found\n",
    )
        .into_response()
}

async fn method_not_allowed() -> Response {
    ApiResponse::error(
        Code::ParamError,
        "参数错误：请使用 POST multipart/form-data / parameter error: use POST with multipart/form-data",
    )
    .with_http_status(StatusCode::METHOD_NOT_ALLOWED)
    .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(s): State<AppState>) -> Response {
    let db = tokio::time::timeout(Duration::from_secs(2), s.store().ping()).await;
    let db_ok = matches!(db, Ok(Ok(())));
    let workers_ok = s.pool().healthy();
    let body = format!(
        "database: {}\nworkers: {}/{} alive\n",
        if db_ok { "ok" } else { "unreachable" },
        s.pool().stats().alive.load(Ordering::Relaxed),
        s.pool().workers()
    );
    let status = if db_ok && workers_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.render_metrics(),
    )
        .into_response()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Api,
    Demo,
}

impl Endpoint {
    fn label(self) -> &'static str {
        match self {
            Endpoint::Api => "api",
            Endpoint::Demo => "demo",
        }
    }
}

async fn api_handler(State(s): State<AppState>, req: Request) -> Response {
    ocr(s, Endpoint::Api, req).await
}

async fn demo_handler(State(s): State<AppState>, req: Request) -> Response {
    ocr(s, Endpoint::Demo, req).await
}

struct InFlight<'a>(&'a Metrics);
impl<'a> InFlight<'a> {
    fn new(m: &'a Metrics) -> Self {
        m.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(m)
    }
}
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One reserved unit of a key's quota; given back unless committed (also when the request
/// is abandoned, e.g. the client disconnects during recognition).
struct Reservation {
    store: KeyStore,
    key: String,
    committed: bool,
}

impl Reservation {
    /// Keep the unit (answered 100) or give it back before answering.
    async fn finish(mut self, success: bool) {
        if !success {
            if let Err(e) = self.store.release(&self.key).await {
                tracing::error!(error = %e, "could not release a quota reservation");
            }
        }
        self.committed = true;
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let store = self.store.clone();
        let key = std::mem::take(&mut self.key);
        let release = async move {
            if let Err(e) = store.release(&key).await {
                tracing::error!(error = %e, "could not release a quota reservation");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                h.spawn(release);
            }
            Err(_) => tracing::error!("no runtime to release a quota reservation"),
        }
    }
}

/// What the request pipeline learned, for logs and metrics.
#[derive(Default)]
struct Ctx {
    key: Option<(String, String)>,
    reservation: Option<Reservation>,
    client: Option<IpAddr>,
    bytes: usize,
}

async fn ocr(s: AppState, ep: Endpoint, req: Request) -> Response {
    let start = Instant::now();
    let _in_flight = InFlight::new(s.metrics());
    let (parts, body) = req.into_parts();
    let file_limit = match ep {
        Endpoint::Api => s.config().max_body,
        Endpoint::Demo => s.config().demo_max_body,
    };
    let mut body = LimitedBody::new(body, file_limit + MULTIPART_SLACK);
    let mut ctx = Ctx::default();
    let resp = pipeline(&s, ep, &parts, &mut body, &mut ctx, start, file_limit).await;

    if let Some(r) = ctx.reservation.take() {
        r.finish(resp.code == Code::Ok).await;
    }
    let elapsed = start.elapsed();
    s.metrics().record_request(ep.label(), resp.code, elapsed);
    if let Some((key, name)) = &ctx.key {
        s.metrics().record_key(key, name, resp.code);
    }
    tracing::info!(
        target: "wenzi::access",
        endpoint = ep.label(),
        code = resp.code.as_i32(),
        client = %ctx.client.map(|c| c.to_string()).unwrap_or_default(),
        key = ctx.key.as_ref().map(|k| &k.0[..k.0.len().min(8)]).unwrap_or(""),
        bytes = ctx.bytes,
        ms = elapsed.as_secs_f64() * 1000.0,
        "{}",
        resp.description
    );
    if !body.finished() {
        tokio::spawn(body.drain(DRAIN_TIME));
    }
    resp.into_response()
}

fn query_param(parts: &http::request::Parts, name: &str) -> Option<String> {
    let q = parts.uri.query()?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q).ok()?;
    pairs
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

async fn pipeline(
    s: &AppState,
    ep: Endpoint,
    parts: &http::request::Parts,
    body: &mut LimitedBody,
    ctx: &mut Ctx,
    start: Instant,
    file_limit: usize,
) -> ApiResponse {
    let deadline = start + s.config().timeout;
    let tdeadline = tokio::time::Instant::from_std(deadline);

    // 1. Rate limit per client IP.
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let client = s.0.ip.resolve(peer, &parts.headers);
    ctx.client = Some(client);
    let limiter = match ep {
        Endpoint::Api => &s.0.limiter,
        Endpoint::Demo => &s.0.demo_limiter,
    };
    if let Decision::Deny(wait) = limiter.check(client, Instant::now()) {
        return ApiResponse::error(
            Code::RateLimited,
            "请求过于频繁，请稍后再试 / rate limited: too many requests from this client",
        )
        .with_retry_after(wait.as_secs_f64().ceil() as u64);
    }

    // 2. App key (read-only check; the quota is reserved after the upload).
    let mut key = None;
    if ep == Endpoint::Api {
        let k = match query_param(parts, "appkey") {
            Some(k) if !k.is_empty() => k,
            _ => {
                return ApiResponse::error(
                    Code::KeyInvalid,
                    "appkey 缺失 / appkey missing: add ?appkey=YOUR_KEY to the URL",
                )
            }
        };
        match s.store().get(&k).await {
            Err(e) => {
                tracing::error!(error = %e, "key database error");
                return ApiResponse::error(
                    Code::Internal,
                    "内部错误：密钥数据库不可用 / internal error: key database unavailable",
                );
            }
            Ok(None) => return key_error(KeyStatus::NotFound),
            Ok(Some(rec)) => {
                ctx.key = Some((rec.key.clone(), rec.name.clone()));
                let st = rec.status(unix_now());
                if st != KeyStatus::Ok {
                    return key_error(st);
                }
            }
        }
        key = Some(k);
    }

    // 3. Receive the image (bounded in size, in time and in how many are held at once).
    let Ok(_slot) = s.0.uploads.clone().try_acquire_owned() else {
        return busy("上传过多 / too many uploads in progress");
    };
    let mut held = None;
    let read = read_image(parts, body, file_limit, &s.0.upload_bytes, &mut held);
    let image = match tokio::time::timeout_at(tdeadline, read).await {
        Err(_) => {
            return ApiResponse::error(
                Code::Failed,
                "请求超时：上传未在时限内完成 / request failed: deadline exceeded while receiving the upload",
            )
        }
        Ok(Err(e)) => return e.into_response(file_limit),
        Ok(Ok(img)) => img,
    };
    ctx.bytes = image.len();

    // 4. Reserve one unit of the key's quota, atomically.
    if let Some(k) = key {
        match s.store().reserve(&k, unix_now()).await {
            Err(e) => {
                tracing::error!(error = %e, "key database error");
                return ApiResponse::error(
                    Code::Internal,
                    "内部错误：密钥数据库不可用 / internal error: key database unavailable",
                );
            }
            Ok(KeyStatus::Ok) => {
                ctx.reservation = Some(Reservation {
                    store: s.store().clone(),
                    key: k,
                    committed: false,
                })
            }
            Ok(st) => return key_error(st),
        }
    }

    // 5. Queue for a worker; never wait for a queue slot.
    let rx = match s
        .pool()
        .submit(image, held, deadline, s.config().max_pdf_pages)
    {
        Ok(rx) => rx,
        Err(SubmitError::Full) => {
            return busy("服务器繁忙：任务队列已满 / server busy: work queue full")
        }
        Err(SubmitError::Closed) => {
            return ApiResponse::error(
                Code::Internal,
                "内部错误：工作线程已停止 / internal error: workers stopped",
            )
        }
    };

    // 6. Wait for the result until the deadline.
    let res = match tokio::time::timeout_at(tdeadline, rx).await {
        Err(_) => return deadline_exceeded(),
        Ok(Err(_)) => {
            return ApiResponse::error(
                Code::Internal,
                "内部错误：任务丢失 / internal error: job lost",
            )
        }
        Ok(Ok(r)) => r,
    };
    let m = s.metrics();
    m.record_stage("queue_wait", res.queue_wait.as_secs_f64());
    match res.outcome {
        Ok(out) => {
            m.record_stage("recognize", res.run_time.as_secs_f64());
            for (stage, ms) in &out.stage_ms {
                m.record_stage(stage, ms / 1000.0);
            }
            let boxes = ep == Endpoint::Demo
                && matches!(query_param(parts, "boxes").as_deref(), Some("1" | "true"));
            let detail = query_param(parts, "detail").as_deref() == Some("1");
            let data = Data {
                Boxes: boxes.then(|| out.lines().map(|l| l.quad).collect()),
                ResultText: out.lines().map(|l| l.text.clone()).collect(),
                Pages: detail.then_some(out.pages),
            };
            ApiResponse::ok(data)
        }
        Err(JobError::Expired) => deadline_exceeded(),
        Err(JobError::Backend(BackendError::UnsupportedFormat(m))) => ApiResponse::error(
            Code::ParamError,
            format!("参数错误：不支持的图片格式 / parameter error: unsupported image format ({m})"),
        ),
        Err(JobError::Backend(BackendError::InvalidImage(m))) => ApiResponse::error(
            Code::Failed,
            format!("请求失败：图片无法解码或处理 / request failed: the image could not be decoded or processed ({m})"),
        ),
        Err(JobError::Backend(BackendError::Internal(m))) => {
            tracing::error!(error = %m, "backend internal error");
            ApiResponse::error(Code::Internal, "内部错误 / internal error during recognition")
        }
        Err(JobError::Panicked(m)) => {
            tracing::error!(panic = %m, "recognition panicked");
            ApiResponse::error(Code::Internal, "内部错误 / internal error during recognition")
        }
    }
}

fn busy(what: &str) -> ApiResponse {
    ApiResponse::error(Code::Busy, what).with_retry_after(1)
}

fn deadline_exceeded() -> ApiResponse {
    ApiResponse::error(
        Code::Failed,
        "请求超时 / request failed: deadline exceeded before recognition finished",
    )
}

fn key_error(st: KeyStatus) -> ApiResponse {
    match st {
        KeyStatus::NotFound => {
            ApiResponse::error(Code::KeyInvalid, "appkey 错误 / appkey wrong: no such key")
        }
        KeyStatus::Disabled => {
            ApiResponse::error(Code::KeyInactive, "appkey 已停用 / appkey disabled")
        }
        KeyStatus::Expired => {
            ApiResponse::error(Code::KeyInactive, "appkey 已过期 / appkey expired")
        }
        KeyStatus::QuotaExceeded => ApiResponse::error(
            Code::QuotaExceeded,
            "appkey 请求次数已用完 / the key's request quota is used up",
        ),
        KeyStatus::Ok => ApiResponse::error(Code::Internal, "internal error"),
    }
}

#[derive(Debug)]
enum UploadError {
    NotMultipart(String),
    Malformed(String),
    MissingField,
    Empty,
    TooLarge,
    Interrupted,
    /// The upload memory budget is used up.
    Busy,
}

impl UploadError {
    fn into_response(self, limit: usize) -> ApiResponse {
        let (code, msg) = match self {
            UploadError::NotMultipart(ct) => (
                Code::ParamError,
                format!("参数错误：请求不是 multipart/form-data / parameter error: the request is not multipart/form-data (Content-Type: {ct})"),
            ),
            UploadError::Malformed(e) => (
                Code::ParamError,
                format!("参数错误：multipart 格式错误 / parameter error: malformed multipart body ({e})"),
            ),
            UploadError::MissingField => (
                Code::ParamError,
                "参数错误：缺少 imagefile 字段 / parameter error: no file in form field \"imagefile\"".into(),
            ),
            UploadError::Empty => (
                Code::ParamError,
                "参数错误：imagefile 文件为空 / parameter error: the file in \"imagefile\" is empty".into(),
            ),
            UploadError::TooLarge => (
                Code::ParamError,
                format!("参数错误：文件超过大小限制 / parameter error: file larger than the limit of {limit} bytes"),
            ),
            UploadError::Interrupted => (
                Code::Failed,
                "请求失败：上传中断 / request failed: the upload was interrupted".into(),
            ),
            UploadError::Busy => {
                return busy("服务器繁忙：上传内存已满 / server busy: upload memory in use")
            }
        };
        ApiResponse::error(code, msg)
    }
}

/// Receives the image. Every byte kept is first taken from the `budget` semaphore; the
/// permits end up in `held` (to be released with the image).
async fn read_image(
    parts: &http::request::Parts,
    body: &mut LimitedBody,
    file_limit: usize,
    budget: &Arc<Semaphore>,
    held: &mut Option<OwnedSemaphorePermit>,
) -> Result<Bytes, UploadError> {
    let ct = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        let shown = if ct.is_empty() { "none" } else { ct };
        return Err(UploadError::NotMultipart(shown.chars().take(100).collect()));
    }
    let boundary = multer::parse_boundary(ct)
        .map_err(|_| UploadError::Malformed("no boundary in Content-Type".into()))?;
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > body.limit as u64) {
        return Err(UploadError::TooLarge);
    }
    let mut mp = multer::Multipart::new(&mut *body, boundary);
    let mut image: Option<Bytes> = None;
    let mut over_budget = false;
    let result: Result<(), multer::Error> = async {
        while let Some(mut field) = mp.next_field().await? {
            let wanted = image.is_none()
                && field
                    .name()
                    .is_some_and(|n| n.eq_ignore_ascii_case("imagefile"));
            if wanted {
                let mut buf = BytesMut::new();
                while let Some(chunk) = field.chunk().await? {
                    if buf.len() + chunk.len() > file_limit {
                        return Err(multer::Error::FieldSizeExceeded {
                            limit: file_limit as u64,
                            field_name: Some("imagefile".into()),
                        });
                    }
                    let n = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
                    match budget.clone().try_acquire_many_owned(n) {
                        Ok(p) => match held {
                            Some(h) => h.merge(p),
                            None => *held = Some(p),
                        },
                        Err(_) => {
                            over_budget = true;
                            return Ok(());
                        }
                    }
                    buf.extend_from_slice(&chunk);
                }
                image = Some(buf.freeze());
            } else {
                while field.chunk().await?.is_some() {}
            }
        }
        Ok(())
    }
    .await;
    drop(mp);
    if over_budget {
        *held = None;
        return Err(UploadError::Busy);
    }
    if let Err(e) = result {
        return Err(if body.exceeded {
            UploadError::TooLarge
        } else if body.failed {
            UploadError::Interrupted
        } else if matches!(e, multer::Error::FieldSizeExceeded { .. }) {
            UploadError::TooLarge
        } else {
            UploadError::Malformed(e.to_string())
        });
    }
    match image {
        None => Err(UploadError::MissingField),
        Some(b) if b.is_empty() => Err(UploadError::Empty),
        Some(b) => Ok(b),
    }
}

#[derive(Debug, thiserror::Error)]
enum BodyError {
    #[error("request body larger than the limit")]
    TooLarge,
    #[error("reading the request body failed: {0}")]
    Io(String),
}

/// The request body as a byte stream that stops with an error past `limit` bytes; never
/// buffers anything itself. Remembers whether it reached the end so the rest can be drained.
struct LimitedBody {
    inner: Body,
    read: usize,
    limit: usize,
    exceeded: bool,
    failed: bool,
    done: bool,
}

impl LimitedBody {
    fn new(inner: Body, limit: usize) -> Self {
        LimitedBody {
            inner,
            read: 0,
            limit,
            exceeded: false,
            failed: false,
            done: false,
        }
    }

    fn finished(&self) -> bool {
        self.done || self.failed || self.inner.is_end_stream()
    }

    /// Read and discard what the client still sends (bounded in bytes and time), so that
    /// an early answer reaches it instead of a connection reset.
    async fn drain(mut self, max_time: Duration) {
        let budget = self.limit.saturating_mul(4).max(64 << 20);
        let mut seen = 0usize;
        let _ = tokio::time::timeout(max_time, async {
            while let Some(frame) =
                std::future::poll_fn(|cx| Pin::new(&mut self.inner).poll_frame(cx)).await
            {
                match frame {
                    Ok(f) => {
                        if let Ok(d) = f.into_data() {
                            seen += d.len();
                            if seen > budget {
                                break;
                            }
                        }
                    }
                    Err(_) => break,
                }
            }
        })
        .await;
    }
}

impl Stream for LimitedBody {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.exceeded {
            return Poll::Ready(Some(Err(BodyError::TooLarge)));
        }
        if this.done || this.failed {
            return Poll::Ready(None);
        }
        loop {
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Some(Err(e))) => {
                    this.failed = true;
                    return Poll::Ready(Some(Err(BodyError::Io(e.to_string()))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers
                    };
                    this.read += data.len();
                    if this.read > this.limit {
                        this.exceeded = true;
                        return Poll::Ready(Some(Err(BodyError::TooLarge)));
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
            }
        }
    }
}
