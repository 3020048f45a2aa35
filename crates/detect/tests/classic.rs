//! Classic detector on synthetic pages and on rendered fixtures.

use std::path::PathBuf;

use image::{GrayImage, Luma};
use wenzi_detect::classic::{detect, Binarization, ClassicParams};
use wenzi_detect::preprocess::{decode, rotate_gray, to_gray, DecodeLimits, Rotation};
use wenzi_detect::TextBox;
use wenzi_layout::LineBox;

/// Draws a line of "words" starting at (x, y) and spanning about `width` pixels. Each glyph is
/// a square outline with a middle bar (like 日), `th` pixels high, so glyphs have the stroke
/// density of real characters rather than being solid blocks.
fn draw_line(img: &mut GrayImage, x: u32, y: u32, width: u32, th: u32, seed: u32) {
    let mut s = seed.wrapping_mul(2654435761) | 1;
    let stroke = (th / 8).max(2);
    let glyph = th * 9 / 10;
    let mut cx = x;
    while cx + glyph < x + width {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        let chars = 1 + s % 6;
        for _ in 0..chars {
            if cx + glyph >= x + width {
                break;
            }
            for yy in y..y + th {
                for xx in cx..cx + glyph {
                    let edge = xx < cx + stroke
                        || xx + stroke >= cx + glyph
                        || yy < y + stroke
                        || yy + stroke >= y + th;
                    let bar = (yy as i64 - (y + th / 2) as i64).abs() < (stroke / 2 + 1) as i64;
                    if edge || bar {
                        img.put_pixel(xx, yy, Luma([30]));
                    }
                }
            }
            cx += glyph + th / 10 + 1;
        }
        cx += th / 3; // word space
    }
}

fn fixture(name: &str) -> GrayImage {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/detect")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    to_gray(&decode(&bytes, &DecodeLimits::default()).unwrap())
}

/// The boxes in reading order, as the engine puts them: detection only sorts by position,
/// `wenzi-layout` decides columns and table rows.
fn in_reading_order(boxes: &[TextBox]) -> Vec<TextBox> {
    let lines: Vec<LineBox> = boxes
        .iter()
        .map(|b| LineBox::horizontal(b.points))
        .collect();
    wenzi_layout::reading_order(&lines)
        .into_iter()
        .map(|i| boxes[i])
        .collect()
}

/// Detection returns boxes sorted by their top edge.
fn assert_position_order(boxes: &[TextBox]) {
    assert!(
        boxes
            .windows(2)
            .all(|w| w[0].bounds()[1] <= w[1].bounds()[1]),
        "{boxes:?}"
    );
}

fn centers(boxes: &[TextBox]) -> Vec<(f32, f32)> {
    boxes
        .iter()
        .map(|b| {
            let [x0, y0, x1, y1] = b.bounds();
            ((x0 + x1) / 2.0, (y0 + y1) / 2.0)
        })
        .collect()
}

#[test]
fn single_column_page_lines_in_order() {
    let mut img = GrayImage::from_pixel(600, 400, Luma([250]));
    for i in 0..8 {
        draw_line(&mut img, 40, 30 + i * 42, 500 - (i % 3) * 60, 20, i);
    }
    let boxes = detect(&img, &ClassicParams::default());
    assert_eq!(boxes.len(), 8, "{boxes:?}");
    let c = centers(&boxes);
    for (i, w) in c.windows(2).enumerate() {
        assert!(w[1].1 > w[0].1 + 30.0, "line {i} out of order: {c:?}");
    }
    for b in &boxes {
        let [x0, y0, x1, y1] = b.bounds();
        assert!(
            x0 <= 40.0 && x1 >= 300.0 && y1 - y0 >= 20.0 && y1 - y0 <= 30.0,
            "{b:?}"
        );
        assert!((b.angle_deg()).abs() < 0.5);
    }
}

#[test]
fn two_columns_are_read_column_by_column_after_layout() {
    // Title across both columns, then two columns whose lines share the same baselines.
    let mut img = GrayImage::from_pixel(900, 500, Luma([250]));
    draw_line(&mut img, 40, 30, 500, 28, 99);
    for i in 0..9 {
        draw_line(&mut img, 40, 100 + i * 40, 380, 20, i);
        draw_line(&mut img, 480, 100 + i * 40, 380, 20, 50 + i);
    }
    let boxes = detect(&img, &ClassicParams::default());
    assert_eq!(boxes.len(), 19, "{boxes:?}");
    assert_position_order(&boxes);
    let c = centers(&in_reading_order(&boxes));
    assert!(c[0].1 < 70.0, "title first");
    assert!(
        c[1..10].iter().all(|p| p.0 < 450.0),
        "left column second: {c:?}"
    );
    assert!(
        c[10..].iter().all(|p| p.0 > 450.0),
        "right column last: {c:?}"
    );
    assert!(c[1..10].windows(2).all(|w| w[1].1 > w[0].1));
    assert!(c[10..].windows(2).all(|w| w[1].1 > w[0].1));
}

#[test]
fn light_on_dark_text_is_found() {
    let mut img = GrayImage::from_pixel(500, 200, Luma([250]));
    for i in 0..3 {
        draw_line(&mut img, 30, 30 + i * 50, 420, 22, i);
    }
    for p in img.pixels_mut() {
        p[0] = 255 - p[0];
    }
    let boxes = detect(
        &img,
        &ClassicParams {
            binarization: Binarization::Otsu,
            ..Default::default()
        },
    );
    assert_eq!(boxes.len(), 3);
}

#[test]
fn skewed_page_gives_rotated_boxes_in_source_coordinates() {
    let mut img = GrayImage::from_pixel(700, 420, Luma([250]));
    for i in 0..7 {
        draw_line(&mut img, 60, 60 + i * 44, 560, 18, i);
    }
    let rot = Rotation::new(img.width(), img.height(), 4.0);
    let skewed = rotate_gray(&img, &rot, 250);
    let boxes = detect(&skewed, &ClassicParams::default());
    assert_eq!(boxes.len(), 7, "{boxes:?}");
    for b in &boxes {
        assert!((b.angle_deg() - 4.0).abs() < 0.6, "angle {}", b.angle_deg());
        for p in &b.points {
            assert!(
                p[0] >= 0.0
                    && p[1] >= 0.0
                    && p[0] < skewed.width() as f32
                    && p[1] < skewed.height() as f32
            );
        }
    }
    let c = centers(&boxes);
    assert!(c.windows(2).all(|w| w[1].1 > w[0].1), "{c:?}");
}

#[test]
fn degenerate_images_do_not_panic() {
    for (w, h) in [(0, 0), (1, 1), (1, 50), (50, 1), (3, 3)] {
        let img = GrayImage::from_pixel(w, h, Luma([0]));
        let _ = detect(&img, &ClassicParams::default());
        let img = GrayImage::from_pixel(w, h, Luma([255]));
        assert!(detect(&img, &ClassicParams::default()).is_empty());
    }
    // Pure noise: any output is fine, but no panic.
    let noise = GrayImage::from_fn(120, 80, |x, y| {
        Luma([((x * 7919 + y * 104729) % 251) as u8])
    });
    let _ = detect(&noise, &ClassicParams::default());
}

#[test]
fn rendered_two_column_page() {
    let gray = fixture("page_013.png");
    let boxes = detect(&gray, &ClassicParams::default());
    assert_position_order(&boxes);
    assert_eq!(boxes.len(), 11, "{boxes:?}");
    let c = centers(&in_reading_order(&boxes));
    let mid = gray.width() as f32 / 2.0;
    assert!(c[0].1 < 110.0, "title first: {c:?}");
    // Title, then the 5 left-column lines, then the 5 right-column lines.
    let left = c[1..].iter().take_while(|p| p.0 < mid).count();
    assert_eq!(left, 5, "{c:?}");
    assert!(c[1 + left..].iter().all(|p| p.0 > mid), "{c:?}");
}

#[test]
fn rendered_poem_page_with_uneven_columns() {
    let gray = fixture("page_003.png");
    let boxes = detect(&gray, &ClassicParams::default());
    assert_position_order(&boxes);
    assert_eq!(boxes.len(), 12, "{boxes:?}");
    let c = centers(&in_reading_order(&boxes));
    let mid = gray.width() as f32 / 2.0;
    assert!(
        c[..6].iter().all(|p| p.0 < mid) && c[6..].iter().all(|p| p.0 > mid),
        "{c:?}"
    );
}

#[test]
fn rendered_settings_screen_reads_menu_then_content_rows() {
    let gray = fixture("screenshot_000.png");
    let boxes = detect(&gray, &ClassicParams::default());
    assert_position_order(&boxes);
    // 22 ground-truth lines: top bar (white on red), 9 menu items, title, 4 label/value rows,
    // hint and two buttons.
    assert_eq!(boxes.len(), 22, "{boxes:?}");
    let c = centers(&in_reading_order(&boxes));
    assert!(
        c[..10].iter().all(|p| p.0 < 200.0),
        "top bar and menu first: {c:?}"
    );
    // Label/value rows are read row by row: label (left) then its value (far right).
    let rows: Vec<_> = c[11..19].chunks(2).collect();
    for r in rows {
        assert!(
            r[0].0 < 400.0 && r[1].0 > 1200.0 && (r[0].1 - r[1].1).abs() < 15.0,
            "{r:?}"
        );
    }
}

#[test]
fn rendered_table_is_read_row_by_row() {
    let gray = fixture("screenshot_001.png");
    let boxes = detect(&gray, &ClassicParams::default());
    assert_position_order(&boxes);
    assert_eq!(boxes.len(), 26, "{boxes:?}");
    let c = centers(&in_reading_order(&boxes));
    // After title and subtitle: 6 rows of 4 cells, each row left to right.
    for row in c[2..].chunks(4) {
        assert!(
            row.windows(2)
                .all(|w| w[1].0 > w[0].0 && (w[1].1 - w[0].1).abs() < 8.0),
            "{row:?} in {c:?}"
        );
    }
}
