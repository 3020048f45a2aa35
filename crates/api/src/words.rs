//! Words and character boxes of a line, from where the recognizer emitted each character.
//!
//! The CTC decoder gives each character a span along its line crop, as fractions of the crop's
//! width ([`wenzi_recognize::CharSpan`]). Characters are grouped into words the way Tesseract
//! splits mixed text: a run of Latin letters, digits and the punctuation joined to them
//! (`don't`, `3.14`, `e-mail`) between spaces is one word; each CJK character, and each CJK
//! punctuation mark, is a word of its own. A span is mapped back to the image through the same
//! perspective warp that cut the crop out of the page ([`sub_quad`]).

use wenzi_recognize::{crop_point_to_image, Decoded};

use crate::{Char, LineOrientation, Word};

type Quad = [[f32; 2]; 4];

/// Groups a decoded line's characters into words; `map(a, b)` gives the image-space quad of
/// the part of the line between fractions `a` and `b` of its crop's width. A word's
/// confidence is the mean of its characters'.
pub(crate) fn words(decoded: &Decoded, map: impl Fn(f32, f32) -> Quad) -> Vec<Word> {
    let mut words: Vec<Word> = Vec::new();
    // The chars (indices) and text of the Latin run being built.
    let mut run: Option<(Vec<usize>, String)> = None;
    let flush = |run: &mut Option<(Vec<usize>, String)>, words: &mut Vec<Word>| {
        if let Some((indices, text)) = run.take() {
            words.push(word(decoded, &indices, text, &map));
        }
    };
    for (i, c) in decoded.chars.iter().enumerate() {
        let text = c.text.as_str();
        if text.trim().is_empty() {
            flush(&mut run, &mut words);
        } else if text.chars().any(is_cjk) {
            flush(&mut run, &mut words);
            words.push(word(decoded, &[i], text.to_string(), &map));
        } else {
            let (indices, joined) = run.get_or_insert_with(Default::default);
            indices.push(i);
            joined.push_str(text);
        }
    }
    flush(&mut run, &mut words);
    words
}

fn word(
    decoded: &Decoded,
    indices: &[usize],
    text: String,
    map: &impl Fn(f32, f32) -> Quad,
) -> Word {
    let chars: Vec<Char> = indices
        .iter()
        .map(|&i| {
            let c = &decoded.chars[i];
            Char {
                text: c.text.clone(),
                quad: map(c.start, c.end),
                confidence: c.confidence,
            }
        })
        .collect();
    let (first, last) = (
        &decoded.chars[indices[0]],
        &decoded.chars[indices[indices.len() - 1]],
    );
    let confidence = chars.iter().map(|c| c.confidence).sum::<f32>() / chars.len() as f32;
    Word {
        text,
        quad: map(first.start, last.end),
        confidence,
        chars,
    }
}

/// The words of a line read from `quad` (corners clockwise from the text's own top-left).
///
/// Horizontal and turned lines map spans through the crop's perspective warp. A vertical
/// column's spans are fractions down the column already (the reader gives each character
/// the character cell it was read from; a column read as a turned line runs down the
/// column too).
pub(crate) fn line_words(
    decoded: &Decoded,
    quad: &Quad,
    orientation: LineOrientation,
) -> Vec<Word> {
    if orientation != LineOrientation::Vertical {
        return words(decoded, |a, b| sub_quad(quad, a, b));
    }
    // The column's quad is in image order (top-left first); fraction f runs down it.
    words(decoded, |a, b| {
        let lerp =
            |p: [f32; 2], q: [f32; 2], t: f32| [p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t];
        [
            lerp(quad[0], quad[3], a),
            lerp(quad[1], quad[2], a),
            lerp(quad[1], quad[2], b),
            lerp(quad[0], quad[3], b),
        ]
    })
}

/// The part of a line quad between fractions `a` and `b` of its crop's width, as a quad
/// clockwise from its top-left: exact for the perspective crop of
/// [`wenzi_recognize::crop_quad`], whose warp is a homography of the quad. A degenerate quad
/// falls back to interpolating along its edges.
pub(crate) fn sub_quad(quad: &Quad, a: f32, b: f32) -> Quad {
    let at = |u: f32, v: f32| {
        crop_point_to_image(quad, u, v).unwrap_or_else(|| {
            let lerp =
                |p: [f32; 2], q: [f32; 2]| [p[0] + (q[0] - p[0]) * u, p[1] + (q[1] - p[1]) * u];
            let (top, bottom) = (lerp(quad[0], quad[1]), lerp(quad[3], quad[2]));
            [
                top[0] + (bottom[0] - top[0]) * v,
                top[1] + (bottom[1] - top[1]) * v,
            ]
        })
    };
    [at(a, 0.0), at(b, 0.0), at(b, 1.0), at(a, 1.0)]
}

/// CJK ideographs, kana, hangul, CJK and full-width punctuation and forms: each is a word.
pub(crate) fn is_cjk(c: char) -> bool {
    matches!(u32::from(c),
        0x2E80..=0x2FDF       // radicals
        | 0x3000..=0x30FF     // CJK punctuation, hiragana, katakana
        | 0x3100..=0x31FF     // bopomofo, kana extensions
        | 0x3400..=0x4DBF     // extension A
        | 0x4E00..=0x9FFF     // unified ideographs
        | 0xAC00..=0xD7AF     // hangul syllables
        | 0xF900..=0xFAFF     // compatibility ideographs
        | 0xFE30..=0xFE4F     // CJK compatibility forms (vertical punctuation)
        | 0xFF00..=0xFFEF     // full-width and half-width forms
        | 0x20000..=0x2FA1F)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use wenzi_recognize::CharSpan;

    /// A decoded line whose characters each take one equal slot of the line.
    pub(crate) fn decoded(text: &str) -> Decoded {
        let n = text.chars().count() as f32;
        Decoded {
            text: text.into(),
            confidence: 0.9,
            chars: text
                .chars()
                .enumerate()
                .map(|(i, c)| CharSpan {
                    text: c.to_string(),
                    start: i as f32 / n,
                    end: (i + 1) as f32 / n,
                    confidence: 0.5 + 0.01 * i as f32,
                })
                .collect(),
        }
    }

    fn line_quad(w: f32) -> Quad {
        [[0.0, 0.0], [w, 0.0], [w, 10.0], [0.0, 10.0]]
    }

    #[test]
    fn latin_runs_join_punctuation_and_cjk_characters_stand_alone() {
        let d = decoded("don't use e-mail, 3.14在软件包中查找。OK");
        let w = words(&d, |a, b| sub_quad(&line_quad(100.0), a, b));
        let texts: Vec<&str> = w.iter().map(|w| w.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "don't", "use", "e-mail,", "3.14", "在", "软", "件", "包", "中", "查", "找", "。",
                "OK"
            ]
        );
        assert_eq!(w[0].chars.len(), 5);
        let mean = w[0].chars.iter().map(|c| c.confidence).sum::<f32>() / 5.0;
        assert!((w[0].confidence - mean).abs() < 1e-6);
    }

    #[test]
    fn word_boxes_cover_their_characters_in_order() {
        let n = "apt search".len() as f32;
        let d = decoded("apt search");
        let w = words(&d, |a, b| sub_quad(&line_quad(n * 10.0), a, b));
        assert_eq!(w.len(), 2);
        assert!((w[0].quad[0][0] - 0.0).abs() < 1e-3 && (w[0].quad[1][0] - 30.0).abs() < 1e-3);
        assert!((w[1].quad[0][0] - 40.0).abs() < 1e-3 && (w[1].quad[1][0] - 100.0).abs() < 1e-3);
        for c in &w[1].chars {
            assert!(
                c.quad[0][0] >= w[1].quad[0][0] - 1e-3 && c.quad[1][0] <= w[1].quad[1][0] + 1e-3
            );
        }
    }

    #[test]
    fn vertical_spans_run_down_the_column() {
        let d = decoded("竖排文字");
        let quad = [[10.0, 0.0], [30.0, 0.0], [30.0, 80.0], [10.0, 80.0]];
        let w = line_words(&d, &quad, LineOrientation::Vertical);
        assert_eq!(w.len(), 4);
        for (k, word) in w.iter().enumerate() {
            let y = 20.0 * k as f32;
            assert_eq!(
                word.quad,
                [[10.0, y], [30.0, y], [30.0, y + 20.0], [10.0, y + 20.0]]
            );
        }
    }

    #[test]
    fn empty_and_blank_lines_have_no_words() {
        assert!(words(&Decoded::default(), |a, b| sub_quad(&line_quad(10.0), a, b)).is_empty());
        assert!(words(&decoded("   "), |a, b| sub_quad(&line_quad(10.0), a, b)).is_empty());
    }

    fn rotate(p: [f32; 2], angle: f32, c: [f32; 2]) -> [f32; 2] {
        let (s, co) = angle.sin_cos();
        let (x, y) = (p[0] - c[0], p[1] - c[1]);
        [c[0] + x * co - y * s, c[1] + x * s + y * co]
    }

    fn close(p: [f32; 2], q: [f32; 2], tol: f32) -> bool {
        (p[0] - q[0]).abs() <= tol && (p[1] - q[1]).abs() <= tol
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// A rotated rectangle's sub-quad is the rotated sub-rectangle.
        #[test]
        fn sub_quads_of_rotated_rectangles_are_rotated_sub_rectangles(
            x0 in -500f32..500.0, y0 in -500f32..500.0, w in 5f32..800.0, h in 5f32..100.0,
            angle in -3.2f32..3.2, a in 0f32..1.0, b in 0f32..1.0,
        ) {
            let (a, b) = (a.min(b), a.max(b));
            let c = [x0 + w / 2.0, y0 + h / 2.0];
            let rect = |l: f32, r: f32| [[l, y0], [r, y0], [r, y0 + h], [l, y0 + h]];
            let quad = rect(x0, x0 + w).map(|p| rotate(p, angle, c));
            let want = rect(x0 + a * w, x0 + b * w).map(|p| rotate(p, angle, c));
            let got = sub_quad(&quad, a, b);
            for k in 0..4 {
                prop_assert!(close(got[k], want[k], 1e-2 * (1.0 + w / 100.0)), "{:?} vs {:?}", got, want);
            }
        }

        /// Under perspective: sub-quads sit on the quad's top and bottom edges, neighbouring
        /// spans share their cut, and a sub-quad of a sub-quad is the sub-quad of the
        /// composed span (the warp is one homography).
        #[test]
        fn sub_quads_compose_under_perspective(
            jitter in proptest::array::uniform8(-30f32..30.0),
            angle in -3.2f32..3.2,
            a in 0f32..1.0, b in 0f32..1.0, c in 0f32..1.0, d in 0f32..1.0,
        ) {
            let (a, b) = (a.min(b), a.max(b));
            let (c, d) = (c.min(d), c.max(d));
            let base = [[0.0, 0.0], [300.0, 0.0], [300.0, 60.0], [0.0, 60.0]];
            let mut quad = base;
            for (k, p) in quad.iter_mut().enumerate() {
                *p = rotate([p[0] + jitter[2 * k], p[1] + jitter[2 * k + 1]], angle, [150.0, 30.0]);
            }
            let s = sub_quad(&quad, a, b);
            // On the edges: cross product with the edge direction is ~0.
            let on = |p: [f32; 2], e0: [f32; 2], e1: [f32; 2]| {
                let (dx, dy) = (e1[0] - e0[0], e1[1] - e0[1]);
                ((p[0] - e0[0]) * dy - (p[1] - e0[1]) * dx).abs() / (dx.hypot(dy)) < 1e-2
            };
            prop_assert!(on(s[0], quad[0], quad[1]) && on(s[1], quad[0], quad[1]));
            prop_assert!(on(s[2], quad[3], quad[2]) && on(s[3], quad[3], quad[2]));
            let m = (a + b) / 2.0;
            prop_assert!(close(sub_quad(&quad, a, m)[1], sub_quad(&quad, m, b)[0], 1e-3));
            let nested = sub_quad(&s, c, d);
            let direct = sub_quad(&quad, a + c * (b - a), a + d * (b - a));
            for k in 0..4 {
                prop_assert!(close(nested[k], direct[k], 2e-2), "{:?} vs {:?}", nested, direct);
            }
        }
    }
}
