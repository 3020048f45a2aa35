//! The JSON shape of a recognized page (documented on `wenzi::Page`): checked on real pages,
//! and read back into the same `Page`.

#![cfg(feature = "serde")]

use serde_json::Value;
use wenzi::{Engine, Page};

fn recognize(name: &str) -> Page {
    let path = format!(
        "{}/../../fixtures/images/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Engine::builder()
        .build()
        .expect("default engine builds")
        .recognize(&bytes)
        .expect("the fixture is recognized")
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

/// A quad as `[[x, y]; 4]`, equal to the struct's and inside the page.
fn check_box(v: &Value, quad: &[[f32; 2]; 4], page: &Page) {
    let pts = v.as_array().unwrap_or_else(|| panic!("box: {v}"));
    assert_eq!(pts.len(), 4, "{v}");
    for (p, q) in pts.iter().zip(quad) {
        let xy: Vec<f64> = p
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_f64().unwrap())
            .collect();
        assert_eq!(xy, [q[0] as f64, q[1] as f64], "{v}");
        assert!(xy[0] >= -1.0 && xy[0] <= page.width as f64 + 1.0, "{v}");
        assert!(xy[1] >= -1.0 && xy[1] <= page.height as f64 + 1.0, "{v}");
    }
}

fn check_shape(page: &Page) {
    assert!(!page.lines.is_empty());
    let json = serde_json::to_value(page).unwrap();
    assert_eq!(
        keys(&json),
        ["blocks", "height", "lines", "rotation", "timings", "width"]
    );
    assert_eq!(json["width"], page.width);
    assert_eq!(json["height"], page.height);
    assert_eq!(json["rotation"], page.rotation);
    let lines = json["lines"].as_array().unwrap();
    assert_eq!(lines.len(), page.lines.len());
    for (l, line) in lines.iter().zip(&page.lines) {
        assert_eq!(
            keys(l),
            ["box", "confidence", "orientation", "text", "words"]
        );
        assert_eq!(l["text"], line.text.as_str());
        assert_eq!(l["confidence"].as_f64().unwrap(), line.confidence as f64);
        assert_eq!(l["orientation"], line.orientation.as_str());
        check_box(&l["box"], &line.quad, page);
        let words = l["words"].as_array().unwrap();
        assert_eq!(words.len(), line.words.len());
        assert!(!words.is_empty(), "{l}");
        for (w, word) in words.iter().zip(&line.words) {
            assert_eq!(keys(w), ["box", "chars", "confidence", "text"]);
            assert_eq!(w["text"], word.text.as_str());
            check_box(&w["box"], &word.quad, page);
            let chars = w["chars"].as_array().unwrap();
            assert_eq!(chars.len(), word.chars.len());
            for (c, ch) in chars.iter().zip(&word.chars) {
                assert_eq!(keys(c), ["box", "confidence", "text"]);
                assert_eq!(c["text"], ch.text.as_str());
                check_box(&c["box"], &ch.quad, page);
            }
        }
    }
    let blocks = json["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), page.blocks.len());
    for (b, block) in blocks.iter().zip(&page.blocks) {
        assert_eq!(keys(b), ["bounds", "kind", "lines", "rows"]);
        assert_eq!(b["kind"], block.kind.as_str());
        assert_eq!(
            b["lines"],
            serde_json::json!([block.lines.start, block.lines.end])
        );
        let rows: Vec<[usize; 2]> = block.rows.iter().map(|r| [r.start, r.end]).collect();
        assert_eq!(b["rows"], serde_json::json!(rows));
        assert_eq!(b["bounds"].as_array().unwrap().len(), 4);
    }
    let t = &json["timings"];
    assert_eq!(
        keys(t),
        ["classify", "decode", "detect", "recognize", "total"]
    );
    let total_ms = t["total"].as_f64().unwrap();
    assert!(total_ms > 0.0);
    assert!((total_ms - page.timings.total.as_secs_f64() * 1e3).abs() < 1e-6);

    // The text reads back into the same page (durations to the nanosecond, give or take one).
    let back: Page = serde_json::from_str(&serde_json::to_string(page).unwrap()).unwrap();
    let ns = |p: &Page| p.timings.total.as_nanos() as i128;
    assert!((ns(&back) - ns(page)).abs() <= 1);
    assert_eq!(
        Page {
            timings: page.timings,
            ..back
        },
        *page
    );
}

#[test]
fn a_page_serializes_to_the_documented_shape() {
    check_shape(&recognize("page_008.png"));
}

#[test]
fn a_table_serializes_its_rows_as_pairs() {
    let page = recognize("table_016.png");
    assert!(
        page.blocks.iter().any(|b| !b.rows.is_empty()),
        "table_016 has a table block: {:?}",
        page.blocks
    );
    check_shape(&page);
}

#[test]
fn bad_json_is_an_error_not_a_page() {
    for bad in [
        r#"{"width":1,"height":1,"rotation":0,"lines":[],"blocks":[{"kind":"poem","lines":[0,0],"rows":[],"bounds":[0,0,0,0]}]}"#,
        r#"{"width":1,"height":1,"rotation":0,"lines":[],"blocks":[{"kind":"table","lines":{"start":0,"end":0},"rows":[],"bounds":[0,0,0,0]}]}"#,
        r#"{"width":1,"height":1,"rotation":0,"lines":[],"blocks":[],"timings":{"decode":-1,"detect":0,"classify":0,"recognize":0,"total":0}}"#,
    ] {
        assert!(serde_json::from_str::<Page>(bad).is_err(), "{bad}");
    }
    let ok = r#"{"width":1,"height":1,"rotation":0,"lines":[],"blocks":[]}"#;
    assert_eq!(
        serde_json::from_str::<Page>(ok).unwrap(),
        Page {
            width: 1,
            height: 1,
            ..Page::default()
        }
    );
}
