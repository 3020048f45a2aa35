//! The block → paragraph → line → word tree the text formats share.
//!
//! wenzi's [`wenzi::Block`]s partition a page's lines; each block is one paragraph (a table's
//! rows are its lines). Lines outside every block (a page built by hand) form blocks of
//! their own, so every line is written exactly once.

use wenzi::{BlockKind, Line, Page};

/// One block of a page: a kind and a run of lines.
pub(crate) struct BlockView<'a> {
    pub kind: BlockKind,
    pub lines: &'a [Line],
}

impl BlockView<'_> {
    pub(crate) fn bounds(&self) -> Bounds {
        self.lines
            .iter()
            .map(|l| Bounds::of_quad(&l.quad))
            .reduce(|a, b| a.union(&b))
            .unwrap_or_default()
    }
}

/// The page's blocks in reading order, covering every line once.
pub(crate) fn blocks(page: &Page) -> Vec<BlockView<'_>> {
    let n = page.lines.len();
    let mut ranges: Vec<(BlockKind, std::ops::Range<usize>)> = page
        .blocks
        .iter()
        .map(|b| (b.kind, b.lines.start.min(n)..b.lines.end.min(n)))
        .filter(|(_, r)| !r.is_empty())
        .collect();
    ranges.sort_by_key(|(_, r)| r.start);
    let mut out = Vec::new();
    let mut next = 0;
    for (kind, r) in ranges {
        if r.start < next {
            continue; // overlapping blocks: keep the first
        }
        if r.start > next {
            out.push(BlockView {
                kind: BlockKind::Paragraph,
                lines: &page.lines[next..r.start],
            });
        }
        out.push(BlockView {
            kind,
            lines: &page.lines[r.clone()],
        });
        next = r.end;
    }
    if next < n {
        out.push(BlockView {
            kind: BlockKind::Paragraph,
            lines: &page.lines[next..],
        });
    }
    out
}

/// Integer pixel bounds, `x0, y0` inclusive and `x1, y1` exclusive (hOCR's and Tesseract's
/// convention), clamped at 0.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Bounds {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl Bounds {
    pub(crate) fn of_quad(quad: &[[f32; 2]; 4]) -> Self {
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for p in quad {
            x0 = x0.min(p[0]);
            y0 = y0.min(p[1]);
            x1 = x1.max(p[0]);
            y1 = y1.max(p[1]);
        }
        let px = |v: f32| if v.is_finite() { v.max(0.0) } else { 0.0 };
        let (x0, y0) = (px(x0).floor() as u32, px(y0).floor() as u32);
        Self {
            x0,
            y0,
            x1: (px(x1).ceil() as u32).max(x0),
            y1: (px(y1).ceil() as u32).max(y0),
        }
    }

    pub(crate) fn union(&self, o: &Self) -> Self {
        Self {
            x0: self.x0.min(o.x0),
            y0: self.y0.min(o.y0),
            x1: self.x1.max(o.x1),
            y1: self.y1.max(o.y1),
        }
    }

    pub(crate) fn width(&self) -> u32 {
        self.x1 - self.x0
    }

    pub(crate) fn height(&self) -> u32 {
        self.y1 - self.y0
    }
}

/// True for CJK ideographs, kana, hangul and CJK/full-width punctuation: no space is written
/// next to such a word.
pub(crate) fn is_cjk_word(text: &str) -> bool {
    text.chars().any(|c| {
        matches!(u32::from(c),
            0x2E80..=0x2FDF | 0x3000..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF
            | 0xAC00..=0xD7AF | 0xF900..=0xFAFF | 0xFE30..=0xFE4F | 0xFF00..=0xFFEF
            | 0x20000..=0x2FA1F)
    })
}

/// A word's confidence in 0..=1 as the formats write it: a NaN (possible in a hand-built
/// `Page`) counts as 0, so no writer prints `NaN` where readers expect a number.
pub(crate) fn unit_confidence(c: f32) -> f32 {
    if c.is_nan() {
        0.0
    } else {
        c.clamp(0.0, 1.0)
    }
}

/// Escapes text for XML content and attribute values (either quote), so that it reads back
/// exactly, less the characters XML cannot hold.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // As references, or an attribute's value would read them back as spaces (and
            // content a `\r` as `\n`).
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            // Characters XML 1.0 does not allow are dropped.
            c if (c as u32) < 0x20 => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod testing {
    use wenzi::{Block, BlockKind, Char, Line, LineOrientation, Page, Word};

    /// A word box spanning `x0..x1` on a line at `y`.
    fn word(text: &str, x0: f32, x1: f32, y: f32) -> Word {
        let quad = [[x0, y], [x1, y], [x1, y + 20.0], [x0, y + 20.0]];
        let n = text.chars().count() as f32;
        Word {
            text: text.into(),
            quad,
            confidence: 0.9,
            chars: text
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    let (a, b) = (
                        x0 + (x1 - x0) * i as f32 / n,
                        x0 + (x1 - x0) * (i + 1) as f32 / n,
                    );
                    Char {
                        text: c.to_string(),
                        quad: [[a, y], [b, y], [b, y + 20.0], [a, y + 20.0]],
                        confidence: 0.9,
                    }
                })
                .collect(),
        }
    }

    /// Two blocks: a Latin line with `&<"` to escape, and a CJK line.
    pub(crate) fn page() -> Page {
        let l1 = Line {
            text: "apt search a&b<\"c\"".into(),
            confidence: 0.95,
            quad: [[10.0, 10.0], [200.0, 10.0], [200.0, 30.0], [10.0, 30.0]],
            orientation: LineOrientation::Upright,
            words: vec![
                word("apt", 10.0, 40.0, 10.0),
                word("search", 50.0, 110.0, 10.0),
                word("a&b<\"c\"", 120.0, 200.0, 10.0),
            ],
        };
        let l2 = Line {
            text: "中文 OK。".into(),
            confidence: 0.85,
            quad: [[10.0, 50.0], [110.0, 50.0], [110.0, 70.0], [10.0, 70.0]],
            orientation: LineOrientation::Upright,
            words: vec![
                word("中", 10.0, 30.0, 50.0),
                word("文", 30.0, 50.0, 50.0),
                word("OK", 60.0, 90.0, 50.0),
                word("。", 90.0, 110.0, 50.0),
            ],
        };
        Page {
            width: 300,
            height: 100,
            lines: vec![l1, l2],
            blocks: vec![
                Block {
                    kind: BlockKind::Paragraph,
                    lines: 0..1,
                    rows: vec![],
                    bounds: [10.0, 10.0, 200.0, 30.0],
                },
                Block {
                    kind: BlockKind::Paragraph,
                    lines: 1..2,
                    rows: vec![],
                    bounds: [10.0, 50.0, 110.0, 70.0],
                },
            ],
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_cover_every_line_once() {
        let mut page = testing::page();
        assert_eq!(blocks(&page).len(), 2);
        page.blocks.clear();
        let b = blocks(&page);
        assert_eq!(b.len(), 1);
        assert_eq!(b[0].lines.len(), 2);
        page.blocks = testing::page().blocks[1..].to_vec();
        let b = blocks(&page);
        assert_eq!(b.iter().map(|b| b.lines.len()).collect::<Vec<_>>(), [1, 1]);
        assert_eq!(
            b[0].bounds(),
            Bounds {
                x0: 10,
                y0: 10,
                x1: 200,
                y1: 30
            }
        );
    }

    #[test]
    fn bounds_round_outwards_and_clamp() {
        let b = Bounds::of_quad(&[[-3.0, 1.5], [10.2, 1.5], [10.2, 8.7], [-3.0, 8.7]]);
        assert_eq!(
            b,
            Bounds {
                x0: 0,
                y0: 1,
                x1: 11,
                y1: 9
            }
        );
        assert_eq!(b.width(), 11);
    }

    /// Fuzz finding: a NaN confidence (a hand-built page) was written as `NaN` in TSV's
    /// `conf` and ALTO's `WC`.
    #[test]
    fn nan_confidence_is_written_as_zero() {
        assert_eq!(unit_confidence(f32::NAN), 0.0);
        assert_eq!(unit_confidence(f32::INFINITY), 1.0);
        assert_eq!(unit_confidence(-1.0), 0.0);
        let mut page = testing::page();
        page.lines[0].words[0].confidence = f32::NAN;
        let tsv = crate::tsv(std::slice::from_ref(&page));
        assert!(
            tsv.lines().nth(5).unwrap().contains("\t0.000000\tapt"),
            "{tsv}"
        );
        let alto = crate::alto(std::slice::from_ref(&page));
        assert!(alto.contains("WC=\"0.000\" CONTENT=\"apt\""), "{alto}");
        assert!(!alto.contains("NaN") && !crate::hocr(&[page]).contains("NaN"));
    }

    #[test]
    fn escapes_markup_and_drops_control_characters() {
        assert_eq!(xml_escape("a&b<'\">\u{1}"), "a&amp;b&lt;&apos;&quot;&gt;");
        // Fuzz finding: a tab in ALTO's CONTENT attribute read back as a space.
        assert_eq!(xml_escape("a\tb\r\n"), "a&#9;b&#13;&#10;");
        assert!(is_cjk_word("中") && is_cjk_word("。") && !is_cjk_word("OK"));
    }
}
