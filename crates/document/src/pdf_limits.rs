//! Decompression bounds for the PDF streams wenzi asks hayro-syntax to decode.
//!
//! hayro-syntax inflates a stream whole, without a size limit, so a 1.5 KB PDF whose image
//! or content stream is deflated twice decodes to 400 MiB (and a few KB more to gigabytes).
//! Before a stream is decoded, its size after each filter is bounded here: the first filter
//! that expands (Flate, LZW, RunLength) is run for real with an output cap, counting bytes
//! and keeping none; later filters multiply the bound by their worst-case ratio. A stream
//! whose bound passes the cap is refused. (Object and cross-reference streams, which hayro
//! decodes on its own while resolving objects, are outside wenzi's reach.)

use std::io::Read;

use hayro_syntax::object::{Object, Stream};
use hayro_syntax::Filter;

/// Worst-case output/input ratio of a filter that is not measured: deflate at most ~1,032:1,
/// LZW (12-bit codes, 4,096-byte strings) below 4,096:1, RunLength 128 bytes from 2, ASCII85
/// 4 bytes from `z`; hex and image decoders (bounded by the checked image size) do not count.
fn worst_ratio(filter: &Filter) -> u64 {
    match filter {
        Filter::FlateDecode => 1_100,
        Filter::LzwDecode => 4_096,
        Filter::RunLengthDecode => 64,
        Filter::Ascii85Decode => 4,
        _ => 1,
    }
}

/// The bound on what `stream` decodes to (before any image decoder) when it is at most `cap`
/// bytes; `Err` with the bound that passed the cap otherwise.
pub(crate) fn check(stream: &Stream<'_>, cap: u64) -> Result<u64, u64> {
    let filters = stream.filters();
    let raw = stream.raw_data();
    let mut size = raw.len() as u64;
    let mut measured = false;
    for (i, filter) in filters.iter().enumerate() {
        let expands = matches!(
            filter,
            Filter::FlateDecode | Filter::LzwDecode | Filter::RunLengthDecode
        );
        size = if expands && !measured {
            measured = true;
            let early_change = stream
                .dict()
                .get::<Object<'_>>(b"DecodeParms".as_slice())
                .and_then(|p| match p {
                    Object::Dict(d) => d.get::<u8>(b"EarlyChange".as_slice()),
                    _ => None,
                })
                .unwrap_or(1);
            // Measured on the raw bytes; the filters before it (hex, ASCII85) are applied as
            // their worst ratio instead.
            let before: u64 = filters[..i].iter().map(worst_ratio).product();
            decoded_len(filter, &raw, early_change, cap.saturating_add(1)).saturating_mul(before)
        } else {
            size.saturating_mul(worst_ratio(filter))
        };
    }
    if size > cap {
        Err(size)
    } else {
        Ok(size)
    }
}

/// Bytes `filter` makes of `data`, counted up to `limit` (a corrupt stream counts what decodes
/// before the damage, as the reader keeps that too).
fn decoded_len(filter: &Filter, data: &[u8], early_change: u8, limit: u64) -> u64 {
    match filter {
        Filter::FlateDecode => {
            let count = |r: &mut dyn Read| {
                let mut sink = [0u8; 16 * 1024];
                let mut total = 0u64;
                while total < limit {
                    match r.read(&mut sink) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => total += n as u64,
                    }
                }
                total
            };
            let zlib = count(&mut flate2::read::ZlibDecoder::new(data));
            let raw = count(&mut flate2::read::DeflateDecoder::new(data));
            zlib.max(raw)
        }
        Filter::LzwDecode => {
            use weezl::{decode::Decoder, BitOrder, LzwStatus};
            let mut decoder = if early_change == 0 {
                Decoder::new(BitOrder::Msb, 8)
            } else {
                Decoder::with_tiff_size_switch(BitOrder::Msb, 8)
            };
            let mut sink = vec![0u8; 16 * 1024];
            let (mut at, mut total) = (0usize, 0u64);
            while total < limit {
                let r = decoder.decode_bytes(&data[at..], &mut sink);
                at += r.consumed_in;
                total += r.consumed_out as u64;
                match r.status {
                    Ok(LzwStatus::Ok) => {}
                    _ => break,
                }
            }
            total
        }
        Filter::RunLengthDecode => {
            let (mut at, mut total) = (0usize, 0u64);
            while let Some(&n) = data.get(at) {
                match n {
                    0..=127 => {
                        let run = (n as usize + 1).min(data.len() - at - 1);
                        total += run as u64;
                        at += 1 + n as usize + 1;
                    }
                    128 => break,
                    _ => {
                        total += 257 - n as u64;
                        at += 2;
                    }
                }
                if total >= limit {
                    break;
                }
            }
            total
        }
        _ => data.len() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflate(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn flate_is_counted_up_to_the_limit() {
        let z = deflate(&vec![0; 100_000]);
        assert_eq!(decoded_len(&Filter::FlateDecode, &z, 1, u64::MAX), 100_000);
        let counted = decoded_len(&Filter::FlateDecode, &z, 1, 20_000);
        assert!((20_000..40_000).contains(&counted), "{counted}");
        // Damaged: what decodes before the damage.
        let cut = &z[..z.len() / 2];
        assert!(decoded_len(&Filter::FlateDecode, cut, 1, u64::MAX) > 0);
    }

    #[test]
    fn lzw_and_run_length_are_counted() {
        let mut enc = weezl::encode::Encoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
        let lzw = enc.encode(&vec![7; 50_000]).unwrap();
        assert_eq!(decoded_len(&Filter::LzwDecode, &lzw, 1, u64::MAX), 50_000);
        // 3 literal bytes, a run of 100, end of data.
        let rl = [2, b'a', b'b', b'c', 157, b'x', 128, 5];
        assert_eq!(decoded_len(&Filter::RunLengthDecode, &rl, 1, u64::MAX), 103);
    }
}
