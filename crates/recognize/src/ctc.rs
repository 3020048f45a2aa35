//! Greedy CTC decoding: best class per time step, collapse repeats, drop blanks.

use ndarray::ArrayView2;

use crate::Charset;

/// One decoded line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decoded {
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
                let p = probability_of_max(row.iter().copied(), best_score);
                runs.push((symbol, t, t, p));
            }
        }
        previous = best;
    }
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

/// The probability of the arg-max class, whether the row holds probabilities or logits.
fn probability_of_max(values: impl Iterator<Item = f32> + Clone, max: f32) -> f32 {
    let (sum, all_unit) = values.clone().fold((0.0f64, true), |(s, ok), v| {
        (s + f64::from(v), ok && (0.0..=1.0).contains(&v))
    });
    if all_unit && (sum - 1.0).abs() < 1e-2 {
        return max;
    }
    // softmax(max) = 1 / Σ exp(v - max)
    let denom: f64 = values
        .filter(|v| v.is_finite())
        .map(|v| f64::from(v - max).exp())
        .sum();
    if denom > 0.0 {
        (1.0 / denom) as f32
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn charset() -> Charset {
        Charset::from_dictionary("a\nb\nc").unwrap() // classes: blank a b c space
    }

    fn one_hot(seq: &[usize], classes: usize, p: f32) -> Array2<f32> {
        let mut m = Array2::from_elem((seq.len(), classes), (1.0 - p) / (classes as f32 - 1.0));
        for (t, &c) in seq.iter().enumerate() {
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
