//! Vertical CJK columns: cut a column of upright characters into character cells and lay the
//! cells side by side, so the recognizer (trained on horizontal lines) sees upright glyphs in
//! a horizontal line.
//!
//! Turning a column by 90° — what works for a sideways horizontal line — puts every upright
//! character on its side. Cutting needs care: characters such as 二, 三 or 旦 have blank rows
//! inside them, so cuts are not taken at every blank row but chosen by dynamic programming,
//! trading ink crossed by a cut against cells that stray from the column's character pitch,
//! which is measured from the ink profile's autocorrelation.

use image::{Rgb, RgbImage};

/// Cells are at least this fraction of the pitch (narrow glyphs such as 一 keep their blank
/// margins, so their cell is still about one pitch tall).
const MIN_CELL: f32 = 0.55;
/// Cells are at most this multiple of the pitch.
const MAX_CELL: f32 = 1.45;

/// A column rebuilt as a horizontal line, with where each character cell went.
#[derive(Debug, Clone)]
pub struct ColumnLine {
    /// The cells side by side, first character on the left.
    pub image: RgbImage,
    /// One entry per cell, left to right.
    pub cells: Vec<Cell>,
    /// Height of the column crop the cells' `y` refer to.
    pub column_height: u32,
}

/// One character cell of a [`ColumnLine`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cell {
    /// Left and right edge of the cell in [`ColumnLine::image`], in pixels.
    pub x: (u32, u32),
    /// Top and bottom of the cell in the column crop, in pixels (where the character was).
    pub y: (u32, u32),
    /// Height over width of the cell's ink box (0 for a blank cell). Some characters differ
    /// only in proportion (日 is tall, 曰 is wide), which the recognizer does not weigh.
    pub ink_aspect: f32,
}

/// Characters that differ only in their proportions: `(tall, wide)`.
const SHAPE_PAIRS: [(char, char); 1] = [('日', '曰')];
/// Ink height over width below which a glyph counts as wide: measured on the vertical
/// eval set, 曰 is 1.00–1.14 in a sans face (about 0.8 in Song faces) and 日 1.34–1.42.
const WIDE_ASPECT: f32 = 1.2;

/// Corrects the characters of `decoded`, read from a [`ColumnLine::image`] `line_width`
/// pixels wide with these `cells`, that the recognizer confuses with a differently
/// proportioned twin, by the ink box of the cell each was read from: a 日 whose glyph is
/// wider than tall is 曰, and the reverse.
pub fn settle_shapes(decoded: &mut crate::Decoded, cells: &[Cell], line_width: u32) {
    let width = line_width.max(1) as f32;
    let mut changed = false;
    for c in &mut decoded.chars {
        let mut chars = c.text.chars();
        let (Some(ch), None) = (chars.next(), chars.next()) else {
            continue;
        };
        let Some(&(tall, wide)) = SHAPE_PAIRS.iter().find(|p| p.0 == ch || p.1 == ch) else {
            continue;
        };
        let centre = (c.start + c.end) / 2.0 * width;
        let Some(cell) = cells
            .iter()
            .find(|k| (k.x.0 as f32..k.x.1 as f32).contains(&centre))
        else {
            continue;
        };
        if cell.ink_aspect <= 0.0 {
            continue;
        }
        let want = if cell.ink_aspect < WIDE_ASPECT {
            wide
        } else {
            tall
        };
        if want != ch {
            c.text = want.to_string();
            changed = true;
        }
    }
    if changed {
        decoded.text = decoded.chars.iter().map(|c| c.text.as_str()).collect();
    }
}

/// Re-expresses the spans of `decoded`, read from a [`ColumnLine::image`] `line_width`
/// pixels wide, as fractions down the column (`column_height` pixels tall): each character
/// takes the span of the cell it was read from (the nearest cell by its centre), so its box
/// is exactly its cell, not an equal share of the column.
pub fn spans_down_the_column(
    decoded: &mut crate::Decoded,
    cells: &[Cell],
    line_width: u32,
    column_height: u32,
) {
    if cells.is_empty() || column_height == 0 {
        return;
    }
    let (w, h) = (line_width.max(1) as f32, column_height as f32);
    for c in &mut decoded.chars {
        let centre = (c.start + c.end) / 2.0 * w;
        let distance = |k: &Cell| ((k.x.0 + k.x.1) as f32 / 2.0 - centre).abs();
        if let Some(cell) = cells
            .iter()
            .min_by(|a, b| distance(a).total_cmp(&distance(b)))
        {
            c.start = (cell.y.0 as f32 / h).clamp(0.0, 1.0);
            c.end = (cell.y.1 as f32 / h).clamp(0.0, 1.0);
        }
    }
}

/// Rebuilds an upright-character column (width = across the column, height = along it) as a
/// horizontal line of the same characters, first character on the left.
///
/// Returns `None` when the crop does not look like a column of separate glyphs (no ink, or
/// too short for two cells), so callers keep their other readings.
pub fn column_to_line(column: &RgbImage) -> Option<ColumnLine> {
    let (w, h) = column.dimensions();
    if w < 4 || h < 8 || h < w {
        return None;
    }
    let gray: Vec<u8> = column
        .pixels()
        .map(|p| ((p[0] as u32 * 299 + p[1] as u32 * 587 + p[2] as u32 * 114) / 1000) as u8)
        .collect();
    let ink = ink_mask(&gray);
    let (wu, hu) = (w as usize, h as usize);

    // Horizontal extent of the glyphs: columns holding a fair share of the ink.
    let mut col_ink = vec![0u32; wu];
    let mut row_ink = vec![0f32; hu];
    for (y, row) in ink.chunks_exact(wu).enumerate() {
        for (x, &on) in row.iter().enumerate() {
            if on {
                col_ink[x] += 1;
                row_ink[y] += 1.0;
            }
        }
    }
    let col_max = *col_ink.iter().max()?;
    if col_max == 0 {
        return None;
    }
    let col_floor = (col_max as f32 * 0.05).max(1.0);
    let x0 = col_ink.iter().position(|&c| c as f32 >= col_floor)?;
    let x1 = col_ink.iter().rposition(|&c| c as f32 >= col_floor)? + 1;
    let glyph = (x1 - x0) as f32;
    if glyph < 3.0 {
        return None;
    }
    let row_floor = 0.5f32.max(0.01 * glyph);
    let y0 = row_ink.iter().position(|&c| c > row_floor)?;
    let y1 = row_ink.iter().rposition(|&c| c > row_floor)? + 1;
    let span = y1 - y0;

    let pitch = estimate_pitch(&row_ink[y0..y1], glyph);
    if (span as f32) < 1.4 * pitch {
        return None; // a single character: nothing to rearrange
    }
    // The autocorrelation is weak on short columns: also try the pitches that fit a whole
    // number of cells into the inked span, and keep the cheapest cutting.
    let mut pitches = vec![pitch, 1.1 * glyph];
    for cells in 2..=((span as f32 / (0.95 * glyph)) as usize + 1).min(64) {
        // n glyphs span (n - 1) pitches plus one glyph.
        let p = (span as f32 - glyph).max(0.0) / (cells - 1) as f32;
        if (0.95 * glyph..=1.6 * glyph).contains(&p) {
            pitches.push(p);
        }
    }
    let (cuts, pitch) = pitches
        .into_iter()
        .filter(|p| p.is_finite() && *p >= 2.0)
        .map(|p| {
            let (cuts, cost) = choose_cuts(&row_ink, y0, y1, p, glyph);
            // Prefer the usual advance of about 1.15 glyph widths.
            let prior = 0.05 * (cuts.len() - 1) as f32 * ((p / glyph - 1.15) / 0.2).powi(2);
            (cuts, p, cost + prior)
        })
        .min_by(|a, b| a.2.total_cmp(&b.2))
        .map(|(c, p, _)| (c, p))?;

    // Each cell keeps the column's glyph width plus a small margin, and one pitch of height
    // centred on its own content, so all characters share one baseline band.
    let margin = (0.08 * glyph).round() as usize;
    let cx0 = x0.saturating_sub(margin);
    let cx1 = (x1 + margin).min(wu);
    let cell_w = cx1 - cx0;
    let line_h = (pitch.round() as usize).max(cuts.windows(2).map(|c| c[1] - c[0]).max()?);
    let background = background_colour(column, &ink);
    let mut line = RgbImage::from_pixel(
        (cell_w * (cuts.len() - 1)) as u32,
        line_h as u32,
        background,
    );
    let mut cells = Vec::with_capacity(cuts.len() - 1);
    for (i, c) in cuts.windows(2).enumerate() {
        let (a, b) = (c[0], c[1]);
        let top = (line_h - (b - a)) / 2;
        let cell_x = i * cell_w;
        cells.push(Cell {
            x: (cell_x as u32, (cell_x + cell_w) as u32),
            y: (a as u32, b as u32),
            ink_aspect: ink_aspect(&ink, wu, (cx0, cx1), (a, b)),
        });
        // End cells were trimmed to the ink: judge a mark's place in a full-pitch cell.
        let p = pitch.round() as usize;
        let cell = if i == 0 && b - a < p {
            (b.saturating_sub(p), b)
        } else if i + 2 == cuts.len() && b - a < p {
            (a, a + p)
        } else {
            (a, b)
        };
        if let Some(mark) = corner_mark(&ink, wu, (cx0, cx1), (a, b), cell, glyph) {
            // Vertical punctuation (，。、) sits in the top-right of its cell; horizontal text
            // puts it at the bottom left, where the recognizer expects it.
            let (mx0, my0, mx1, my1) = mark;
            let dst_x = cell_x + margin + (0.1 * glyph) as usize;
            let dst_bottom = (line_h as f32 / 2.0 + 0.42 * glyph) as usize;
            let dst_y = dst_bottom
                .saturating_sub(my1 - my0)
                .min(line_h - (my1 - my0));
            for y in my0..my1 {
                for x in mx0..mx1 {
                    let (ox, oy) = (dst_x + x - mx0, dst_y + y - my0);
                    if ox < cell_x + cell_w {
                        let p = *column.get_pixel(x as u32, y as u32);
                        line.put_pixel(ox as u32, oy as u32, p);
                    }
                }
            }
            continue;
        }
        for y in a..b {
            for x in cx0..cx1 {
                let p = *column.get_pixel(x as u32, y as u32);
                line.put_pixel((cell_x + x - cx0) as u32, (top + y - a) as u32, p);
            }
        }
    }
    Some(ColumnLine {
        image: line,
        cells,
        column_height: h,
    })
}

/// Height over width of the ink box inside `x0..x1` × `y0..y1` (0 when there is no ink).
fn ink_aspect(ink: &[bool], width: usize, xs: (usize, usize), ys: (usize, usize)) -> f32 {
    ink_box(ink, width, xs, ys).map_or(0.0, |(bx0, by0, bx1, by1)| {
        (by1 - by0) as f32 / (bx1 - bx0) as f32
    })
}

/// The box `(x0, y0, x1, y1)` (ends exclusive) of the ink inside `x0..x1` × `y0..y1`, or
/// `None` when there is none.
fn ink_box(
    ink: &[bool],
    width: usize,
    (x0, x1): (usize, usize),
    (y0, y1): (usize, usize),
) -> Option<(usize, usize, usize, usize)> {
    let (mut bx0, mut by0, mut bx1, mut by1) = (usize::MAX, usize::MAX, 0, 0);
    for y in y0..y1 {
        for (x, &on) in ink[y * width + x0..y * width + x1].iter().enumerate() {
            if on {
                bx0 = bx0.min(x0 + x);
                by0 = by0.min(y);
                bx1 = bx1.max(x0 + x + 1);
                by1 = by1.max(y + 1);
            }
        }
    }
    (bx0 != usize::MAX).then_some((bx0, by0, bx1, by1))
}

/// The padded ink box `(x0, y0, x1, y1)` of a cell holding only a small mark in its top-right
/// quarter — how vertical CJK sets a comma, full stop or enumeration comma — else `None`.
fn corner_mark(
    ink: &[bool],
    width: usize,
    (x0, x1): (usize, usize),
    (y0, y1): (usize, usize),
    cell: (usize, usize),
    glyph: f32,
) -> Option<(usize, usize, usize, usize)> {
    let (bx0, by0, bx1, by1) = ink_box(ink, width, (x0, x1), (y0, y1))?;
    let small = ((bx1 - bx0) as f32) < 0.45 * glyph && ((by1 - by0) as f32) < 0.45 * glyph;
    let right = (bx0 + bx1) as f32 / 2.0 > (x0 + x1) as f32 / 2.0 + 0.1 * glyph;
    let high = (by0 + by1) as f32 / 2.0 < (cell.0 + cell.1) as f32 / 2.0;
    (small && right && high).then(|| {
        (
            bx0.saturating_sub(1).max(x0),
            by0.saturating_sub(1).max(y0),
            (bx1 + 1).min(x1),
            (by1 + 1).min(y1),
        )
    })
}

/// Ink pixels: the minority side of an Otsu threshold (dark text on light or light on dark).
fn ink_mask(gray: &[u8]) -> Vec<bool> {
    let mut hist = [0u64; 256];
    for &v in gray {
        hist[v as usize] += 1;
    }
    let t = wenzi_preprocess::otsu_threshold_hist(&hist);
    let dark = gray.iter().filter(|&&v| v <= t).count();
    let dark_is_ink = dark * 2 <= gray.len();
    gray.iter()
        .map(|&v| if dark_is_ink { v <= t } else { v > t })
        .collect()
}

/// The character pitch along the column: the lag, between 0.95 and 1.9 glyph widths, at
/// which the ink profile best matches itself (CJK is set on a grid of square cells).
/// Falls back to the glyph width plus a tenth when the profile has no clear period.
fn estimate_pitch(profile: &[f32], glyph: f32) -> f32 {
    let n = profile.len();
    let mean = profile.iter().sum::<f32>() / n.max(1) as f32;
    let centred: Vec<f32> = profile.iter().map(|v| v - mean).collect();
    let energy: f32 = centred.iter().map(|v| v * v).sum();
    let fallback = 1.1 * glyph;
    if energy <= 0.0 {
        return fallback;
    }
    // Glyphs sit in square cells, so the pitch is at least about one glyph width.
    let lo = (0.95 * glyph).floor().max(2.0) as usize;
    let hi = ((1.9 * glyph).ceil() as usize).min(n.saturating_sub(1));
    let mut best = (fallback, 0.25f32); // needs a clearly periodic profile to win
    for lag in lo..=hi {
        let r: f32 = centred[..n - lag]
            .iter()
            .zip(&centred[lag..])
            .map(|(a, b)| a * b)
            .sum::<f32>()
            / energy;
        if r > best.1 {
            best = (lag as f32, r);
        }
    }
    best.0
}

/// Cut rows `y0 = c0 < c1 < … < ck = y1` between character cells: each inner cut crosses as
/// little ink as possible, and cells stay near the pitch (dynamic programming over rows).
fn choose_cuts(row_ink: &[f32], y0: usize, y1: usize, pitch: f32, glyph: f32) -> (Vec<usize>, f32) {
    let min_len = ((MIN_CELL * pitch).floor() as usize).max(1);
    let max_len = ((MAX_CELL * pitch).ceil() as usize).max(min_len + 1);
    let n = y1 - y0;
    // Cost of cutting at row y: the ink it crosses, relative to a full glyph row.
    let cut_cost = |y: usize| row_ink[y.min(row_ink.len() - 1)] / glyph;
    let size_cost = |len: usize| {
        let d = (len as f32 - pitch) / pitch;
        0.5 * d * d
    };
    // best[i]: cheapest way to cut rows y0..y0+i with a cut at y0+i. The first and last
    // cells may be short at no cost (a trailing 一 or a closing mark: the ink was trimmed).
    let mut best = vec![f32::INFINITY; n + 1];
    let mut from = vec![0usize; n + 1];
    best[0] = 0.0;
    for i in 1..=n {
        let end_cost = if i == n { 0.0 } else { cut_cost(y0 + i) };
        for j in i.saturating_sub(max_len)..i {
            let len = i - j;
            let at_end = j == 0 || i == n;
            if (!at_end && len < min_len) || !best[j].is_finite() {
                continue;
            }
            let size = if at_end && (len as f32) <= pitch {
                0.0
            } else {
                size_cost(len)
            };
            let c = best[j] + size + end_cost;
            if c < best[i] {
                best[i] = c;
                from[i] = j;
            }
        }
    }
    let mut cuts = vec![y1];
    let mut i = n;
    while i > 0 {
        i = from[i];
        cuts.push(y0 + i);
    }
    cuts.reverse();
    (cuts, best[n])
}

/// Mean colour of the non-ink pixels (white if there are none).
fn background_colour(image: &RgbImage, ink: &[bool]) -> Rgb<u8> {
    let mut sum = [0u64; 3];
    let mut n = 0u64;
    for (p, &on) in image.pixels().zip(ink) {
        if !on {
            for c in 0..3 {
                sum[c] += u64::from(p[c]);
            }
            n += 1;
        }
    }
    if n == 0 {
        return Rgb([255, 255, 255]);
    }
    Rgb(sum.map(|s| (s / n) as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A column of `n` square "glyphs" of `size` px on a `pitch` grid; glyph `k` has `k % 3 + 1`
    /// horizontal bars separated by blank rows (like 一, 二, 三).
    fn column(n: usize, size: u32, pitch: u32) -> RgbImage {
        let margin = size / 3;
        let (w, h) = (size + 2 * margin, pitch * n as u32 + 2 * margin);
        let mut img = RgbImage::from_pixel(w, h, Rgb([250, 250, 245]));
        for k in 0..n {
            let top = margin + pitch * k as u32 + (pitch - size) / 2;
            let bars = k % 3 + 1;
            for b in 0..bars {
                let y = top + (b as u32 * size) / bars as u32 + size / (2 * bars as u32);
                for yy in y.saturating_sub(2)..(y + 2).min(h) {
                    for x in margin..margin + size {
                        img.put_pixel(x, yy, Rgb([10, 10, 10]));
                    }
                }
            }
            // A vertical stroke so every glyph is one connected shape across its bars.
            for y in top..top + size {
                img.put_pixel(margin + size / 2, y, Rgb([10, 10, 10]));
            }
        }
        img
    }

    #[test]
    fn cuts_between_glyphs_not_inside_them() {
        let col = column(6, 40, 46);
        let line = column_to_line(&col).expect("a column of six glyphs").image;
        // Six cells side by side, each about one glyph wide (plus margins).
        let cell_w = line.width() / 6;
        assert_eq!(line.width() % 6, 0);
        assert!((40..=50).contains(&cell_w), "cell width {cell_w}");
        assert!(
            line.height() >= 40 && line.height() <= 60,
            "{}",
            line.height()
        );
        // Each cell's vertical stroke sits in its own slot: dark pixels in every cell centre.
        for k in 0..6 {
            let x = k * cell_w + cell_w / 2;
            let dark = (0..line.height())
                .filter(|&y| line.get_pixel(x, y)[0] < 100)
                .count();
            assert!(
                dark as u32 >= 30,
                "cell {k} has a broken stroke ({dark} px)"
            );
        }
    }

    #[test]
    fn top_right_marks_move_to_the_bottom_left() {
        // Two glyphs, then a small dot in the top-right corner of the third cell.
        let mut col = column(3, 40, 46);
        let (w, margin) = (col.width(), 40 / 3);
        let top = margin + 2 * 46;
        for y in top..top + 46 {
            for x in 0..w {
                col.put_pixel(x, y, Rgb([250, 250, 245]));
            }
        }
        for y in top + 3..top + 10 {
            for x in margin + 30..margin + 37 {
                col.put_pixel(x, y, Rgb([10, 10, 10]));
            }
        }
        let line = column_to_line(&col).unwrap().image;
        let cell_w = line.width() / 3;
        let dark: Vec<(u32, u32)> = (2 * cell_w..line.width())
            .flat_map(|x| (0..line.height()).map(move |y| (x, y)))
            .filter(|&(x, y)| line.get_pixel(x, y)[0] < 100)
            .collect();
        assert!(!dark.is_empty());
        let (mx, my) = dark
            .iter()
            .fold((0, 0), |(sx, sy), &(x, y)| (sx + x, sy + y));
        let (mx, my) = (mx / dark.len() as u32 - 2 * cell_w, my / dark.len() as u32);
        assert!(mx < cell_w / 2, "mark left of centre, at {mx}");
        assert!(my > line.height() / 2, "mark below centre, at {my}");
    }

    #[test]
    fn light_text_on_dark_background_works_too() {
        let mut col = column(4, 30, 36);
        for p in col.pixels_mut() {
            p.0 = p.0.map(|v| 255 - v);
        }
        let line = column_to_line(&col).unwrap().image;
        assert_eq!(line.width() % 4, 0);
        assert!(line.width() / 4 >= 30);
    }

    #[test]
    fn single_glyph_and_blank_crops_give_none() {
        assert!(column_to_line(&column(1, 40, 46)).is_none());
        assert!(column_to_line(&RgbImage::from_pixel(40, 200, Rgb([255, 255, 255]))).is_none());
        assert!(column_to_line(&RgbImage::new(2, 2)).is_none());
        assert!(column_to_line(&RgbImage::new(100, 20)).is_none());
    }

    #[test]
    fn proportions_settle_ri_and_yue() {
        use crate::{CharSpan, Decoded};
        let span = |t: &str, start: f32, end: f32| CharSpan {
            text: t.into(),
            start,
            end,
            confidence: 0.9,
        };
        let cell = |x0, x1, ink_aspect| Cell {
            x: (x0, x1),
            y: (0, 40),
            ink_aspect,
        };
        // Three cells of 40 px: a wide glyph read as 日, a tall one read as 曰, then 子.
        let cells = [cell(0, 40, 0.82), cell(40, 80, 1.4), cell(80, 120, 1.0)];
        let mut d = Decoded {
            text: "日曰子".into(),
            confidence: 0.9,
            chars: vec![
                span("日", 0.05, 0.3),
                span("曰", 0.36, 0.63),
                span("子", 0.7, 0.95),
            ],
        };
        settle_shapes(&mut d, &cells, 120);
        assert_eq!(d.text, "曰日子");
        assert_eq!(d.chars[0].text, "曰");
        // A blank cell (aspect 0) decides nothing.
        let mut d = Decoded {
            text: "日".into(),
            confidence: 0.9,
            chars: vec![span("日", 0.0, 0.3)],
        };
        settle_shapes(&mut d, &[cell(0, 40, 0.0)], 120);
        assert_eq!(d.text, "日");
    }

    #[test]
    fn spans_become_the_cells_down_the_column() {
        use crate::{CharSpan, Decoded};
        let col = column(3, 40, 46);
        let line = column_to_line(&col).unwrap();
        // Spans along the rebuilt line: a little off each cell's centre.
        let mut d = Decoded {
            text: "一二三".into(),
            confidence: 0.9,
            chars: (0..3)
                .map(|k| CharSpan {
                    text: "x".into(),
                    start: (k as f32 + 0.1) / 3.0,
                    end: (k as f32 + 0.8) / 3.0,
                    confidence: 0.9,
                })
                .collect(),
        };
        spans_down_the_column(&mut d, &line.cells, line.image.width(), line.column_height);
        let h = col.height() as f32;
        for (c, cell) in d.chars.iter().zip(&line.cells) {
            assert!(
                (c.start - cell.y.0 as f32 / h).abs() < 1e-6,
                "{c:?} {cell:?}"
            );
            assert!((c.end - cell.y.1 as f32 / h).abs() < 1e-6);
        }
        // Down the column, in order, inside it.
        assert!(d.chars.windows(2).all(|p| p[0].end <= p[1].start + 1e-6));
        assert!(d.chars[0].start >= 0.0 && d.chars[2].end <= 1.0);
    }

    #[test]
    fn cells_measure_glyph_proportions() {
        // Each glyph of `column` (bars and a full-height stroke) fills a square.
        let col = column(3, 40, 46);
        let line = column_to_line(&col).unwrap();
        assert_eq!(line.cells.len(), 3);
        for c in &line.cells {
            assert!((0.9..1.15).contains(&c.ink_aspect), "{c:?}");
            assert!(c.x.1 > c.x.0 && c.x.1 <= line.image.width());
        }
    }

    #[test]
    fn noise_never_panics() {
        let mut seed = 12345u32;
        for (w, h) in [(5, 9), (17, 400), (60, 61), (33, 1000)] {
            let img = RgbImage::from_fn(w, h, |_, _| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let v = (seed >> 16) as u8;
                Rgb([v, v, v])
            });
            if let Some(ColumnLine { image: line, .. }) = column_to_line(&img) {
                assert!(line.width() > 0 && line.height() > 0);
            }
        }
    }
}
