//! The `wenzi` command as users run it.

use assert_cmd::Command;

fn fixture(name: &str) -> String {
    format!(
        "{}/../../fixtures/images/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Runs `wenzi ARGS`, expects success, returns its standard output.
fn stdout_of(args: &[&str]) -> String {
    let out = Command::cargo_bin("wenzi")
        .unwrap()
        .args(args)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn prints_the_lines_of_an_image() {
    let text = stdout_of(&[&fixture("page_008.png")]);
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

#[test]
fn formats_tsv_hocr_alto_and_json_words() {
    let page = fixture("page_008.png");
    let run = |args: &[&str]| stdout_of(&[args, &[page.as_str()]].concat());
    let tsv = run(&["--format", "tsv"]);
    assert!(tsv.starts_with("level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"));
    assert!(
        tsv.lines()
            .any(|l| l.starts_with("5\t") && l.ends_with("\tnumber")),
        "{tsv}"
    );
    let hocr = run(&["--format", "hocr"]);
    assert!(hocr.contains("class=\"ocrx_word\"") && hocr.contains(">number</span>"));
    let alto = run(&["--format", "alto"]);
    assert!(alto.contains("CONTENT=\"number\"") && alto.trim_end().ends_with("</alto>"));
    let json: serde_json::Value = serde_json::from_str(&run(&["--json"])).unwrap();
    let line = &json["lines"][4];
    assert_eq!(line["text"], "kill [-9] number");
    let words: Vec<&str> = line["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["text"].as_str().unwrap())
        .collect();
    assert_eq!(words, ["kill", "[-9]", "number"]);
    assert_eq!(line["words"][0]["box"].as_array().unwrap().len(), 4);
    let same: serde_json::Value = serde_json::from_str(&run(&["--format", "json"])).unwrap();
    assert_eq!(same["lines"], json["lines"]);
}

#[test]
fn searchable_pdf_round_trip() {
    let dir = std::env::temp_dir().join(format!("wenzi-cli-pdf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pdf = dir.join("searchable.pdf");
    // A PDF needs an output file.
    Command::cargo_bin("wenzi")
        .unwrap()
        .args(["--format", "pdf", &fixture("page_008.png")])
        .assert()
        .failure();
    Command::cargo_bin("wenzi")
        .unwrap()
        .args(["--format", "pdf", "-o", pdf.to_str().unwrap()])
        .args([fixture("page_008.png"), fixture("page_003.png")])
        .assert()
        .success();
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"));
    // Reading the PDF back reads its two scans, page after page.
    let direct = stdout_of(&[&fixture("page_008.png"), &fixture("page_003.png")]);
    let back = stdout_of(&[pdf.to_str().unwrap()]);
    let squash = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    assert!(
        back.contains('\u{c}'),
        "pages are separated by a form feed: {back:?}"
    );
    let (d, b) = (squash(&direct), squash(&back));
    // At most one edit in ten characters (a rendered scan may lose a period; a positional
    // comparison would count every character after it as wrong).
    let edits = edit_distance(&d, &b);
    assert!(
        edits * 10 <= d.chars().count(),
        "{edits} edits:\n{direct}\n---\n{back}"
    );
    let jsonl = stdout_of(&["--jsonl", pdf.to_str().unwrap()]);
    let pages: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[1]["page"], 2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Levenshtein distance in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}
