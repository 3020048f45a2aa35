//! Soak test client: drives a running `wenzi serve` (the real engine) over HTTP with a mix
//! of real-looking images and bad inputs, samples the server's resident memory and the
//! latency over time, checks every answer, and writes a CSV and an SVG plot.
//!
//! The images: every PNG under `fixtures/images` and `fixtures/detect` (or `--fixtures`),
//! each sent as is, re-encoded as JPEG, grayscale, scaled down, and scaled up 2.5× as a large
//! JPEG "photo"; plus one very large (about 16 Mpx) JPEG and a screenshot tiled 3 × 3 (a
//! 4K screen of small text: the largest detector input). Every `--bad-every`-th request is a
//! bad input instead, in turn: not an image, a truncated PNG, an empty file, the image in
//! the wrong form field.
//!
//! Phases, in this order (each optional except the first):
//! 1. soak: `--clients` closed-loop clients on keep-alive connections send `--requests`
//!    requests; every answer must be the expected code with a well-formed body, and an image
//!    must get the same text every time it is sent.
//! 2. throughput (`--throughput-rounds R`): the good images, R times each, through the server
//!    with the same clients, then `--cli BIN --jsonl FILES` over the same files; images/s of both.
//! 3. overload (`--overload-secs S`): open loop at `--overload-factor` (4) times the measured
//!    capacity, a fresh connection per request; every request must be answered 100, 502 or
//!    429, and none may time out or be dropped.
//! 4. SIGTERM (`--sigterm`): the clients keep sending; after `--sigterm-delay` seconds the
//!    server gets SIGTERM. Every request sent before the signal must get its answer, new
//!    connections must be refused, the process must exit within `--grace` seconds.
//!
//! The run fails (exit 1) if an answer is missing or wrong, or a bound (`--max-rss-mib`,
//! `--max-growth-pct`, `--min-throughput-ratio`, `--max-p99-ratio`) is broken.
//!
//! ```text
//! cargo run --release -p wenzi-server --example soak -- --url http://127.0.0.1:8080 \
//!     --key KEY --server-pid PID --requests 600 --csv soak.csv --svg soak.svg
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat};

#[derive(Parser, Debug, Clone)]
struct Args {
    /// Server base URL (plain http).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// App key.
    #[arg(long)]
    key: String,
    /// PID of the server, to sample its resident memory (and to signal with --sigterm).
    #[arg(long)]
    server_pid: Option<u32>,
    /// Closed-loop clients, each on its own keep-alive connection.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Requests in the soak phase.
    #[arg(long, default_value_t = 600)]
    requests: u64,
    /// Every n-th request is a bad input (0: none).
    #[arg(long, default_value_t = 20)]
    bad_every: u64,
    /// Folders whose PNG files are the base images [default: fixtures/images, fixtures/detect].
    #[arg(long, value_delimiter = ',')]
    fixtures: Vec<PathBuf>,
    /// Seconds between samples.
    #[arg(long, default_value_t = 2.0)]
    sample_secs: f64,
    /// Rolling window (seconds) for requests/s, p50 and p99 in the samples.
    #[arg(long, default_value_t = 30.0)]
    window_secs: f64,
    /// Per-request client timeout in seconds.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
    /// Write the samples here (CSV).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Plot the samples here (SVG).
    #[arg(long)]
    svg: Option<PathBuf>,
    /// Fail if the server's RSS ever exceeds this (MiB).
    #[arg(long)]
    max_rss_mib: Option<f64>,
    /// Fail if the RSS grows more than this between 20% and 100% of the soak (percent).
    #[arg(long)]
    max_growth_pct: Option<f64>,
    /// Fail if the soak's p99 latency exceeds this multiple of its p50.
    #[arg(long)]
    max_p99_ratio: Option<f64>,
    /// Throughput phase: send the good images this many times each (0: skip).
    #[arg(long, default_value_t = 0)]
    throughput_rounds: usize,
    /// The `wenzi` binary, for the CLI side of the throughput phase.
    #[arg(long)]
    cli: Option<PathBuf>,
    /// Extra arguments for the CLI (e.g. "--threads=2"), space-separated.
    #[arg(long, default_value = "")]
    cli_args: String,
    /// Fail if server images/s is below this fraction of the CLI's.
    #[arg(long)]
    min_throughput_ratio: Option<f64>,
    /// Overload phase length in seconds (0: skip).
    #[arg(long, default_value_t = 0.0)]
    overload_secs: f64,
    /// Overload rate as a multiple of the measured capacity.
    #[arg(long, default_value_t = 4.0)]
    overload_factor: f64,
    /// Capacity (images/s) for the overload phase when there was no throughput phase.
    #[arg(long)]
    capacity: Option<f64>,
    /// Fail if a 502/429 answer under overload takes longer than this (ms, p99).
    #[arg(long, default_value_t = 1000.0)]
    max_refusal_ms: f64,
    /// Last phase: SIGTERM the server in the middle of a closed-loop run.
    #[arg(long)]
    sigterm: bool,
    /// Seconds of load before the SIGTERM.
    #[arg(long, default_value_t = 3.0)]
    sigterm_delay: f64,
    /// The server's --shutdown-grace: it must exit within this many seconds of the signal.
    #[arg(long, default_value_t = 30.0)]
    grace: f64,
    /// Write the generated good images here (for other tools); a temporary folder otherwise.
    #[arg(long)]
    dump_dir: Option<PathBuf>,
}

// ---------------------------------------------------------------------------------------
// Inputs

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    NotImage,
    Truncated,
    Empty,
    WrongField,
}

impl Bad {
    const ALL: [Bad; 4] = [Bad::NotImage, Bad::Truncated, Bad::Empty, Bad::WrongField];

    /// Business codes that are a correct answer.
    fn expected(self) -> &'static [i64] {
        match self {
            Bad::NotImage | Bad::Empty | Bad::WrongField => &[501],
            // A truncated PNG fails to decode (-1); a decoder may also call it unsupported.
            Bad::Truncated => &[-1, 501],
        }
    }
}

struct Input {
    name: String,
    /// The raw file (good images only; for the CLI comparison).
    file: Vec<u8>,
    content_type: String,
    body: Bytes,
    bad: Option<Bad>,
    pixels: u64,
}

fn encode(img: &DynamicImage, jpeg_quality: Option<u8>) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    match jpeg_quality {
        Some(q) => {
            let rgb = img.to_rgb8();
            JpegEncoder::new_with_quality(&mut out, q)
                .encode_image(&rgb)
                .expect("JPEG encoding");
        }
        None => img
            .write_to(&mut out, ImageFormat::Png)
            .expect("PNG encoding"),
    }
    out.into_inner()
}

fn input(name: String, file: Vec<u8>, field: &str, bad: Option<Bad>, pixels: u64) -> Input {
    let fname = if file.starts_with(&[0xff, 0xd8]) {
        "image.jpg"
    } else {
        "image.png"
    };
    let (ct, body) = wenzi_server::testing::multipart_body(field, fname, &file);
    Input {
        name,
        file,
        content_type: ct,
        body: Bytes::from(body),
        bad,
        pixels,
    }
}

fn build_inputs(dirs: &[PathBuf]) -> anyhow::Result<(Vec<Input>, Vec<Input>)> {
    let mut files: Vec<PathBuf> = Vec::new();
    for d in dirs {
        for e in std::fs::read_dir(d).with_context(|| format!("reading {}", d.display()))? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("png")) {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut seen = std::collections::HashSet::new();
    let mut good = Vec::new();
    let px = |i: &DynamicImage| i.width() as u64 * i.height() as u64;
    let mut biggest: Option<DynamicImage> = None;
    let mut screenshot: Option<DynamicImage> = None;
    for p in files {
        let bytes = std::fs::read(&p)?;
        if !seen.insert(bytes.clone()) {
            continue;
        }
        let img = image::load_from_memory(&bytes).with_context(|| format!("{}", p.display()))?;
        let stem = p.file_stem().unwrap().to_string_lossy().to_string();
        let (w, h) = (img.width(), img.height());
        good.push(input(
            format!("{stem}.png"),
            bytes,
            "imagefile",
            None,
            px(&img),
        ));
        good.push(input(
            format!("{stem}.q85.jpg"),
            encode(&img, Some(85)),
            "imagefile",
            None,
            px(&img),
        ));
        let gray = DynamicImage::ImageLuma8(img.to_luma8());
        good.push(input(
            format!("{stem}.gray.png"),
            encode(&gray, None),
            "imagefile",
            None,
            px(&gray),
        ));
        if w >= 200 && h >= 100 {
            let small = img.resize_exact(w * 3 / 5, h * 3 / 5, FilterType::Triangle);
            good.push(input(
                format!("{stem}.x0.6.png"),
                encode(&small, None),
                "imagefile",
                None,
                px(&small),
            ));
        }
        let big = img.resize_exact(w * 5 / 2, h * 5 / 2, FilterType::Triangle);
        good.push(input(
            format!("{stem}.x2.5.q80.jpg"),
            encode(&big, Some(80)),
            "imagefile",
            None,
            px(&big),
        ));
        if stem.starts_with("screenshot") && screenshot.is_none() {
            screenshot = Some(img.clone());
        }
        if biggest.as_ref().is_none_or(|b| px(b) < px(&img)) {
            biggest = Some(img);
        }
    }
    anyhow::ensure!(!good.is_empty(), "no PNG files in {dirs:?}");
    // One very large photo-like image: the largest fixture scaled to ~16 Mpx.
    if let Some(b) = biggest {
        let s = (16e6 / (b.width() as f64 * b.height() as f64)).sqrt();
        let (w, h) = (
            (b.width() as f64 * s) as u32,
            (b.height() as f64 * s) as u32,
        );
        let huge = b.resize_exact(w, h, FilterType::Triangle);
        good.push(input(
            format!("huge.{w}x{h}.q80.jpg"),
            encode(&huge, Some(80)),
            "imagefile",
            None,
            w as u64 * h as u64,
        ));
    }
    // A "4K screen" of small native-size text: a screenshot tiled 3 × 3. Its text is too
    // small to shrink, so the detector gets the largest input it ever takes (the worst case
    // for memory).
    if let Some(sc) = screenshot {
        let (w, h) = (sc.width(), sc.height());
        let mut tiled = image::RgbImage::new(w * 3, h * 3);
        let rgb = sc.to_rgb8();
        for ty in 0..3 {
            for tx in 0..3 {
                image::imageops::replace(&mut tiled, &rgb, (tx * w) as i64, (ty * h) as i64);
            }
        }
        let tiled = DynamicImage::ImageRgb8(tiled);
        good.push(input(
            format!("tiled3x3.{}x{}.png", w * 3, h * 3),
            encode(&tiled, None),
            "imagefile",
            None,
            px(&tiled),
        ));
    }
    let png = good
        .iter()
        .find(|g| g.name.ends_with(".png"))
        .map(|g| g.file.clone())
        .unwrap();
    let bad = Bad::ALL
        .iter()
        .map(|&b| match b {
            Bad::NotImage => input(
                "bad-not-an-image".into(),
                b"this is plain text, not an image\n".repeat(20),
                "imagefile",
                Some(b),
                0,
            ),
            Bad::Truncated => input(
                "bad-truncated.png".into(),
                png[..png.len() * 2 / 5].to_vec(),
                "imagefile",
                Some(b),
                0,
            ),
            Bad::Empty => input("bad-empty".into(), Vec::new(), "imagefile", Some(b), 0),
            Bad::WrongField => input("bad-wrong-field".into(), png.clone(), "file", Some(b), 0),
        })
        .collect();
    Ok((good, bad))
}

// ---------------------------------------------------------------------------------------
// HTTP

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn handshake(addr: SocketAddr) -> Result<Sender, String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    Ok(send)
}

struct Answer {
    code: i64,
    lines: Vec<String>,
}

/// One request; a malformed answer is an Err like a transport error, prefixed "invalid".
async fn one(path: &str, inp: &Input, send: &mut Sender) -> Result<Answer, String> {
    let req = http::Request::post(path)
        .header("host", "localhost")
        .header("content-type", &inp.content_type)
        .body(Full::new(inp.body.clone()))
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
        serde_json::from_slice(&body).map_err(|e| format!("invalid: not JSON ({e})"))?;
    let code = v["DataStatus"]["StatusCode"]
        .as_i64()
        .ok_or("invalid: no StatusCode")?;
    let want_http = match code {
        502 => 503,
        429 => 429,
        _ => 200,
    };
    if status != want_http {
        return Err(format!("invalid: code {code} with HTTP {status}"));
    }
    let count = v["DataStatus"]["DataTotalCount"].as_i64();
    let lines: Vec<String> = if code == 100 {
        let arr = v["Data"]["ResultText"]
            .as_array()
            .ok_or("invalid: 100 without Data.ResultText")?;
        arr.iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or("invalid: non-string line")?
    } else {
        if !v["Data"].is_null() {
            return Err(format!("invalid: code {code} with Data"));
        }
        Vec::new()
    };
    if count != Some(lines.len() as i64) {
        return Err(format!(
            "invalid: DataTotalCount {count:?} for {} lines",
            lines.len()
        ));
    }
    Ok(Answer { code, lines })
}

// ---------------------------------------------------------------------------------------
// Recording

#[derive(Clone, Copy)]
struct Done {
    /// Seconds since the phase start when the answer arrived.
    at: f64,
    ms: f64,
    good: bool,
    pixels: u64,
}

#[derive(Default)]
struct Tally {
    done: Vec<Done>,
    codes: BTreeMap<i64, u64>,
    failures: Vec<String>,
    /// First answer per good image, to check later ones against.
    texts: BTreeMap<usize, Vec<String>>,
    mismatches: u64,
}

impl Tally {
    fn fail(&mut self, msg: String) {
        if self.failures.len() < 20 {
            eprintln!("FAIL: {msg}");
        }
        self.failures.push(msg);
    }
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

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    t: f64,
    requests: u64,
    rss_mib: f64,
    rps: f64,
    p50: f64,
    p99: f64,
}

struct Ctx {
    addr: SocketAddr,
    path: String,
    good: Vec<Input>,
    bad: Vec<Input>,
    args: Args,
}

impl Ctx {
    /// The input of request number `i`: a bad one every `bad_every`, else the next good one.
    fn pick(&self, i: u64) -> (Option<usize>, &Input) {
        let be = self.args.bad_every;
        if be > 0 && (i + 1).is_multiple_of(be) {
            (
                None,
                &self.bad[((i + 1) / be - 1) as usize % self.bad.len()],
            )
        } else {
            let g = (i - i.checked_div(be).unwrap_or(0)) as usize % self.good.len();
            (Some(g), &self.good[g])
        }
    }
}

/// Check one answer against what `inp` should get; true if the connection is still usable.
fn judge(
    tally: &mut Tally,
    idx: Option<usize>,
    inp: &Input,
    r: Result<Result<Answer, String>, tokio::time::error::Elapsed>,
    at: f64,
    ms: f64,
    busy_ok: bool,
) -> bool {
    match r {
        Err(_) => {
            tally.fail(format!("{}: no answer within the client timeout", inp.name));
            false
        }
        Ok(Err(e)) => {
            tally.fail(format!("{}: {e}", inp.name));
            false
        }
        Ok(Ok(a)) => {
            *tally.codes.entry(a.code).or_default() += 1;
            let expected: &[i64] = match inp.bad {
                Some(b) => b.expected(),
                None => &[100],
            };
            let busy = busy_ok && matches!(a.code, 502 | 429);
            if !expected.contains(&a.code) && !busy {
                tally.fail(format!(
                    "{}: answered {} ({expected:?} expected)",
                    inp.name, a.code
                ));
            }
            if let (Some(g), 100) = (idx, a.code) {
                match tally.texts.get(&g) {
                    None => {
                        tally.texts.insert(g, a.lines);
                    }
                    Some(prev) if *prev != a.lines => {
                        tally.mismatches += 1;
                        tally.fail(format!("{}: different text than before", inp.name));
                    }
                    Some(_) => {}
                }
            }
            tally.done.push(Done {
                at,
                ms,
                good: inp.bad.is_none() && a.code == 100,
                pixels: inp.pixels,
            });
            true
        }
    }
}

/// Closed loop: `clients` connections send requests `0..total` (shared counter).
async fn closed_loop(
    ctx: Arc<Ctx>,
    total: u64,
    order: Arc<dyn Fn(u64) -> u64 + Send + Sync>,
    tally: Arc<Mutex<Tally>>,
    start: Instant,
) {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..ctx.args.clients {
        let (ctx, next, tally, order) = (ctx.clone(), next.clone(), tally.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let timeout = Duration::from_secs_f64(ctx.args.timeout);
            let mut send: Option<Sender> = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let (idx, inp) = ctx.pick(order(i));
                if send.is_none() {
                    match handshake(ctx.addr).await {
                        Ok(s) => send = Some(s),
                        Err(e) => {
                            tally.lock().unwrap().fail(format!("{}: {e}", inp.name));
                            continue;
                        }
                    }
                }
                let t0 = Instant::now();
                let r = tokio::time::timeout(timeout, one(&ctx.path, inp, send.as_mut().unwrap()))
                    .await;
                let ms = t0.elapsed().as_secs_f64() * 1e3;
                let at = start.elapsed().as_secs_f64();
                if !judge(&mut tally.lock().unwrap(), idx, inp, r, at, ms, false) {
                    send = None;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

fn sampler(
    pid: Option<u32>,
    tally: Arc<Mutex<Tally>>,
    start: Instant,
    every: f64,
    window: f64,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Sample>> {
    tokio::spawn(async move {
        let mut out = Vec::new();
        let take = |out: &mut Vec<Sample>| {
            let t = start.elapsed().as_secs_f64();
            let tl = tally.lock().unwrap();
            let from = (t - window).max(0.0);
            let recent: Vec<&Done> = tl.done.iter().filter(|d| d.at >= from).collect();
            let lat = sorted(recent.iter().filter(|d| d.good).map(|d| d.ms).collect());
            out.push(Sample {
                t,
                requests: tl.done.len() as u64,
                rss_mib: pid
                    .and_then(rss_kib)
                    .map_or(f64::NAN, |k| k as f64 / 1024.0),
                rps: if t - from > 0.0 {
                    recent.len() as f64 / (t - from)
                } else {
                    0.0
                },
                p50: pct(&lat, 0.5),
                p99: pct(&lat, 0.99),
            });
        };
        while !stop.load(Ordering::Relaxed) {
            take(&mut out);
            tokio::time::sleep(Duration::from_secs_f64(every)).await;
        }
        take(&mut out);
        out
    })
}

// ---------------------------------------------------------------------------------------
// Output

fn write_csv(path: &Path, samples: &[Sample]) -> anyhow::Result<()> {
    let mut s = String::from("t_s,requests,rss_mib,req_per_s,p50_ms,p99_ms\n");
    for x in samples {
        writeln!(
            s,
            "{:.1},{},{:.1},{:.3},{:.0},{:.0}",
            x.t, x.requests, x.rss_mib, x.rps, x.p50, x.p99
        )?;
    }
    std::fs::write(path, s)?;
    Ok(())
}

/// Three stacked panels over time: RSS, requests/s, p50 and p99 latency.
fn write_svg(path: &Path, samples: &[Sample], title: &str) -> anyhow::Result<()> {
    let (w, ph, left, top, gap) = (900.0, 200.0, 70.0, 40.0, 50.0);
    let pw = w - left - 30.0;
    let height = top + 3.0 * ph + 2.0 * gap + 50.0;
    let tmax = samples.last().map_or(1.0, |s| s.t).max(1.0);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="22" font-size="15">{}</text>
"#,
        xml(title)
    );
    type Get = fn(&Sample) -> f64;
    type Series<'a> = Vec<(&'a str, &'a str, Get)>;
    let panels: [(&str, Series); 3] = [
        ("server RSS (MiB)", vec![("RSS", "#1f77b4", |s| s.rss_mib)]),
        (
            "requests/s (rolling)",
            vec![("req/s", "#2ca02c", |s| s.rps)],
        ),
        (
            "latency of images (ms, rolling)",
            vec![("p50", "#ff7f0e", |s| s.p50), ("p99", "#d62728", |s| s.p99)],
        ),
    ];
    for (pi, (label, series)) in panels.iter().enumerate() {
        let y0 = top + pi as f64 * (ph + gap);
        let vmax = series
            .iter()
            .flat_map(|(_, _, f)| samples.iter().map(f))
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max);
        let vmax = nice_ceiling(vmax.max(1e-9));
        let _ = writeln!(
            svg,
            r##"<rect x="{left}" y="{y0}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>
<text x="{left}" y="{}" >{}</text>"##,
            y0 - 6.0,
            xml(label)
        );
        for k in 0..=4 {
            let v = vmax * k as f64 / 4.0;
            let y = y0 + ph - ph * k as f64 / 4.0;
            let _ = writeln!(
                svg,
                r##"<line x1="{left}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                left + pw,
                left - 5.0,
                y + 4.0,
                fmt_num(v)
            );
        }
        for (si, (name, color, f)) in series.iter().enumerate() {
            let pts: Vec<String> = samples
                .iter()
                .filter(|s| f(s).is_finite())
                .map(|s| {
                    format!(
                        "{:.1},{:.1}",
                        left + pw * s.t / tmax,
                        y0 + ph - ph * (f(s) / vmax).min(1.0)
                    )
                })
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"/><text x="{}" y="{}" fill="{color}">{name}</text>"#,
                pts.join(" "),
                left + pw - 60.0 + si as f64 * 30.0 - 30.0,
                y0 + 14.0
            );
        }
    }
    let yb = top + 3.0 * ph + 2.0 * gap;
    for k in 0..=5 {
        let t = tmax * k as f64 / 5.0;
        let x = left + pw * k as f64 / 5.0;
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
            yb + 16.0,
            fmt_num(t)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">time (s)</text></svg>"#,
        left + pw / 2.0,
        yb + 36.0
    );
    std::fs::write(path, svg)?;
    Ok(())
}

fn nice_ceiling(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * p {
            return m * p;
        }
    }
    10.0 * p
}

fn fmt_num(v: f64) -> String {
    if v >= 100.0 || v == 0.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

// ---------------------------------------------------------------------------------------
// Phases

/// Soak: returns the samples and whether the bounds held.
async fn soak(ctx: Arc<Ctx>, report: &mut Vec<String>) -> anyhow::Result<bool> {
    let a = &ctx.args;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let sam = sampler(
        a.server_pid,
        tally.clone(),
        start,
        a.sample_secs,
        a.window_secs,
        stop.clone(),
    );
    closed_loop(
        ctx.clone(),
        a.requests,
        Arc::new(|i| i),
        tally.clone(),
        start,
    )
    .await;
    stop.store(true, Ordering::Relaxed);
    let samples = sam.await?;
    let secs = start.elapsed().as_secs_f64();
    let tl = tally.lock().unwrap();
    let lat = sorted(tl.done.iter().filter(|d| d.good).map(|d| d.ms).collect());
    let (p50, p99) = (pct(&lat, 0.5), pct(&lat, 0.99));
    let big = sorted(
        tl.done
            .iter()
            .filter(|d| d.good && d.pixels >= 4_000_000)
            .map(|d| d.ms)
            .collect(),
    );
    let small = sorted(
        tl.done
            .iter()
            .filter(|d| d.good && d.pixels < 1_000_000)
            .map(|d| d.ms)
            .collect(),
    );
    let mut ok = tl.failures.is_empty();
    let n = tl.done.len() as u64;
    let at = |frac: f64| {
        samples
            .iter()
            .find(|s| s.requests as f64 >= frac * a.requests as f64)
            .or(samples.last())
            .copied()
    };
    let s20 = at(0.2);
    let last = samples.last().copied();
    let peak = samples
        .iter()
        .map(|s| s.rss_mib)
        .filter(|v| v.is_finite())
        .fold(f64::NAN, f64::max);
    let idle = samples.first().map_or(f64::NAN, |s| s.rss_mib);
    report.push(format!(
        "soak: {n} requests in {secs:.0} s ({:.2} req/s) from {} clients; codes {:?}; {} failures; {} text mismatches",
        n as f64 / secs,
        a.clients,
        tl.codes,
        tl.failures.len(),
        tl.mismatches
    ));
    report.push(format!(
        "soak latency of images: p50 {p50:.0} ms, p99 {p99:.0} ms (p99/p50 {:.2}); images < 1 Mpx p50 {:.0} / p99 {:.0} ms; >= 4 Mpx p50 {:.0} / p99 {:.0} ms",
        p99 / p50,
        pct(&small, 0.5),
        pct(&small, 0.99),
        pct(&big, 0.5),
        pct(&big, 0.99)
    ));
    if let (Some(s20), Some(last)) = (s20, last) {
        let growth = (last.rss_mib - s20.rss_mib) / s20.rss_mib * 100.0;
        report.push(format!(
            "soak RSS: start {idle:.0} MiB, at 20% ({} req) {:.0} MiB, end {:.0} MiB, peak {peak:.0} MiB; growth 20%→100%: {growth:+.1}%",
            s20.requests, s20.rss_mib, last.rss_mib
        ));
        if let Some(m) = a.max_rss_mib {
            if peak.is_nan() || peak > m {
                report.push(format!("FAIL: RSS peak {peak:.0} MiB > {m} MiB"));
                ok = false;
            }
        }
        if let Some(g) = a.max_growth_pct {
            if growth.is_nan() || growth > g {
                report.push(format!("FAIL: RSS growth {growth:.1}% > {g}%"));
                ok = false;
            }
        }
    }
    if let Some(r) = a.max_p99_ratio {
        if p99.is_nan() || p99 > r * p50 {
            report.push(format!("FAIL: p99 {p99:.0} ms > {r} × p50 {p50:.0} ms"));
            ok = false;
        }
    }
    if n != a.requests {
        report.push(format!("FAIL: {} of {} requests answered", n, a.requests));
        ok = false;
    }
    drop(tl);
    if let Some(p) = &a.csv {
        write_csv(p, &samples)?;
    }
    if let Some(p) = &a.svg {
        write_svg(
            p,
            &samples,
            &format!(
                "wenzi serve soak: {n} requests, {} clients, p50 {p50:.0} ms, p99 {p99:.0} ms",
                a.clients
            ),
        )?;
    }
    Ok(ok)
}

/// Throughput: server images/s over the good set (rounds × each once), then the CLI.
async fn throughput(
    ctx: Arc<Ctx>,
    files: &[PathBuf],
    report: &mut Vec<String>,
) -> anyhow::Result<(f64, bool)> {
    let a = &ctx.args;
    let n = (ctx.good.len() * a.throughput_rounds) as u64;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let start = Instant::now();
    // Good images only: map request i to the i-th good input (skipping bad slots).
    let be = a.bad_every;
    let order = Arc::new(move |i: u64| if be > 1 { i + i / (be - 1) } else { i });
    closed_loop(ctx.clone(), n, order, tally.clone(), start).await;
    let secs = start.elapsed().as_secs_f64();
    let tl = tally.lock().unwrap();
    let server_ips = tl.done.iter().filter(|d| d.good).count() as f64 / secs;
    let mut ok = tl.failures.is_empty();
    report.push(format!(
        "throughput: server {} images in {secs:.1} s = {server_ips:.3} images/s ({} clients)",
        tl.done.len(),
        a.clients
    ));
    drop(tl);
    if let Some(cli) = &a.cli {
        let mut cmd = std::process::Command::new(cli);
        cmd.args(a.cli_args.split_whitespace()).arg("--jsonl");
        for _ in 0..a.throughput_rounds {
            cmd.args(files);
        }
        let t0 = Instant::now();
        let out = cmd
            .stderr(std::process::Stdio::null())
            .output()
            .context("running the CLI")?;
        let wall = t0.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&out.stdout);
        let ms: f64 = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["ms"].as_f64())
            .sum();
        let cli_wall = n as f64 / wall;
        let cli_work = n as f64 / (ms / 1e3);
        let ratio = server_ips / cli_work.max(cli_wall);
        report.push(format!(
            "throughput: CLI `{} --jsonl` {n} images in {wall:.1} s wall = {cli_wall:.3} images/s; {:.1} s in recognition = {cli_work:.3} images/s; server/CLI = {:.1}%",
            cli.display(),
            ms / 1e3,
            ratio * 100.0
        ));
        if !out.status.success() {
            report.push(format!("FAIL: the CLI exited with {}", out.status));
            ok = false;
        }
        if let Some(min) = a.min_throughput_ratio {
            if ratio < min {
                report.push(format!(
                    "FAIL: server/CLI throughput {:.1}% < {:.0}%",
                    ratio * 100.0,
                    min * 100.0
                ));
                ok = false;
            }
        }
    }
    Ok((server_ips, ok))
}

/// Open-loop overload: every request must get 100, 502 or 429 in time.
async fn overload(ctx: Arc<Ctx>, capacity: f64, report: &mut Vec<String>) -> bool {
    let a = &ctx.args;
    let rate = capacity * a.overload_factor;
    let n = (rate * a.overload_secs).round().max(1.0) as u64;
    let interval = Duration::from_secs_f64(1.0 / rate);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..n {
        tokio::time::sleep_until((start + interval * i as u32).into()).await;
        let (ctx, tally, refusals) = (ctx.clone(), tally.clone(), refusals.clone());
        tasks.push(tokio::spawn(async move {
            let g = i as usize % ctx.good.len();
            let inp = &ctx.good[g];
            let t0 = Instant::now();
            let r = tokio::time::timeout(Duration::from_secs_f64(ctx.args.timeout), async {
                let mut s = handshake(ctx.addr).await?;
                one(&ctx.path, inp, &mut s).await
            })
            .await;
            let ms = t0.elapsed().as_secs_f64() * 1e3;
            if let Ok(Ok(a)) = &r {
                if matches!(a.code, 502 | 429) {
                    refusals.lock().unwrap().push(ms);
                }
            }
            let at = start.elapsed().as_secs_f64();
            judge(&mut tally.lock().unwrap(), Some(g), inp, r, at, ms, true);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let tl = tally.lock().unwrap();
    let lat = sorted(tl.done.iter().filter(|d| d.good).map(|d| d.ms).collect());
    let refused = sorted(refusals.lock().unwrap().clone());
    let answered = tl.done.len() as u64;
    report.push(format!(
        "overload: {n} requests at {rate:.2}/s ({}× capacity {capacity:.2}/s) over {secs:.0} s: answered {answered}, codes {:?}; 100 p50 {:.0} / p99 {:.0} ms; 502/429 p50 {:.0} / p99 {:.0} ms; {} failures",
        a.overload_factor,
        tl.codes,
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&refused, 0.5),
        pct(&refused, 0.99),
        tl.failures.len()
    ));
    let mut ok = tl.failures.is_empty() && answered == n;
    if pct(&refused, 0.99) > a.max_refusal_ms {
        report.push(format!(
            "FAIL: refusals took {:.0} ms (p99) > {} ms",
            pct(&refused, 0.99),
            a.max_refusal_ms
        ));
        ok = false;
    }
    ok
}

/// SIGTERM in the middle of a closed-loop run.
async fn sigterm(ctx: Arc<Ctx>, report: &mut Vec<String>) -> anyhow::Result<bool> {
    let a = &ctx.args;
    let pid = a.server_pid.context("--sigterm needs --server-pid")?;
    let start = Instant::now();
    // Request records: (started, finished, outcome ok?, error text)
    type Rec = (f64, f64, Result<i64, String>);
    let recs: Arc<Mutex<Vec<Rec>>> = Arc::default();
    let signalled = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..a.clients {
        let (ctx, recs, signalled, next) =
            (ctx.clone(), recs.clone(), signalled.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut send: Option<Sender> = None;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let inp = &ctx.good[i % ctx.good.len()];
                let t0 = start.elapsed().as_secs_f64();
                let after = signalled.load(Ordering::SeqCst);
                let r = async {
                    if send.is_none() {
                        send = Some(handshake(ctx.addr).await?);
                    }
                    one(&ctx.path, inp, send.as_mut().unwrap()).await
                };
                let r = tokio::time::timeout(Duration::from_secs_f64(ctx.args.timeout), r)
                    .await
                    .unwrap_or_else(|_| Err("client timeout".into()));
                let t1 = start.elapsed().as_secs_f64();
                let failed = r.is_err();
                recs.lock().unwrap().push((t0, t1, r.map(|a| a.code)));
                if failed {
                    send = None;
                    if after || signalled.load(Ordering::SeqCst) {
                        break; // refused after the signal: this client is done
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs_f64(a.sigterm_delay)).await;
    let t_sig = start.elapsed().as_secs_f64();
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    signalled.store(true, Ordering::SeqCst);
    anyhow::ensure!(st.success(), "kill -TERM {pid} failed");
    // A new connection shortly after the signal must be refused.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused_new = tokio::net::TcpStream::connect(ctx.addr).await.is_err();
    // Wait for the process to exit.
    let mut exited_after = None;
    while start.elapsed().as_secs_f64() < t_sig + a.grace + 5.0 {
        if !Path::new(&format!("/proc/{pid}")).exists() || is_zombie(pid) {
            exited_after = Some(start.elapsed().as_secs_f64() - t_sig);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs_f64(a.timeout), t).await;
    }
    let recs = recs.lock().unwrap();
    // Requests in flight at the signal (started at least 20 ms before it, so the server had
    // read them): every one must have its answer.
    let margin = 0.02;
    let in_flight: Vec<&Rec> = recs
        .iter()
        .filter(|r| r.0 < t_sig - margin && r.1 >= t_sig)
        .collect();
    let lost: Vec<&Rec> = recs
        .iter()
        .filter(|r| r.0 < t_sig - margin && r.2.as_ref().map_or(true, |c| *c != 100))
        .collect();
    let refused_after = recs
        .iter()
        .filter(|r| r.0 >= t_sig - margin && r.2.is_err())
        .count();
    let answered_after = recs
        .iter()
        .filter(|r| r.0 >= t_sig - margin && r.2.is_ok())
        .count();
    report.push(format!(
        "SIGTERM after {t_sig:.1} s: {} requests in flight, {} of them answered 100; {} lost; afterwards {answered_after} answered (already read) and {refused_after} refused; new connection refused: {refused_new}; exited {} after the signal (grace {} s)",
        in_flight.len(),
        in_flight.iter().filter(|r| matches!(r.2, Ok(100))).count(),
        lost.len(),
        exited_after.map_or("not".into(), |s| format!("{s:.2} s")),
        a.grace
    ));
    for l in lost.iter().take(5) {
        report.push(format!("  lost: {l:?}"));
    }
    let ok = lost.is_empty()
        && refused_new
        && exited_after.is_some_and(|s| s <= a.grace + 1.0)
        && !in_flight.is_empty();
    if !ok {
        report.push("FAIL: graceful shutdown under load".into());
    }
    Ok(ok)
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.fixtures.is_empty() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        args.fixtures = vec![root.join("images"), root.join("detect")];
    }
    let url: http::Uri = args.url.parse()?;
    let host = url.host().unwrap_or("127.0.0.1");
    let port = url.port_u16().unwrap_or(80);
    let addr = tokio::net::lookup_host((host, port))
        .await?
        .find(|a| a.is_ipv4())
        .context("no IPv4 address")?;
    let t0 = Instant::now();
    let (good, bad) = build_inputs(&args.fixtures)?;
    let mpx: f64 = good.iter().map(|g| g.pixels as f64).sum::<f64>() / 1e6;
    println!(
        "soak: {} good images ({mpx:.1} Mpx, {:.1} MiB encoded) + {} bad inputs, made in {:.1} s",
        good.len(),
        good.iter().map(|g| g.file.len()).sum::<usize>() as f64 / (1 << 20) as f64,
        bad.len(),
        t0.elapsed().as_secs_f64()
    );
    let tmp;
    let dump = match &args.dump_dir {
        Some(d) => d.clone(),
        None => {
            tmp = std::env::temp_dir().join(format!("wenzi-soak-{}", std::process::id()));
            tmp.clone()
        }
    };
    std::fs::create_dir_all(&dump)?;
    let mut files = Vec::new();
    for g in &good {
        let p = dump.join(&g.name);
        std::fs::write(&p, &g.file)?;
        files.push(p);
    }
    let ctx = Arc::new(Ctx {
        addr,
        path: format!("{}?appkey={}", wenzi_server::API_PATH, args.key),
        good,
        bad,
        args: args.clone(),
    });
    let mut report = Vec::new();
    let mut ok = true;
    if args.requests > 0 {
        ok &= soak(ctx.clone(), &mut report).await?;
        println!("{}", report.join("\n"));
        report.clear();
    }
    let mut capacity = args.capacity;
    if args.throughput_rounds > 0 {
        let (ips, good) = throughput(ctx.clone(), &files, &mut report).await?;
        ok &= good;
        capacity = capacity.or(Some(ips));
        println!("{}", report.join("\n"));
        report.clear();
    }
    if args.overload_secs > 0.0 {
        let cap = capacity.context("--overload-secs needs --throughput-rounds or --capacity")?;
        ok &= overload(ctx.clone(), cap, &mut report).await;
        println!("{}", report.join("\n"));
        report.clear();
    }
    if args.sigterm {
        ok &= sigterm(ctx.clone(), &mut report).await?;
        println!("{}", report.join("\n"));
    }
    if args.dump_dir.is_none() {
        let _ = std::fs::remove_dir_all(&dump);
    }
    if !ok {
        println!("soak: FAILED");
        std::process::exit(1);
    }
    println!("soak: OK");
    Ok(())
}
