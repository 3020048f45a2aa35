//! Load client for the OCR endpoint.
//!
//! Closed loop (default): for each concurrency in --concurrency, that many clients each
//! keep one HTTP/1.1 keep-alive connection and send requests back to back for --duration
//! seconds; reports req/s, p50/p99 latency and answers by StatusCode.
//!
//! Open loop (--rate R): sends R requests per second for --duration seconds whatever the
//! answers, each on a fresh connection, to measure overload behaviour; with --server-pid it
//! samples the server's resident memory. Every request must get an HTTP answer: transport
//! errors and client timeouts are counted and make the run fail.
//!
//! Clients bind to --sources distinct loopback addresses (127.0.0.2, 127.0.0.3, ...) so the
//! per-IP rate limiter sees that many clients.
//!
//! ```text
//! cargo run --release --example load -- --url http://127.0.0.1:8080 --key KEY \
//!     --concurrency 1,2,8,32 --duration 5
//! ```

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Server base URL (plain http).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// App key (omit with --demo).
    #[arg(long, default_value = "")]
    key: String,
    /// Use the demo endpoint.
    #[arg(long)]
    demo: bool,
    /// Comma-separated client counts for closed-loop runs.
    #[arg(long, default_value = "1,2,8,32", value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Seconds per run.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Open-loop requests per second (replaces the closed-loop runs).
    #[arg(long)]
    rate: Option<f64>,
    /// Distinct loopback source addresses.
    #[arg(long, default_value_t = 1)]
    sources: u32,
    /// Side of the square test PNG sent.
    #[arg(long, default_value_t = 64)]
    image_side: u32,
    /// PID of the server, to sample its resident memory.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Per-request client timeout in seconds.
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
}

#[derive(Default)]
struct Stats {
    lat_ms: Vec<f64>,
    codes: BTreeMap<i64, u64>,
    http: BTreeMap<u16, u64>,
    transport_errors: u64,
    timeouts: u64,
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        self.lat_ms.extend(o.lat_ms);
        for (k, v) in o.codes {
            *self.codes.entry(k).or_default() += v;
        }
        for (k, v) in o.http {
            *self.http.entry(k).or_default() += v;
        }
        self.transport_errors += o.transport_errors;
        self.timeouts += o.timeouts;
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

struct Target {
    addr: SocketAddr,
    path: String,
    content_type: String,
    body: Bytes,
}

async fn connect(t: &Target, source: u32) -> std::io::Result<tokio::net::TcpStream> {
    let sock = TcpSocket::new_v4()?;
    let n = 2 + source;
    let src = Ipv4Addr::new(127, 0, (n >> 8) as u8, (n & 0xff) as u8);
    sock.bind(SocketAddr::new(src.into(), 0))?;
    let s = sock.connect(t.addr).await?;
    s.set_nodelay(true)?;
    Ok(s)
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn handshake(t: &Target, source: u32) -> Result<Sender, String> {
    let tcp = connect(t, source).await.map_err(|e| e.to_string())?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(send)
}

/// One request on `send`; Ok((business code, http status)) or Err(transport error).
async fn one(t: &Target, send: &mut Sender) -> Result<(i64, u16), String> {
    let req = http::Request::post(&t.path)
        .header("host", "localhost")
        .header("content-type", &t.content_type)
        .body(Full::new(t.body.clone()))
        .unwrap();
    send.ready().await.map_err(|e| e.to_string())?;
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("bad JSON: {e}"))?;
    Ok((
        v["DataStatus"]["StatusCode"].as_i64().unwrap_or(i64::MIN),
        status,
    ))
}

fn record(
    st: &mut Stats,
    r: Result<Result<(i64, u16), String>, tokio::time::error::Elapsed>,
    ms: f64,
) -> bool {
    match r {
        Ok(Ok((code, http))) => {
            *st.codes.entry(code).or_default() += 1;
            *st.http.entry(http).or_default() += 1;
            if code == 100 {
                st.lat_ms.push(ms);
            }
            true
        }
        Ok(Err(e)) => {
            if st.transport_errors < 3 {
                eprintln!("transport error: {e}");
            }
            st.transport_errors += 1;
            false
        }
        Err(_) => {
            st.timeouts += 1;
            false
        }
    }
}

async fn closed_loop(t: Arc<Target>, args: &Args, clients: usize) -> (Stats, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    let start = Instant::now();
    for i in 0..clients {
        let t = t.clone();
        let stop = stop.clone();
        let source = (i as u32) % args.sources.max(1);
        let timeout = Duration::from_secs_f64(args.timeout);
        tasks.push(tokio::spawn(async move {
            let mut st = Stats::default();
            let mut send = None;
            while !stop.load(Ordering::Relaxed) {
                if send.is_none() {
                    match handshake(&t, source).await {
                        Ok(s) => send = Some(s),
                        Err(e) => {
                            eprintln!("connect: {e}");
                            st.transport_errors += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    }
                }
                let t0 = Instant::now();
                let r = tokio::time::timeout(timeout, one(&t, send.as_mut().unwrap())).await;
                if !record(&mut st, r, t0.elapsed().as_secs_f64() * 1000.0) {
                    send = None;
                }
            }
            st
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(args.duration)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Stats::default();
    for t in tasks {
        all.merge(t.await.unwrap());
    }
    (all, start.elapsed().as_secs_f64())
}

async fn open_loop(t: Arc<Target>, args: &Args, rate: f64) -> (Stats, f64, Vec<u64>) {
    let all = Arc::new(Mutex::new(Stats::default()));
    let rss = Arc::new(Mutex::new(Vec::new()));
    let sampling = Arc::new(AtomicBool::new(true));
    if let Some(pid) = args.server_pid {
        let rss = rss.clone();
        let sampling = sampling.clone();
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                if let Some(k) = rss_kib(pid) {
                    rss.lock().unwrap().push(k);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }
    let n = (rate * args.duration).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n as usize);
    for i in 0..n {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let t = t.clone();
        let all = all.clone();
        let source = (i as u32) % args.sources.max(1);
        let timeout = Duration::from_secs_f64(args.timeout);
        tasks.push(tokio::spawn(async move {
            let t0 = Instant::now();
            let r = tokio::time::timeout(timeout, async {
                let mut s = handshake(&t, source).await?;
                one(&t, &mut s).await
            })
            .await;
            let mut st = Stats::default();
            record(&mut st, r, t0.elapsed().as_secs_f64() * 1000.0);
            all.lock().unwrap().merge(st);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = start.elapsed().as_secs_f64();
    sampling.store(false, Ordering::Relaxed);
    let st = std::mem::take(&mut *all.lock().unwrap());
    let r = rss.lock().unwrap().clone();
    (st, elapsed, r)
}

fn report(label: &str, st: &mut Stats, secs: f64) {
    st.lat_ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let total: u64 = st.codes.values().sum();
    let ok = st.codes.get(&100).copied().unwrap_or(0);
    println!(
        "{label:>14} | {:>8.1} req/s answered | {:>8.1} ok/s | p50 {:>7.1} ms | p99 {:>7.1} ms | codes {:?} | http {:?} | transport errors {} | timeouts {}",
        total as f64 / secs,
        ok as f64 / secs,
        pct(&st.lat_ms, 0.5),
        pct(&st.lat_ms, 0.99),
        st.codes,
        st.http,
        st.transport_errors,
        st.timeouts
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let url: http::Uri = args.url.parse()?;
    let host = url.host().unwrap_or("127.0.0.1");
    let port = url.port_u16().unwrap_or(80);
    let addr: SocketAddr = tokio::net::lookup_host((host, port))
        .await?
        .find(|a| a.is_ipv4())
        .ok_or_else(|| anyhow::anyhow!("no IPv4 address for {host}"))?;
    let path = if args.demo {
        wenzi_server::DEMO_PATH.to_string()
    } else {
        format!("{}?appkey={}", wenzi_server::API_PATH, args.key)
    };
    let png = wenzi_server::testing::tiny_png(args.image_side, args.image_side);
    let (ct, body) = wenzi_server::testing::multipart_body("imagefile", "load.png", &png);
    let t = Arc::new(Target {
        addr,
        path,
        content_type: ct,
        body: Bytes::from(body),
    });
    println!(
        "target {addr}, image {} bytes, {} source address(es), {} s per run",
        png.len(),
        args.sources,
        args.duration
    );
    let mut failed = false;
    if let Some(rate) = args.rate {
        let (mut st, secs, rss) = open_loop(t, &args, rate).await;
        report(&format!("open {rate}/s"), &mut st, secs);
        if !rss.is_empty() {
            println!(
                "server RSS: start {} MiB, max {} MiB, end {} MiB ({} samples)",
                rss[0] / 1024,
                rss.iter().max().unwrap() / 1024,
                rss.last().unwrap() / 1024,
                rss.len()
            );
        }
        failed |= st.transport_errors + st.timeouts > 0;
    } else {
        for &c in &args.concurrency {
            let (mut st, secs) = closed_loop(t.clone(), &args, c).await;
            report(&format!("{c} clients"), &mut st, secs);
            failed |= st.transport_errors + st.timeouts > 0;
        }
    }
    if failed {
        anyhow::bail!("some requests got no answer");
    }
    Ok(())
}
