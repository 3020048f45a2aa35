//! Greedy CTC decoding: best class per time step, collapse repeats, drop blanks.

use ndarray::ArrayView2;

use crate::Charset;

/// One decoded line.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub text: String,
    /// Mean probability of the emitted symbols (0 when nothing was emitted).
    pub confidence: f32,
}

/// Decodes one sequence of per-step class scores (`steps × classes`).
///
/// Rows may be probabilities (PP-OCRv4 ends in Softmax) or raw logits; a row that does not
/// look like a distribution is soft-maxed for the confidence, so both model families report
/// comparable confidences. The arg-max, and so the text, is the same either way.
pub fn decode_greedy(scores: ArrayView2<'_, f32>, charset: &Charset) -> Decoded {
    let mut text = String::new();
    let mut prob_sum = 0.0f64;
    let mut emitted = 0usize;
    let mut previous = usize::MAX;
    for row in scores.rows() {
        let (best, best_score) = argmax(row.iter().copied());
        if best != previous && best != 0 {
            if let Some(symbol) = charset.symbol(best) {
                text.push_str(symbol);
                prob_sum += f64::from(probability_of_max(row.iter().copied(), best_score));
                emitted += 1;
            }
        }
        previous = best;
    }
    let confidence = if emitted == 0 {
        0.0
    } else {
        (prob_sum / emitted as f64) as f32
    };
    Decoded { text, confidence }
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
    fn nan_rows_do_not_panic() {
        let m = Array2::from_elem((3, 5), f32::NAN);
        let d = decode_greedy(m.view(), &charset());
        assert_eq!(d.text, "");
    }
}
