//! Prometheus text-format metrics, hand-written (no registry crate needed).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::response::Code;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// At most this many distinct keys get their own label; the rest are counted as "other".
const MAX_KEY_LABELS: usize = 10_000;

#[derive(Debug, Clone, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {}",
                self.counts[i]
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// Escape a Prometheus label value.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, i32), u64>>,
    durations: Mutex<BTreeMap<&'static str, Histogram>>,
    stages: Mutex<BTreeMap<&'static str, Histogram>>,
    keys: Mutex<BTreeMap<(String, String, i32), u64>>,
    pub in_flight: AtomicI64,
    pub connections: AtomicI64,
    pub connections_refused: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
}

/// Gauges read from other components when rendering.
pub struct Snapshot {
    pub queue_depth: i64,
    pub queue_capacity: usize,
    pub workers: usize,
    pub workers_busy: i64,
    pub workers_alive: i64,
    pub worker_panics: usize,
    pub jobs_skipped: usize,
    pub rate_limit_clients: usize,
    pub upload_slots_free: usize,
    pub upload_bytes_free: usize,
}

impl Metrics {
    /// Count an answer of `endpoint` ("api" or "demo") and its total latency.
    pub fn record_request(&self, endpoint: &'static str, code: Code, elapsed: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((endpoint, code.as_i32()))
            .or_default() += 1;
        self.durations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(endpoint)
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Observe one stage duration ("queue_wait", "recognize", or a backend stage).
    pub fn record_stage(&self, stage: &'static str, secs: f64) {
        self.stages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(stage)
            .or_default()
            .observe(secs);
    }

    /// Count an answer for an app key (labelled by its first 8 characters and its name).
    pub fn record_key(&self, key: &str, name: &str, code: Code) {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let prefix: String = key.chars().take(8).collect();
        let mut id = (prefix, name.to_string(), code.as_i32());
        if !keys.contains_key(&id) && keys.len() >= MAX_KEY_LABELS {
            id = ("other".into(), "other".into(), code.as_i32());
        }
        *keys.entry(id).or_default() += 1;
    }

    /// Answers counted so far for (endpoint, code).
    pub fn requests(&self, endpoint: &str, code: Code) -> u64 {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|((e, c), _)| *e == endpoint && *c == code.as_i32())
            .map(|(_, n)| *n)
            .sum()
    }

    pub fn render(&self, snap: &Snapshot) -> String {
        let mut out = String::with_capacity(8192);
        out.push_str("# HELP wenzi_requests_total Answers of the OCR endpoints by business StatusCode.\n# TYPE wenzi_requests_total counter\n");
        {
            let req = self.requests.lock().unwrap_or_else(|p| p.into_inner());
            for endpoint in ["api", "demo"] {
                for code in Code::ALL {
                    let n = req.get(&(endpoint, code.as_i32())).copied().unwrap_or(0);
                    let _ = writeln!(
                        out,
                        "wenzi_requests_total{{endpoint=\"{endpoint}\",code=\"{}\"}} {n}",
                        code.as_i32()
                    );
                }
            }
        }
        out.push_str("# HELP wenzi_request_duration_seconds Time from request start to answer.\n# TYPE wenzi_request_duration_seconds histogram\n");
        for (endpoint, h) in self
            .durations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            h.render(
                &mut out,
                "wenzi_request_duration_seconds",
                &format!("endpoint=\"{endpoint}\""),
            );
        }
        out.push_str("# HELP wenzi_stage_seconds Duration of processing stages: queue_wait, recognize (whole backend call) and the backend's own stages.\n# TYPE wenzi_stage_seconds histogram\n");
        for (stage, h) in self.stages.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            h.render(
                &mut out,
                "wenzi_stage_seconds",
                &format!("stage=\"{}\"", esc(stage)),
            );
        }
        out.push_str("# HELP wenzi_key_requests_total Answers of the keyed endpoint per app key (first 8 characters) and business StatusCode.\n# TYPE wenzi_key_requests_total counter\n");
        for ((prefix, name, code), n) in self.keys.lock().unwrap_or_else(|p| p.into_inner()).iter()
        {
            let _ = writeln!(
                out,
                "wenzi_key_requests_total{{key=\"{}\",name=\"{}\",code=\"{code}\"}} {n}",
                esc(prefix),
                esc(name)
            );
        }
        let gauges: [(&str, &str, f64); 13] = [
            (
                "wenzi_queue_depth",
                "Jobs waiting for a worker.",
                snap.queue_depth as f64,
            ),
            (
                "wenzi_queue_capacity",
                "Size of the work queue.",
                snap.queue_capacity as f64,
            ),
            (
                "wenzi_workers",
                "Configured worker threads.",
                snap.workers as f64,
            ),
            (
                "wenzi_workers_busy",
                "Workers running a recognition.",
                snap.workers_busy as f64,
            ),
            (
                "wenzi_workers_alive",
                "Worker threads alive.",
                snap.workers_alive as f64,
            ),
            (
                "wenzi_in_flight_requests",
                "OCR requests being handled.",
                self.in_flight.load(Ordering::Relaxed) as f64,
            ),
            (
                "wenzi_open_connections",
                "Open client connections.",
                self.connections.load(Ordering::Relaxed) as f64,
            ),
            (
                "wenzi_rate_limit_tracked_clients",
                "Client buckets held by the rate limiters.",
                snap.rate_limit_clients as f64,
            ),
            (
                "wenzi_upload_slots_free",
                "Free slots for request bodies held in memory.",
                snap.upload_slots_free as f64,
            ),
            (
                "wenzi_upload_bytes_free",
                "Free bytes of the upload memory budget.",
                snap.upload_bytes_free as f64,
            ),
            (
                "wenzi_worker_panics_total",
                "Panics caught inside recognition.",
                snap.worker_panics as f64,
            ),
            (
                "wenzi_jobs_skipped_total",
                "Queued jobs dropped because their request had ended.",
                snap.jobs_skipped as f64,
            ),
            (
                "wenzi_connections_refused_total",
                "Connections closed at once because --max-connections were open.",
                self.connections_refused.load(Ordering::Relaxed) as f64,
            ),
        ];
        for (name, help, v) in gauges {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP wenzi_tls_handshake_failures_total TLS handshakes that failed or timed out.\n# TYPE wenzi_tls_handshake_failures_total counter\nwenzi_tls_handshake_failures_total {}",
            self.tls_handshake_failures.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP wenzi_build_info Version of the server.\n# TYPE wenzi_build_info gauge\nwenzi_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}
