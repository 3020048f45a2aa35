//! `detail=1` (the pages as `wenzi::Page` JSON next to `ResultText`) and documents (PDF pages
//! read in order, a page cap, broken PDFs), with the test backend and with the real engine.

mod common;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use common::*;
use serde_json::Value;
use wenzi_server::testing::{expected_lines, tiny_png};
use wenzi_server::{AppConfig, OcrBackend, API_PATH, DEMO_PATH};

fn api(key: &str, query: &str) -> String {
    format!("{API_PATH}?appkey={key}{query}")
}

/// The contract's answer, byte for byte, for `lines`.
fn seed_answer(a: &Answer, lines: &[String]) -> String {
    format!(
        "{{\"DataStatus\":{{\"StatusCode\":100,\"StatusDescription\":{},\"ResponseDateTime\":{},\"DataTotalCount\":{}}},\"Data\":{{\"ResultText\":{}}}}}",
        serde_json::to_string(&a.desc()).unwrap(),
        a.json["DataStatus"]["ResponseDateTime"],
        lines.len(),
        serde_json::to_string(lines).unwrap()
    )
}

fn pages(a: &Answer) -> &Vec<Value> {
    a.json["Data"]["Pages"]
        .as_array()
        .unwrap_or_else(|| panic!("no Data.Pages: {}", a.json))
}

fn texts(page: &Value) -> Vec<String> {
    page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn without_detail_1_the_answer_is_the_contract() {
    let t = app().await;
    let png = tiny_png(20, 10);
    for query in ["", "&detail=0", "&detail=", "&detail=true", "&detail=2"] {
        let a = call(&t.router, upload(&api(&t.key, query), "imagefile", &png)).await;
        assert_eq!(a.code(), 100, "{query}: {}", a.json);
        assert_eq!(a.raw, seed_answer(&a, &expected_lines(&png)), "{query}");
    }
}

#[tokio::test]
async fn detail_1_adds_the_pages_after_result_text() {
    let t = app().await;
    let png = tiny_png(20, 10);
    for path in [api(&t.key, "&detail=1"), format!("{DEMO_PATH}?detail=1")] {
        let a = call(&t.router, upload(&path, "imagefile", &png)).await;
        assert_eq!(a.code(), 100, "{}", a.json);
        let want = expected_lines(&png);
        assert_eq!(a.lines(), want);
        assert_eq!(a.json["DataStatus"]["DataTotalCount"], 2);
        let data_keys: Vec<&String> = a.json["Data"].as_object().unwrap().keys().collect();
        assert_eq!(data_keys, ["Pages", "ResultText"], "{}", a.json); // (sorted by Value)
        assert!(
            a.raw.contains("\"Data\":{\"ResultText\":["),
            "ResultText stays first: {}",
            a.raw
        );
        let pages = pages(&a);
        assert_eq!(pages.len(), 1);
        assert_eq!(texts(&pages[0]), want);
        // The JSON is `wenzi::Page`'s: it reads back into one, words and all.
        let page: wenzi::Page = serde_json::from_value(pages[0].clone()).unwrap();
        assert_eq!(page.lines.len(), 2);
        let words: Vec<&str> = page.lines[0]
            .words
            .iter()
            .map(|w| w.text.as_str())
            .collect();
        assert_eq!(words, want[0].split(' ').collect::<Vec<_>>());
    }
}

/// The real engine, built once for the tests below.
fn engine() -> Arc<wenzi::Engine> {
    static E: OnceLock<Arc<wenzi::Engine>> = OnceLock::new();
    E.get_or_init(|| Arc::new(wenzi::Engine::builder().build().expect("engine")))
        .clone()
}

async fn engine_app(max_pdf_pages: usize) -> TestApp {
    let backend: Arc<dyn OcrBackend> = engine();
    app_with_backend(
        AppConfig {
            timeout: Duration::from_secs(300),
            max_pdf_pages,
            ..test_config()
        },
        backend,
    )
    .await
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../fixtures/images/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A PDF whose pages are the scans of `names` (as `wenzi --format pdf` writes them, with no
/// text layer).
fn scan_pdf(names: &[&str]) -> Vec<u8> {
    let mut pdf = wenzi_document::SearchablePdf::new();
    for name in names {
        let image = engine().decode(&fixture(name)).unwrap();
        pdf.add_page(&image, &wenzi::Page::default(), 150.0)
            .unwrap();
    }
    pdf.finish()
}

fn inside(b: &Value, page: &Value) {
    let (w, h) = (
        page["width"].as_f64().unwrap(),
        page["height"].as_f64().unwrap(),
    );
    let pts = b.as_array().unwrap();
    assert_eq!(pts.len(), 4, "{b}");
    for p in pts {
        let (x, y) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
        assert!(
            (0.0..=w).contains(&x) && (0.0..=h).contains(&y),
            "{b} outside {w}x{h}"
        );
    }
}

#[tokio::test]
async fn detail_1_has_lines_and_words_inside_the_image() {
    let t = engine_app(20).await;
    let png = fixture("page_008.png");
    let a = call(
        &t.router,
        upload(&api(&t.key, "&detail=1"), "imagefile", &png),
    )
    .await;
    assert_eq!(a.code(), 100, "{}", a.json);
    let pages = pages(&a);
    assert_eq!(pages.len(), 1);
    let page = &pages[0];
    assert_eq!(
        (page["width"].as_u64(), page["height"].as_u64()),
        (Some(861), Some(297))
    );
    assert_eq!(page["rotation"], 0);
    assert_eq!(texts(page), a.lines());
    assert!(
        a.lines().iter().any(|l| l == "kill [-9] number"),
        "{:?}",
        a.lines()
    );
    let lines = page["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 6);
    for l in lines {
        inside(&l["box"], page);
        assert_eq!(l["orientation"], "upright");
        let c = l["confidence"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&c), "{l}");
        let words = l["words"].as_array().unwrap();
        assert!(!words.is_empty(), "{l}");
        for w in words {
            inside(&w["box"], page);
        }
    }
    let blocks = page["blocks"].as_array().unwrap();
    assert!(!blocks.is_empty());
    assert_eq!(blocks.last().unwrap()["lines"][1], 6);
    // The same image without detail: the contract, with the same lines.
    let plain = call(&t.router, upload(&api(&t.key, ""), "imagefile", &png)).await;
    assert_eq!(plain.raw, seed_answer(&plain, &a.lines()));
}

#[tokio::test]
async fn a_pdf_is_read_page_by_page_in_order() {
    let t = engine_app(20).await;
    let pdf = scan_pdf(&["page_008.png", "page_003.png"]);
    let a = call(
        &t.router,
        upload(&api(&t.key, "&detail=1"), "imagefile", &pdf),
    )
    .await;
    assert_eq!(a.code(), 100, "{}", a.json);
    let pages = pages(&a);
    assert_eq!(pages.len(), 2);
    let (first, second) = (texts(&pages[0]), texts(&pages[1]));
    assert!(first.iter().any(|l| l == "kill [-9] number"), "{first:?}");
    assert!(second.iter().any(|l| l.contains("杜甫")), "{second:?}");
    assert_eq!(pages[0]["width"], 861);
    assert_eq!(pages[1]["width"], 639);
    assert_eq!(a.lines(), [first, second].concat());
    assert_eq!(
        a.json["DataStatus"]["DataTotalCount"],
        a.lines().len(),
        "every page's lines are counted"
    );
    // Without detail: the contract's answer, all pages' lines.
    let plain = call(&t.router, upload(&api(&t.key, ""), "imagefile", &pdf)).await;
    assert_eq!(plain.raw, seed_answer(&plain, &a.lines()));
}

#[tokio::test]
async fn over_the_page_cap_and_broken_pdfs_are_minus_1() {
    let t = engine_app(1).await;
    let pdf = scan_pdf(&["line_004.png", "line_004.png"]);
    let a = call(&t.router, upload(&api(&t.key, ""), "imagefile", &pdf)).await;
    assert_error(&a, -1);
    assert!(
        a.desc().contains("2 pages, over the limit of 1"),
        "{}",
        a.desc()
    );
    // One page is within the cap.
    let one = scan_pdf(&["line_004.png"]);
    let a = call(&t.router, upload(&api(&t.key, ""), "imagefile", &one)).await;
    assert_eq!(a.code(), 100, "{}", a.json);
    assert!(!a.lines().is_empty());

    let broken: [(&str, Vec<u8>); 3] = [
        ("header only", b"%PDF-1.7\n".to_vec()),
        (
            "garbage",
            b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 9 0 R".to_vec(),
        ),
        ("truncated", one[..one.len() / 3].to_vec()),
    ];
    for (what, bytes) in broken {
        let a = call(&t.router, upload(&api(&t.key, ""), "imagefile", &bytes)).await;
        assert_error(&a, -1);
        assert!(
            a.desc().contains("could not be decoded"),
            "{what}: {}",
            a.desc()
        );
    }
    // Failed documents do not use the key's quota.
    let rec = t.store.get(&t.key).await.unwrap().unwrap();
    assert_eq!(rec.used, 1);
}
