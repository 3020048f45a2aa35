//! Tesseract's TSV: one row per page, block, paragraph, line and word.

use std::fmt::Write;

use wenzi::Page;

use crate::structure::{blocks, unit_confidence, Bounds};

/// The header row Tesseract writes.
pub const TSV_HEADER: &str =
    "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext";

/// The pages as Tesseract's TSV: a header, then rows with `level` 1 (page), 2 (block),
/// 3 (paragraph), 4 (line) and 5 (word). Numbers count from 1 within their parent; `conf` is
/// the word's confidence in percent, and -1 on rows that are not words (as Tesseract writes).
/// A wenzi block is one paragraph.
pub fn tsv(pages: &[Page]) -> String {
    let mut out = String::new();
    out.push_str(TSV_HEADER);
    out.push('\n');
    for (p, page) in pages.iter().enumerate() {
        let page_num = p + 1;
        let page_box = Bounds {
            x0: 0,
            y0: 0,
            x1: page.width,
            y1: page.height,
        };
        row(&mut out, 1, [page_num, 0, 0, 0, 0], page_box, None, "");
        for (b, block) in blocks(page).iter().enumerate() {
            let bounds = block.bounds();
            row(&mut out, 2, [page_num, b + 1, 0, 0, 0], bounds, None, "");
            row(&mut out, 3, [page_num, b + 1, 1, 0, 0], bounds, None, "");
            for (l, line) in block.lines.iter().enumerate() {
                let ids = [page_num, b + 1, 1, l + 1, 0];
                row(&mut out, 4, ids, Bounds::of_quad(&line.quad), None, "");
                for (w, word) in line.words.iter().enumerate() {
                    let ids = [page_num, b + 1, 1, l + 1, w + 1];
                    let conf = Some(unit_confidence(word.confidence) * 100.0);
                    let text: String = word.text.chars().filter(|c| !c.is_control()).collect();
                    row(&mut out, 5, ids, Bounds::of_quad(&word.quad), conf, &text);
                }
            }
        }
    }
    out
}

fn row(out: &mut String, level: u8, ids: [usize; 5], b: Bounds, conf: Option<f32>, text: &str) {
    let [page, block, par, line, word] = ids;
    let _ = write!(
        out,
        "{level}\t{page}\t{block}\t{par}\t{line}\t{word}\t{}\t{}\t{}\t{}\t",
        b.x0,
        b.y0,
        b.width(),
        b.height()
    );
    match conf {
        Some(c) => {
            let _ = write!(out, "{c:.6}");
        }
        None => out.push_str("-1"),
    }
    let _ = writeln!(out, "\t{text}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::structure::testing;

    #[test]
    fn rows_follow_tesseracts_levels_and_columns() {
        let out = tsv(&[testing::page()]);
        let rows: Vec<Vec<&str>> = out.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(rows[0].join("\t"), TSV_HEADER);
        assert!(rows.iter().all(|r| r.len() == 12), "{out}");
        assert_eq!(
            rows[1],
            ["1", "1", "0", "0", "0", "0", "0", "0", "300", "100", "-1", ""]
        );
        assert_eq!(rows[2][..6], ["2", "1", "1", "0", "0", "0"]);
        assert_eq!(rows[3][..6], ["3", "1", "1", "1", "0", "0"]);
        assert_eq!(rows[4][..6], ["4", "1", "1", "1", "1", "0"]);
        assert_eq!(
            rows[5],
            [
                "5",
                "1",
                "1",
                "1",
                "1",
                "1",
                "10",
                "10",
                "30",
                "20",
                "90.000000",
                "apt"
            ]
        );
        let words: Vec<&str> = rows.iter().filter(|r| r[0] == "5").map(|r| r[11]).collect();
        assert_eq!(
            words,
            ["apt", "search", "a&b<\"c\"", "中", "文", "OK", "。"]
        );
        // The second block's line and word numbers start again at 1.
        let cjk = rows.iter().find(|r| r[11] == "中").unwrap();
        assert_eq!(cjk[..6], ["5", "1", "2", "1", "1", "1"]);
    }
}
