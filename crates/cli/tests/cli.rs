//! The `wenzi` command as users run it.

use assert_cmd::Command;

fn fixture(name: &str) -> String {
    format!(
        "{}/../../fixtures/images/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn prints_the_lines_of_an_image() {
    let out = Command::cargo_bin("wenzi")
        .unwrap()
        .arg(fixture("page_008.png"))
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 6, "{text}");
    assert!(text.contains("kill [-9] number"), "{text}");
}

#[test]
fn jsonl_prints_one_object_per_image_in_order_and_reads_stdin() {
    let bytes = std::fs::read(fixture("line_004.png")).unwrap();
    let out = Command::cargo_bin("wenzi")
        .unwrap()
        .args(["--jsonl", &fixture("page_008.png"), "-"])
        .write_stdin(bytes)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(out).unwrap();
    let objs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(objs.len(), 2);
    assert!(objs[0]["file"].as_str().unwrap().ends_with("page_008.png"));
    assert_eq!(objs[1]["file"], "-");
    let line = &objs[1]["lines"][0];
    assert!(line["text"].as_str().unwrap().contains("Scabrous"));
    assert_eq!(line["box"].as_array().unwrap().len(), 4);
    assert!(objs[1]["ms"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_input_gives_a_message_and_a_nonzero_exit() {
    let dir = std::env::temp_dir().join(format!("wenzi-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk.png");
    std::fs::write(&junk, b"definitely not an image").unwrap();
    let out = Command::cargo_bin("wenzi")
        .unwrap()
        .arg(&junk)
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    assert!(String::from_utf8_lossy(&out).contains("unsupported image format"));
    Command::cargo_bin("wenzi")
        .unwrap()
        .arg(dir.join("missing.png"))
        .assert()
        .failure();
}

#[test]
fn draw_writes_a_png_with_boxes() {
    let out = std::env::temp_dir().join(format!("wenzi-draw-{}.png", std::process::id()));
    Command::cargo_bin("wenzi")
        .unwrap()
        .args(["--draw", out.to_str().unwrap(), &fixture("line_004.png")])
        .assert()
        .success();
    let img = image::open(&out).unwrap();
    assert!(img.width() > 0);
}

#[test]
fn limit_flags_refuse_large_images_and_crowded_pages() {
    let refused = |flag: &str, value: &str| {
        let out = Command::cargo_bin("wenzi")
            .unwrap()
            .args([flag, value, &fixture("page_008.png")])
            .assert()
            .failure()
            .get_output()
            .stderr
            .clone();
        String::from_utf8_lossy(&out).into_owned()
    };
    // page_008 is 6 lines on a few hundred thousand pixels
    let msg = refused("--max-pixels", "1000");
    assert!(msg.contains("over the limit of 1000 pixels"), "{msg}");
    let msg = refused("--max-lines", "2");
    assert!(msg.contains("limit exceeded"), "{msg}");
    // the same limits from the environment (as `wenzi serve` deployments set them)
    Command::cargo_bin("wenzi")
        .unwrap()
        .env("WENZI_MAX_LINES", "2")
        .arg(fixture("page_008.png"))
        .assert()
        .failure();
    // generous limits change nothing
    Command::cargo_bin("wenzi")
        .unwrap()
        .args(["--max-pixels", "100000000", "--max-lines", "6"])
        .arg(fixture("page_008.png"))
        .assert()
        .success();
}
