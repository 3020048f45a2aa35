//! End-to-end recognition on fixture images with known text.

use std::io::Cursor;
use std::sync::OnceLock;

use wenzi::{Engine, Error};

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| Engine::builder().build().expect("default engine builds"))
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../fixtures/images/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ground_truth(name: &str) -> Vec<String> {
    let gt = std::fs::read_to_string(format!(
        "{}/../../fixtures/images/gt.jsonl",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    for line in gt.lines() {
        // {"image": "...", "lines": ["...", ...]} — parsed by hand to keep dev-deps small.
        if line.contains(&format!("\"image\": \"{name}\"")) {
            let start = line.find("\"lines\": [").unwrap() + 10;
            let body = &line[start..line.rfind(']').unwrap()];
            return body
                .split("\", \"")
                .map(|s| s.trim_matches('"').replace("\\\"", "\""))
                .collect();
        }
    }
    panic!("{name} not in gt.jsonl");
}

/// Text compared the way OCR is scored: whitespace does not count.
/// Whitespace removed and full-width ASCII forms (`１９９７`, which the recognizer may give
/// for digits set upright in a vertical column) folded to ASCII, as the eval's NFKC does.
fn squash(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut diag = row[0];
        row[0] = i;
        for j in 1..=b.len() {
            let up = row[j];
            row[j] = (row[j] + 1)
                .min(row[j - 1] + 1)
                .min(diag + usize::from(a[i - 1] != b[j - 1]));
            diag = up;
        }
    }
    row[b.len()]
}

#[test]
fn mixed_chinese_english_line_is_read_exactly() {
    let lines = wenzi::recognize(&fixture("line_004.png")).unwrap();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(squash(&lines[0]), squash(&ground_truth("line_004.png")[0]));
}

#[test]
fn upside_down_line_is_turned_by_the_orientation_classifier() {
    let img = image::load_from_memory(&fixture("line_004.png"))
        .unwrap()
        .to_rgb8();
    let flipped = image::imageops::rotate180(&img);
    let mut png = Vec::new();
    flipped
        .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let page = engine().recognize(&png).unwrap();
    assert_eq!(page.lines.len(), 1);
    assert_eq!(
        squash(&page.lines[0].text),
        squash(&ground_truth("line_004.png")[0])
    );
}

#[test]
fn rotated_degraded_page_reads_every_line_in_order() {
    let page = engine().recognize(&fixture("degraded_000.png")).unwrap();
    let got: Vec<String> = page.lines.iter().map(|l| squash(&l.text)).collect();
    let want: Vec<String> = ground_truth("degraded_000.png")
        .iter()
        .map(|l| squash(l))
        .collect();
    assert_eq!(got, want);
    for l in &page.lines {
        assert!(l.confidence > 0.5 && l.confidence <= 1.0);
        assert!(l.quad.iter().flatten().all(|v| v.is_finite() && *v >= 0.0));
    }
}

/// Each line must be found, in reading order, with at most `max_edits` wrong characters.
fn assert_lines_close(name: &str, max_edits: usize) {
    let got = wenzi::recognize(&fixture(name)).unwrap();
    assert_texts_close(name, &got, &ground_truth(name), max_edits);
}

/// As many lines as `want`, each within `max_edits` of its own (whitespace ignored).
fn assert_texts_close(what: &str, got: &[String], want: &[String], max_edits: usize) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?}");
    for (g, w) in got.iter().zip(want) {
        let d = edit_distance(&squash(g), &squash(w));
        assert!(d <= max_edits, "{what}: got {g:?}, want {w:?} ({d} edits)");
    }
}

#[test]
fn two_column_page_reads_left_column_then_right() {
    assert_lines_close("page_003.png", 2);
}

#[test]
fn short_page_is_read_line_by_line() {
    assert_lines_close("page_008.png", 1);
}

/// Reads a page of vertical columns: every line exact, the page not turned, every line a
/// vertical column.
fn upright_vertical_page(name: &str) -> wenzi::Page {
    assert_lines_close(name, 0);
    let page = engine().recognize(&fixture(name)).unwrap();
    assert_eq!(page.rotation, 0);
    assert!(page
        .lines
        .iter()
        .all(|l| l.orientation == wenzi::LineOrientation::Vertical));
    page
}

#[test]
fn vertical_page_reads_upright_columns_right_to_left() {
    let page = upright_vertical_page("vertical_000.png");
    assert_eq!(page.blocks.len(), 1);
    assert_eq!(page.blocks[0].kind, wenzi::BlockKind::Vertical);
    // Right to left: each column starts left of the one before it.
    for pair in page.lines.windows(2) {
        assert!(pair[1].quad[0][0] < pair[0].quad[0][0], "{pair:?}");
    }
}

#[test]
fn vertical_yue_is_told_from_ri_by_its_proportions() {
    // 子曰 / 孔子曰: the recognizer reads the wide 曰 as the tall 日 unless the cell's ink
    // box settles it.
    assert_lines_close("vertical_019.jpg", 0);
}

#[test]
fn vertical_page_with_a_digit_column_stays_upright_and_in_column_order() {
    // The date column (`公元1997年`) reads best turned and is not mostly CJK; it is still
    // the last (leftmost) column, and the page is not taken for a turned one.
    upright_vertical_page("vertical_027.jpg");
}

#[test]
fn table_reads_row_by_row_and_is_a_table_block() {
    assert_lines_close("table_016.png", 2);
    let page = engine().recognize(&fixture("table_016.png")).unwrap();
    let table = page
        .blocks
        .iter()
        .find(|b| b.kind == wenzi::BlockKind::Table)
        .expect("a table block");
    // A header row and ten body rows of four cells.
    assert_eq!(table.rows.len(), 11, "{:?}", table.rows);
    assert!(table.rows.iter().all(|r| r.len() == 4), "{:?}", table.rows);
    assert_eq!(page.lines[table.rows[1].start].text, "G05T-9374-W");
}

#[test]
fn a_line_the_detector_cuts_before_its_last_character_is_one_line() {
    // The detector boxes `…不挽` and `留` apart; the joined line is the poster's second line,
    // with its characters placed along the whole line (the last word ends near its end).
    let page = engine()
        .recognize(&fixture("poster_split_line.jpg"))
        .unwrap();
    let texts: Vec<String> = page.lines.iter().map(|l| squash(&l.text)).collect();
    let want = ground_truth("poster_split_line.jpg");
    assert_eq!(texts.len(), want.len(), "{texts:?}");
    for (got, want) in texts.iter().zip(&want) {
        assert_eq!(got, &squash(want), "{texts:?}");
    }
    let line = &page.lines[1];
    let last = line.words.last().expect("words");
    assert!(last.text.ends_with('留'), "{:?}", line.words);
    let right = |q: &[[f32; 2]; 4]| q[1][0].max(q[2][0]);
    assert!(right(&last.quad) > right(&line.quad) - 0.1 * (right(&line.quad) - line.quad[0][0]));
}

/// Encodes `img` turned by `quarter` quarter turns clockwise.
fn turned_png(name: &str, quarter: u8) -> Vec<u8> {
    let img = wenzi::image::load_from_memory(&fixture(name))
        .unwrap()
        .to_rgb8();
    let img = match quarter {
        1 => wenzi::image::imageops::rotate90(&img),
        2 => wenzi::image::imageops::rotate180(&img),
        3 => wenzi::image::imageops::rotate270(&img),
        _ => img,
    };
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), wenzi::image::ImageFormat::Png)
        .unwrap();
    out
}

/// The fixture `name` turned a quarter either way is found turned and read as if upright,
/// each line within `max_edits` of its own.
fn assert_read_turned_back(name: &str, max_edits: usize) {
    let want = ground_truth(name);
    for quarter in [1u8, 3] {
        let page = engine().recognize(&turned_png(name, quarter)).unwrap();
        assert_eq!(page.rotation, u16::from(quarter) * 90, "{name}");
        let what = format!("{name} turned {quarter} quarters");
        assert_texts_close(&what, &page.texts(), &want, max_edits);
    }
}

#[test]
fn a_turned_table_is_read_turned_back_not_as_vertical_columns() {
    // Its CJK cells read as well as columns as as turned lines; its dates and codes read only
    // as turned lines, which settles it: a turned table, read row by row.
    assert_read_turned_back("table_016.png", 2);
}

#[test]
fn a_turned_cjk_page_is_read_turned_back_not_as_columns_first() {
    // Turned either way, the page's lines are tall boxes whose cells read as columns about
    // as confidently as the lines do; turned 270° its sideways glyphs read as columns in
    // reverse order. The classifier's flag on those lines keeps the page from being taken
    // for one of upright columns and read as such.
    assert_read_turned_back("degraded_000.png", 2);
}

#[test]
fn turned_pages_read_as_if_upright() {
    let want = ground_truth("page_008.png");
    let upright = engine().recognize(&fixture("page_008.png")).unwrap();
    for quarter in 1..4u8 {
        let png = turned_png("page_008.png", quarter);
        let page = engine().recognize(&png).unwrap();
        assert_eq!(page.rotation, u16::from(quarter) * 90);
        let what = format!("page_008 turned {quarter} quarters");
        assert_texts_close(&what, &page.texts(), &want, 1);
        // Boxes stay in the coordinates of the image as given, starting at the text's start.
        let (w, h) = (page.width as f32, page.height as f32);
        for line in &page.lines {
            assert!(line
                .quad
                .iter()
                .all(|p| (-2.0..=w + 2.0).contains(&p[0]) && (-2.0..=h + 2.0).contains(&p[1])));
        }
        // Turned back, every line's box lies where the upright page's box of that line is
        // (the page is read from a detection of its upright copy, then mapped back).
        for (turned, up) in page.lines.iter().zip(&upright.lines) {
            let back = |p: [f32; 2]| match quarter {
                1 => [p[1], w - p[0]],
                2 => [w - p[0], h - p[1]],
                _ => [h - p[1], p[0]],
            };
            for (p, q) in turned.quad.iter().zip(&up.quad) {
                let b = back(*p);
                assert!(
                    (b[0] - q[0]).hypot(b[1] - q[1]) < 3.0,
                    "{quarter}: {:?} corner {b:?} vs upright {q:?}",
                    turned.text
                );
            }
        }
        let first = page.lines[0].quad[0];
        let expected_corner = match quarter {
            1 => [w, 0.0],
            2 => [w, h],
            _ => [0.0, h],
        };
        let dist = (first[0] - expected_corner[0]).hypot(first[1] - expected_corner[1]);
        assert!(
            dist < 0.5 * w.max(h),
            "{quarter}: first line starts at {first:?}, far from {expected_corner:?}"
        );
    }
}

#[test]
fn classic_detector_reads_a_clean_page() {
    let engine = Engine::builder()
        .detector(wenzi::DetectorKind::Classic)
        .build()
        .unwrap();
    let got = engine.recognize(&fixture("page_008.png")).unwrap();
    let want = ground_truth("page_008.png");
    assert_texts_close("page_008, classic", &got.texts(), &want, 2);
}

#[test]
fn page_reports_size_and_timings() {
    let page = engine().recognize(&fixture("page_008.png")).unwrap();
    let img = image::load_from_memory(&fixture("page_008.png")).unwrap();
    assert_eq!((page.width, page.height), (img.width(), img.height()));
    assert!(page.timings.total >= page.timings.recognize);
    assert!(page.timings.detect > std::time::Duration::ZERO);
}

// --- bad input: a clear typed error, never a panic ---

fn png_of(w: u32, h: u32, value: u8) -> Vec<u8> {
    let img = image::GrayImage::from_pixel(w, h, image::Luma([value]));
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[test]
fn empty_bytes_are_an_empty_input_error() {
    assert!(matches!(wenzi::recognize(&[]), Err(Error::EmptyInput)));
}

#[test]
fn random_bytes_are_an_unsupported_format() {
    let mut x = 0x2545F4914F6CDD1Du64;
    let bytes: Vec<u8> = (0..4096)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    assert!(matches!(
        wenzi::recognize(&bytes),
        Err(Error::UnsupportedFormat(_))
    ));
}

#[test]
fn truncated_png_and_jpeg_are_invalid_images() {
    let png = fixture("page_008.png");
    let r = wenzi::recognize(&png[..png.len() / 2]);
    assert!(matches!(r, Err(Error::InvalidImage(_))), "{r:?}");

    let img = image::load_from_memory(&png).unwrap().to_rgb8();
    let mut jpeg = Vec::new();
    img.write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .unwrap();
    let r = wenzi::recognize(&jpeg[..jpeg.len() / 3]);
    // A cut JPEG either fails to decode or decodes to a partial (grey-filled) page; never panics.
    assert!(matches!(r, Err(Error::InvalidImage(_)) | Ok(_)), "{r:?}");
    let r = wenzi::recognize(&jpeg[..20]);
    assert!(matches!(r, Err(Error::InvalidImage(_))), "{r:?}");
}

#[test]
fn tiny_images_give_no_lines() {
    assert_eq!(
        wenzi::recognize(&png_of(1, 1, 0)).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        wenzi::recognize(&png_of(3, 2, 255)).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn zero_sized_header_is_an_invalid_image() {
    // A PNG signature and an IHDR chunk announcing 0×0 (with a correct CRC).
    let r = wenzi::recognize(&png_header(0, 0));
    assert!(matches!(r, Err(Error::InvalidImage(_))), "{r:?}");
}

#[test]
fn huge_header_is_refused_before_decoding() {
    let r = wenzi::recognize(&png_header(100_000, 100_000));
    assert!(
        matches!(
            r,
            Err(Error::ImageTooLarge {
                width: 100_000,
                height: 100_000,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn blank_white_page_is_an_empty_result_not_an_error() {
    assert_eq!(
        wenzi::recognize(&png_of(800, 600, 255)).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn pixel_limit_is_configurable() {
    let engine = Engine::builder()
        .limits(wenzi::Limits {
            max_pixels: 10_000,
            ..Default::default()
        })
        .classify_orientation(false)
        .build()
        .unwrap();
    let r = engine.recognize(&png_of(200, 100, 255));
    assert!(
        matches!(
            r,
            Err(Error::ImageTooLarge {
                max_pixels: 10_000,
                ..
            })
        ),
        "{r:?}"
    );
}

#[test]
fn line_limit_is_enforced() {
    let engine = Engine::builder()
        .limits(wenzi::Limits {
            max_lines: 3,
            ..Default::default()
        })
        .build()
        .unwrap();
    let r = engine.recognize(&fixture("page_008.png"));
    assert!(matches!(r, Err(Error::LimitExceeded(_))), "{r:?}");
}

fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = b"IHDR".to_vec();
    chunk.extend_from_slice(&w.to_be_bytes());
    chunk.extend_from_slice(&h.to_be_bytes());
    chunk.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit grey, no interlace
    out.extend_from_slice(&13u32.to_be_bytes());
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
