//! Field encodings for the JSON shape documented on [`crate::Page`]: ranges as `[start, end]`
//! (serde's default, `{"start":..,"end":..}`, is noisier for clients), durations as
//! milliseconds.

use std::ops::Range;
use std::time::Duration;

use serde::{de::Error as _, Deserialize, Deserializer, Serialize, Serializer};

/// A `Range<usize>` as `[start, end]`.
pub mod range {
    use super::*;

    pub fn serialize<S: Serializer>(r: &Range<usize>, s: S) -> Result<S::Ok, S::Error> {
        [r.start, r.end].serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Range<usize>, D::Error> {
        let [start, end] = <[usize; 2]>::deserialize(d)?;
        Ok(start..end)
    }
}

/// A `Vec<Range<usize>>` as `[[start, end], ...]`.
pub mod ranges {
    use super::*;

    pub fn serialize<S: Serializer>(r: &[Range<usize>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(r.iter().map(|r| [r.start, r.end]))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Range<usize>>, D::Error> {
        let pairs = Vec::<[usize; 2]>::deserialize(d)?;
        Ok(pairs.into_iter().map(|[a, b]| a..b).collect())
    }
}

/// A `Duration` as milliseconds (a float).
pub mod millis {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64() * 1e3)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = f64::deserialize(d)?;
        Duration::try_from_secs_f64(ms / 1e3)
            .map_err(|_| D::Error::custom(format!("{ms} is not a duration in milliseconds")))
    }
}
