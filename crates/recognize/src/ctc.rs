//! Greedy CTC decoding: best class per time step, collapse repeats, drop blanks.

use ndarray::ArrayView2;

use crate::Charset;

/// One decoded line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decoded {
    /// The decoded text (CTC blanks and repeats collapsed).
    pub text: String,
    /// Mean probability of the emitted symbols (0 when nothing was emitted).
    pub confidence: f32,
    /// Each emitted symbol with where it sits along the line, in the order of `text`
    /// (concatenating their texts gives `text`).
    pub chars: Vec<CharSpan>,
}

/// One emitted symbol of a [`Decoded`] line and the part of the line it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct CharSpan {
    /// The symbol (usually one character; the dictionary's space is `" "`).
    pub text: String,
    /// Start of the symbol along the line crop, as a fraction of the crop's width (0..=1).
    pub start: f32,
    /// End of the symbol along the line crop, as a fraction of the crop's width (0..=1).
    pub end: f32,
    /// Probability of the symbol at its most confident frame of its run.
    pub confidence: f32,
}

/// Decodes one sequence of per-step class scores (`steps × classes`).
///
/// Rows may be probabilities (PP-OCRv4 ends in Softmax) or raw logits; a row that does not
/// look like a distribution is soft-maxed for the confidence, so both model families report
/// comparable confidences. The arg-max, and so the text, is the same either way.
///
/// Character spans assume every frame covers the line's content (no right padding); use
/// [`decode_greedy_spans`] when the line was padded to a wider batch.
pub fn decode_greedy(scores: ArrayView2<'_, f32>, charset: &Charset) -> Decoded {
    let frames = scores.nrows() as f32;
    decode_greedy_spans(scores, charset, frames)
}

/// [`decode_greedy`] for a line whose content covers only the first `content_frames` of the
/// output's frames (the rest is the batch's right padding): character spans are fractions
/// of the content, so they map onto the line crop.
///
/// A character spans from the start of the first frame of its run to the end of its last
/// frame, widened by half of the blank frames on each side (up to the neighbouring
/// character's widening), so spans are ordered, never overlap and lie in `[0, 1]`.
pub fn decode_greedy_spans(
    scores: ArrayView2<'_, f32>,
    charset: &Charset,
    content_frames: f32,
) -> Decoded {
    // Runs of one emitted class: (symbol, first frame, last frame, confidence).
    let mut runs: Vec<(&str, usize, usize, f32)> = Vec::new();
    let mut previous = usize::MAX;
    for (t, row) in scores.rows().into_iter().enumerate() {
        let (best, best_score) = argmax(row.iter().copied());
        if best != 0 {
            if best == previous {
                if let Some(run) = runs.last_mut() {
                    run.2 = t;
                }
            } else if let Some(symbol) = charset.symbol(best) {
                let p = probability_of(row.iter().copied(), best, best_score);
                runs.push((symbol, t, t, p));
            }
        }
        previous = best;
    }
    insert_missing_spaces(&mut runs, scores, charset);
    tidy_symbols(&mut runs);
    let mut text = String::new();
    let mut prob_sum = 0.0f64;
    for run in &runs {
        text.push_str(run.0);
        prob_sum += f64::from(run.3);
    }
    let confidence = if runs.is_empty() {
        0.0
    } else {
        (prob_sum / runs.len() as f64) as f32
    };
    let frames = scores.nrows();
    let content = if content_frames.is_finite() && content_frames > 0.0 {
        content_frames
    } else {
        frames.max(1) as f32
    };
    let chars = runs
        .iter()
        .enumerate()
        .map(|(k, &(symbol, first, last, p))| {
            // Blank frames between this run and its neighbours are shared halfway; the
            // first and last characters take half of the blanks before/after them too.
            let before = if k == 0 { 0 } else { runs[k - 1].2 + 1 };
            let after = runs.get(k + 1).map_or(frames, |r| r.1);
            let start = first as f32 - (first - before) as f32 / 2.0;
            let end = (last + 1) as f32 + (after - last - 1) as f32 / 2.0;
            CharSpan {
                text: symbol.to_string(),
                start: (start / content).clamp(0.0, 1.0),
                end: (end / content).clamp(0.0, 1.0),
                confidence: p,
            }
        })
        .collect();
    Decoded {
        text,
        confidence,
        chars,
    }
}

/// Fixes two symbol slips of the greedy path that no correct text contains:
/// - `°℃`: ℃ already holds its degree ring; a `°` emitted just before it is the same ring
///   read twice, so it is dropped (its frames go to the ℃);
/// - a Latin `X`/`x` in an arithmetic line (only digits, spaces, `.`, `,`, brackets and
///   operators, with an `=`): there it is the multiplication sign `×`, which the recognizer
///   often reads as the letter.
fn tidy_symbols(runs: &mut Vec<(&str, usize, usize, f32)>) {
    let mut k = 0;
    while k + 1 < runs.len() {
        if runs[k].0 == "°" && runs[k + 1].0 == "℃" {
            runs[k + 1].1 = runs[k].1;
            runs.remove(k);
        } else {
            k += 1;
        }
    }
    let arithmetic_char = |c: char| c.is_ascii_digit() || " .,+-=×÷xX()（）＝·".contains(c);
    let is = |r: &(&str, usize, usize, f32), set: &str| r.0.chars().any(|c| set.contains(c));
    let arithmetic = runs.iter().any(|r| is(r, "=＝"))
        && runs.iter().any(|r| r.0.chars().any(|c| c.is_ascii_digit()))
        && runs.iter().all(|r| r.0.chars().all(arithmetic_char));
    if arithmetic {
        for r in runs.iter_mut() {
            if r.0 == "X" || r.0 == "x" {
                r.0 = "×";
            }
        }
    }
}

/// Probability the network gives the space class at a blank frame for it to count as a
/// word gap.
/// Chosen on the evaluation sets with `tools/word_accuracy.py` (0.003–0.04 tried; lower
/// finds more true gaps, higher avoids spaces inside words).
const SPACE_PROBABILITY: f32 = 0.01;

/// Puts back word spaces the greedy path dropped between Latin words.
///
/// PP-OCR recognizers often emit blanks, not a space, at a narrow word gap (`is a waste` →
/// `isawaste`). Between two Latin characters the blank frames still give the space class
/// some probability where the gap is a word gap and next to none inside a word, so a space
/// is inserted where that probability reaches [`SPACE_PROBABILITY`], at its most likely frame.
fn insert_missing_spaces(
    runs: &mut Vec<(&str, usize, usize, f32)>,
    scores: ArrayView2<'_, f32>,
    charset: &Charset,
) {
    let space = charset.len() - 1;
    // Word spaces sit between Latin words, and between Latin and CJK text; never between
    // two CJK characters.
    let latin = |s: &str| s.chars().all(|c| c.is_ascii_graphic());
    let mut k = 0;
    while k + 1 < runs.len() {
        let (a, b) = (runs[k], runs[k + 1]);
        if a.0 != " " && b.0 != " " && (latin(a.0) || latin(b.0)) && b.1 > a.2 + 1 {
            let best = (a.2 + 1..b.1)
                .map(|t| {
                    let row = scores.row(t);
                    let (_, max) = argmax(row.iter().copied());
                    (t, probability_of(row.iter().copied(), space, max))
                })
                .max_by(|x, y| x.1.total_cmp(&y.1));
            if let Some((t, p)) = best {
                if p >= SPACE_PROBABILITY {
                    runs.insert(k + 1, (" ", t, t, p));
                    k += 1;
                }
            }
        }
        k += 1;
    }
}

/// The probability of class `index` in a row of probabilities (PP-OCRv4 ends in Softmax) or
/// of raw logits (v6), whose largest value is `max`.
fn probability_of(values: impl Iterator<Item = f32> + Clone, index: usize, max: f32) -> f32 {
    let Some(v) = values.clone().nth(index) else {
        return 0.0;
    };
    if !v.is_finite() {
        return 0.0;
    }
    let (sum, all_unit) = values.clone().fold((0.0f64, true), |(s, ok), x| {
        (s + f64::from(x), ok && (0.0..=1.0).contains(&x))
    });
    if all_unit && (sum - 1.0).abs() < 1e-2 {
        return v;
    }
    let denom: f64 = values
        .filter(|x| x.is_finite())
        .map(|x| f64::from(x - max).exp())
        .sum();
    if denom > 0.0 {
        (f64::from(v - max).exp() / denom) as f32
    } else {
        0.0
    }
}

/// Index and value of the largest finite score (first wins ties; NaN never wins).
fn argmax(values: impl Iterator<Item = f32>) -> (usize, f32) {
    let mut best = (0usize, f32::NEG_INFINITY);
    for (i, v) in values.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn charset() -> Charset {
        Charset::from_dictionary("a\nb\nc").unwrap() // classes: blank a b c space
    }

    /// Rows with probability `p` on the given class and the rest spread over the other
    /// non-space classes (a trained model gives the space next to nothing inside a word).
    fn one_hot(seq: &[usize], classes: usize, p: f32) -> Array2<f32> {
        let space = classes - 1;
        let mut m = Array2::zeros((seq.len(), classes));
        for (t, &c) in seq.iter().enumerate() {
            let others = if c == space { classes - 1 } else { classes - 2 };
            for k in 0..classes {
                if k != space || c == space {
                    m[[t, k]] = (1.0 - p) / others as f32;
                }
            }
            m[[t, c]] = p;
        }
        m
    }

    #[test]
    fn collapses_repeats_and_drops_blanks() {
        let m = one_hot(&[0, 1, 1, 0, 1, 2, 2, 4, 3, 0], 5, 0.9);
        let d = decode_greedy(m.view(), &charset());
        assert_eq!(d.text, "aab c");
        assert!((d.confidence - 0.9).abs() < 1e-5);
    }

    /// Rows of probabilities for `a`, then `gap` blank frames whose space probability is
    /// `p_space`, then `b` (classes: blank a b c space, as in `charset()`).
    fn with_gap(a: usize, b: usize, gap: usize, p_space: f32) -> Array2<f32> {
        let mut m = Array2::from_elem((gap + 2, 5), 0.0f32);
        m[[0, a]] = 1.0;
        for t in 1..=gap {
            m[[t, 0]] = 1.0 - p_space;
            m[[t, 4]] = p_space;
        }
        m[[gap + 1, b]] = 1.0;
        m
    }

    #[test]
    fn dropped_word_spaces_come_back_from_the_space_probability() {
        let d = decode_greedy(with_gap(1, 2, 2, 0.2).view(), &charset());
        assert_eq!(d.text, "a b");
        assert_eq!(d.chars.len(), 3);
        let d = decode_greedy(with_gap(1, 2, 2, 0.001).view(), &charset());
        assert_eq!(d.text, "ab");
        // No blank frame between the letters: no gap to put a space in.
        let d = decode_greedy(with_gap(1, 2, 0, 0.9).view(), &charset());
        assert_eq!(d.text, "ab");
    }

    #[test]
    fn no_spaces_between_cjk_characters() {
        let cjk = Charset::from_dictionary("中\n文").unwrap(); // blank 中 文 space
        let mut m = Array2::from_elem((4, 4), 0.0f32);
        m[[0, 1]] = 1.0;
        m[[1, 0]] = 0.6;
        m[[1, 3]] = 0.4;
        m[[2, 0]] = 1.0;
        m[[3, 2]] = 1.0;
        assert_eq!(decode_greedy(m.view(), &cjk).text, "中文");
    }

    #[test]
    fn degree_ring_read_twice_and_arithmetic_x() {
        // classes: blank ° ℃ X 0 4 = a space
        let cs = Charset::from_dictionary("°\n℃\nX\n0\n4\n=\na").unwrap();
        let decode = |seq: &[usize]| decode_greedy(one_hot(seq, 9, 0.9).view(), &cs);
        let d = decode(&[4, 0, 1, 2, 0]);
        assert_eq!(d.text, "0℃");
        assert_eq!(d.chars.len(), 2);
        // An arithmetic line: X is ×; with a letter in the line it stays X.
        assert_eq!(decode(&[4, 3, 5, 6, 4]).text, "0×4=0");
        assert_eq!(decode(&[3, 0, 4, 6]).text, "×0=");
        assert_eq!(decode(&[4, 3, 5, 6, 7]).text, "0X4=a");
        assert_eq!(decode(&[4, 3, 5]).text, "0X4");
    }

    #[test]
    fn all_blank_is_empty_with_zero_confidence() {
        let m = one_hot(&[0, 0, 0], 5, 0.99);
        let d = decode_greedy(m.view(), &charset());
        assert_eq!(d.text, "");
        assert_eq!(d.confidence, 0.0);
    }

    #[test]
    fn logits_get_softmax_confidence() {
        let mut m = Array2::zeros((1, 5));
        m[[0, 2]] = 10.0; // 'b'
        let d = decode_greedy(m.view(), &charset());
        assert_eq!(d.text, "b");
        let expected = 1.0 / (1.0 + 4.0 * (-10.0f32).exp());
        assert!((d.confidence - expected).abs() < 1e-5);
    }

    #[test]
    fn spans_follow_frames_and_the_content_width() {
        // 10 frames, of which the first 8 cover the line; "ab": a on frames 1-2, b on 5.
        let m = one_hot(&[0, 1, 1, 0, 0, 2, 0, 0, 0, 0], 5, 0.9);
        let d = decode_greedy_spans(m.view(), &charset(), 8.0);
        assert_eq!(d.text, "ab");
        assert_eq!(d.chars.len(), 2);
        let (a, b) = (&d.chars[0], &d.chars[1]);
        assert_eq!(a.text, "a");
        // a: frames 1..3, widened by half a blank before and one blank (of two) after.
        assert!((a.start - 0.5 / 8.0).abs() < 1e-6, "{a:?}");
        assert!((a.end - 4.0 / 8.0).abs() < 1e-6, "{a:?}");
        assert!((b.start - 4.0 / 8.0).abs() < 1e-6, "{b:?}");
        // b: frame 5..6 plus half the four blanks after it (clamped to the content).
        assert_eq!(b.end, 1.0);
        assert!((a.confidence - 0.9).abs() < 1e-6);
    }

    #[test]
    fn repeated_symbols_split_by_a_blank_are_two_spans() {
        let m = one_hot(&[1, 1, 0, 1, 4, 2], 5, 0.8);
        let d = decode_greedy(m.view(), &charset());
        assert_eq!(d.text, "aa b");
        let texts: Vec<&str> = d.chars.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(texts, ["a", "a", " ", "b"]);
        assert_eq!(d.chars[0].start, 0.0);
        assert_eq!(d.chars[3].end, 1.0);
    }

    proptest::proptest! {
        #[test]
        fn spans_are_ordered_disjoint_and_within_the_line(
            seq in proptest::collection::vec(0usize..5, 0..60),
            padding in 0usize..20,
        ) {
            let m = one_hot(&seq, 5, 0.9);
            let content = (seq.len().saturating_sub(padding)).max(1) as f32;
            let d = decode_greedy_spans(m.view(), &charset(), content);
            let joined: String = d.chars.iter().map(|c| c.text.as_str()).collect();
            proptest::prop_assert_eq!(joined, d.text.clone());
            let mut last_end = 0.0f32;
            for c in &d.chars {
                proptest::prop_assert!(c.start >= last_end - 1e-6, "{:?}", d.chars);
                proptest::prop_assert!(c.start <= c.end);
                proptest::prop_assert!((0.0..=1.0).contains(&c.start));
                proptest::prop_assert!((0.0..=1.0).contains(&c.end));
                last_end = c.end;
            }
        }
    }

    #[test]
    fn nan_rows_do_not_panic() {
        let m = Array2::from_elem((3, 5), f32::NAN);
        let d = decode_greedy(m.view(), &charset());
        assert_eq!(d.text, "");
    }
}
