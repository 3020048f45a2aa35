//! The demo page in headless Chromium, driven over the DevTools protocol: upload an image
//! through the page's file input and check the recognized text appears, the line and word
//! boxes are drawn over the image at its displayed size, and hovering a line highlights its
//! box.
//!
//! Needs Debian's `chromium` (/usr/bin/chromium, or $WENZI_CHROMIUM). Without it the test is
//! skipped with a message, unless WENZI_REQUIRE_BROWSER=1 (CI), where it fails.
//! WENZI_SCREENSHOT=path.png saves a screenshot of the page after the upload.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;
use wenzi_server::{bind, ServeConfig};

mod common;

fn find_chromium() -> Option<String> {
    if let Ok(p) = std::env::var("WENZI_CHROMIUM") {
        return Some(p);
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .map(str::to_string)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Cdp {
    ws: Ws,
    next: u64,
    session: Option<String>,
}

impl Cdp {
    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("no answer to {method}"))
                .expect("devtools connection closed")
                .unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method} failed: {e}");
                }
                return v["result"].clone();
            }
        }
    }

    async fn eval(&mut self, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true}),
            )
            .await;
        r["result"]["value"].clone()
    }
}

#[tokio::test]
async fn demo_page_recognizes_an_uploaded_image() {
    let Some(chromium) = find_chromium() else {
        if std::env::var("WENZI_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!(
                "WENZI_REQUIRE_BROWSER=1 but Chromium is not installed (apt-get install chromium)"
            );
        }
        eprintln!("SKIPPED demo_page_recognizes_an_uploaded_image: Chromium not installed (set WENZI_REQUIRE_BROWSER=1 to fail instead)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = ServeConfig {
        listen: "127.0.0.1:0".into(),
        database: dir.path().join("k.db").to_str().unwrap().into(),
        app: wenzi_server::AppConfig {
            workers: 2,
            ..wenzi_server::AppConfig::default()
        },
        ..ServeConfig::default()
    };
    // The real engine on a real page: what the browser shows is what wenzi read.
    let engine = wenzi::Engine::builder().build().expect("engine");
    let server = bind(cfg, Arc::new(engine)).await.unwrap();
    let addr = server.local_addr();
    let state = server.state().clone();
    tokio::spawn(server.run_until(std::future::pending()));

    let png = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/images/page_008.png"
    ))
    .unwrap();
    let width = image_width(&png);
    let img = dir.path().join("sample.png");
    std::fs::write(&img, &png).unwrap();
    let profile = dir.path().join("profile");

    let mut child = tokio::process::Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--remote-debugging-port=0",
            "--remote-allow-origins=*",
            "--window-size=1200,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("about:blank")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starting chromium");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let ws_url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if let Some(u) = l.strip_prefix("DevTools listening on ") {
                return u.trim().to_string();
            }
        }
        panic!("chromium exited without a DevTools address");
    })
    .await
    .expect("chromium did not start in 60 s");
    // keep draining chromium's stderr
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap();
    let mut cdp = Cdp {
        ws,
        next: 0,
        session: None,
    };
    let target = cdp
        .call("Target.createTarget", json!({"url": "about:blank"}))
        .await;
    let tid = target["targetId"].as_str().unwrap().to_string();
    let att = cdp
        .call(
            "Target.attachToTarget",
            json!({"targetId": tid, "flatten": true}),
        )
        .await;
    cdp.session = Some(att["sessionId"].as_str().unwrap().to_string());
    cdp.call("Page.enable", json!({})).await;
    cdp.call("Runtime.enable", json!({})).await;
    cdp.call("Page.navigate", json!({"url": format!("http://{addr}/")}))
        .await;
    let mut ready = false;
    for _ in 0..200 {
        if cdp
            .eval("document.readyState === 'complete' && !!document.getElementById('file')")
            .await
            == json!(true)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "demo page did not load");

    let doc = cdp.call("DOM.getDocument", json!({})).await;
    let root = doc["root"]["nodeId"].clone();
    let input = cdp
        .call(
            "DOM.querySelector",
            json!({"nodeId": root, "selector": "#file"}),
        )
        .await;
    cdp.call(
        "DOM.setFileInputFiles",
        json!({"nodeId": input["nodeId"], "files": [img.to_str().unwrap()]}),
    )
    .await;

    let mut text = String::new();
    for _ in 0..1200 {
        let v = cdp
            .eval("document.body.dataset.done === '1' ? document.getElementById('result').innerText : (document.getElementById('status').className === 'err' ? 'ERROR: ' + document.getElementById('status').textContent : '')")
            .await;
        text = v.as_str().unwrap_or_default().to_string();
        if !text.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let want = ["kill [-9] number", "/etc/", "向进程发送信号(比如终止它)。"];
    for w in &want {
        assert!(text.contains(w), "page shows {text:?}, expected {want:?}");
    }
    let want_lines = 6u64;
    assert_eq!(
        cdp.eval("document.querySelectorAll('#result li')[4].textContent")
            .await,
        json!("kill [-9] number")
    );
    // The image is shown, with one box per result line and one per word over it, scaled
    // from image pixels to the displayed size.
    assert_eq!(
        cdp.eval("document.getElementById('preview').naturalWidth")
            .await,
        json!(width)
    );
    let overlay = cdp.eval(OVERLAY_JS).await;
    assert_eq!(overlay["items"], json!(want_lines), "{overlay}");
    assert_eq!(overlay["lines"], overlay["items"], "{overlay}");
    assert!(overlay["words"].as_u64().unwrap() > want_lines, "{overlay}");
    assert_eq!(overlay["words"], overlay["page_words"], "{overlay}");
    for check in ["scaled", "same_size", "all_inside", "line_placed"] {
        assert_eq!(overlay[check], json!(true), "{check}: {overlay}");
    }

    // Hovering a result line highlights its box, and only its box; leaving clears it.
    let at = cdp
        .eval(
            "(() => { const li = document.querySelectorAll('#result li')[4]; li.scrollIntoView(); \
             const r = li.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()",
        )
        .await;
    let hover = |x: f64, y: f64| json!({"type": "mouseMoved", "x": x, "y": y, "button": "none", "pointerType": "mouse"});
    cdp.call(
        "Input.dispatchMouseEvent",
        hover(at[0].as_f64().unwrap(), at[1].as_f64().unwrap()),
    )
    .await;
    let lit = "[...document.querySelectorAll('#overlay polygon.hl')].map(p => p.dataset.line)";
    assert_eq!(cdp.eval(lit).await, json!(["4"]));
    assert_eq!(
        cdp.eval("document.querySelectorAll('#result li')[4].classList.contains('hl')")
            .await,
        json!(true)
    );
    cdp.call("Input.dispatchMouseEvent", hover(2.0, 2.0)).await;
    assert_eq!(cdp.eval(lit).await, json!([]));
    assert_eq!(
        state.metrics().requests("demo", wenzi_server::Code::Ok),
        1,
        "the page used the demo endpoint"
    );
    if let Ok(path) = std::env::var("WENZI_SCREENSHOT") {
        let shot = cdp
            .call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        std::fs::write(path, base64_decode::decode(shot["data"].as_str().unwrap())).unwrap();
    }
    let _ = child.kill().await;
}

/// What the overlay shows, measured in the page: boxes per kind, whether the SVG covers the
/// displayed image exactly, whether the image is shown smaller than its pixels (so scaling
/// matters), whether every box lies on the image, and whether line 4's box sits where its
/// `box` scaled to the display puts it.
const OVERLAY_JS: &str = r#"(() => {
  const page = JSON.parse(document.getElementById('raw').textContent).Data.Pages[0];
  const img = document.getElementById('preview').getBoundingClientRect();
  const svg = document.getElementById('overlay').getBoundingClientRect();
  const polys = [...document.querySelectorAll('#overlay polygon')];
  const lines = polys.filter(p => p.classList.contains('line'));
  const inside = (r) => r.left >= img.left - 1 && r.right <= img.right + 1
    && r.top >= img.top - 1 && r.bottom <= img.bottom + 1;
  const s = img.width / page.width;
  const box = page.lines[4].box, r = lines[4].getBoundingClientRect();
  const near = (a, b) => Math.abs(a - b) < 2;
  return {
    items: document.querySelectorAll('#result li').length,
    lines: lines.length,
    words: polys.filter(p => p.classList.contains('word')).length,
    page_words: page.lines.reduce((n, l) => n + l.words.length, 0),
    same_size: near(svg.width, img.width) && near(svg.height, img.height)
      && near(svg.left, img.left) && near(svg.top, img.top),
    scaled: img.width < page.width - 10,
    all_inside: polys.every(p => inside(p.getBoundingClientRect())),
    line_placed: near(r.left, img.left + Math.min(...box.map(p => p[0])) * s)
      && near(r.bottom, img.top + Math.max(...box.map(p => p[1])) * s)
      && near(r.width, (Math.max(...box.map(p => p[0])) - Math.min(...box.map(p => p[0]))) * s),
  };
})()"#;

/// Width from a PNG's IHDR chunk.
fn image_width(png: &[u8]) -> u32 {
    u32::from_be_bytes(png[16..20].try_into().unwrap())
}

/// Minimal base64 decoder for the screenshot (avoids a dependency).
mod base64_decode {
    pub fn decode(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => 0,
        };
        let bytes: Vec<u8> = s
            .bytes()
            .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
            .collect();
        let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
        for ch in bytes.chunks(4) {
            let mut n = 0u32;
            for (i, c) in ch.iter().enumerate() {
                n |= u32::from(val(*c)) << (18 - 6 * i);
            }
            out.push((n >> 16) as u8);
            if ch.len() > 2 {
                out.push((n >> 8) as u8);
            }
            if ch.len() > 3 {
                out.push(n as u8);
            }
        }
        out
    }
}
