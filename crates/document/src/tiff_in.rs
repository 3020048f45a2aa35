//! Multi-page TIFF: each image file directory is a page.

use std::io::Cursor;

use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::ColorType;

use crate::input::{rgb_from_samples, PageImage};
use crate::DocumentError;

/// Most pages counted in a TIFF (a loop of directories must not spin forever).
const MAX_DIRECTORIES: usize = 100_000;

pub(crate) struct TiffPages {
    bytes: Vec<u8>,
    count: usize,
}

fn tiff_error(e: tiff::TiffError) -> DocumentError {
    DocumentError::InvalidTiff(e.to_string())
}

impl TiffPages {
    pub(crate) fn open(bytes: Vec<u8>) -> Result<Self, DocumentError> {
        let mut decoder = Decoder::new(Cursor::new(bytes.as_slice())).map_err(tiff_error)?;
        let mut count = 1;
        while decoder.more_images() && count < MAX_DIRECTORIES {
            decoder.next_image().map_err(tiff_error)?;
            count += 1;
        }
        Ok(Self { bytes, count })
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn image(
        &self,
        index: usize,
        dpi: f32,
        checked: &dyn Fn(u64, u64) -> Result<(), DocumentError>,
    ) -> Result<PageImage, DocumentError> {
        let page = index + 1;
        let invalid = |message: String| DocumentError::InvalidPage { page, message };
        let mut decoder = Decoder::new(Cursor::new(self.bytes.as_slice())).map_err(tiff_error)?;
        decoder.seek_to_image(index).map_err(tiff_error)?;
        let (w, h) = decoder.dimensions().map_err(tiff_error)?;
        checked(w as u64, h as u64)?;
        // The pixel check above bounds the buffer; let the decoder allocate what that needs.
        let mut limits = Limits::default();
        limits.decoding_buffer_size = (w as usize)
            .saturating_mul(h as usize)
            .saturating_mul(16)
            .max(limits.decoding_buffer_size);
        limits.intermediate_buffer_size = limits.decoding_buffer_size;
        let mut decoder = decoder.with_limits(limits);
        let color = decoder.colortype().map_err(tiff_error)?;
        let data = decoder
            .read_image()
            .map_err(|e| invalid(format!("cannot decode its image: {e}")))?;
        let samples: Vec<u8> = match data {
            DecodingResult::U8(v) => v,
            DecodingResult::U16(v) => v.into_iter().map(|s| (s >> 8) as u8).collect(),
            _ => return Err(invalid(format!("unsupported sample format ({color:?})"))),
        };
        let (comps, bits, keep) = match color {
            ColorType::Gray(1) => (1, 1, 1),
            ColorType::Gray(8 | 16) => (1, 8, 1),
            ColorType::GrayA(8 | 16) => (2, 8, 1),
            ColorType::RGB(8 | 16) => (3, 8, 3),
            ColorType::RGBA(8 | 16) => (4, 8, 3),
            ColorType::CMYK(8 | 16) => (4, 8, 4),
            other => return Err(invalid(format!("unsupported colour type {other:?}"))),
        };
        // Drop alpha channels (scans have none worth compositing).
        let samples = if comps != keep {
            samples
                .chunks_exact(comps)
                .flat_map(|p| p[..keep].to_vec())
                .collect()
        } else {
            samples
        };
        let image = rgb_from_samples(w, h, keep as u32, bits, &samples)
            .ok_or_else(|| invalid("its image data is shorter than its size".into()))?;
        Ok(PageImage { image, dpi })
    }
}
