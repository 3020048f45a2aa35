//! A deterministic stand-in for the OCR engine, for tests, load runs and fuzzing.
//!
//! [`TestBackend`] decodes nothing. It sniffs the format from the magic bytes (PNG, JPEG,
//! GIF, BMP, WebP, TIFF; anything else is `UnsupportedFormat`), treats an image shorter than
//! 16 bytes as truncated (`InvalidImage`), optionally burns `work` of CPU time, and answers
//! two lines derived from the bytes (as one [`wenzi::Page`]: 8 px per character, lines 30 px
//! apart, a word per run of non-spaces, a box per character):
//!
//! ```text
//! PNG 1234 bytes
//! fnv1a 0123456789abcdef
//! ```
//!
//! Bytes starting with `TEST:` are directives, separated by `;` up to the first newline:
//! `sleep=MS`, `panic`, `invalid`, `internal`, `unsupported`, `lines=a|b|c`.

use std::time::{Duration, Instant};

use crate::backend::{BackendError, JobOptions, OcrBackend, OcrOutput};

#[derive(Debug, Clone, Default)]
pub struct TestBackend {
    /// CPU time burnt per image (busy loop), to simulate a real engine.
    pub work: Duration,
}

impl TestBackend {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_work(work: Duration) -> Self {
        TestBackend { work }
    }
}

/// 64-bit FNV-1a hash.
pub fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in data {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

/// The format the test backend sees in `data`.
pub fn sniff(data: &[u8]) -> Option<&'static str> {
    let starts = |m: &[u8]| data.starts_with(m);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("PNG")
    } else if starts(b"\xff\xd8\xff") {
        Some("JPEG")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("GIF")
    } else if starts(b"BM") {
        Some("BMP")
    } else if data.len() >= 12 && starts(b"RIFF") && &data[8..12] == b"WEBP" {
        Some("WEBP")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some("TIFF")
    } else {
        None
    }
}

/// The lines the test backend answers for an image (no directives).
pub fn expected_lines(data: &[u8]) -> Vec<String> {
    vec![
        format!("{} {} bytes", sniff(data).unwrap_or("?"), data.len()),
        format!("fnv1a {:016x}", fnv1a(data)),
    ]
}

fn burn(d: Duration) {
    let t = Instant::now();
    let mut x = 0u64;
    while t.elapsed() < d {
        for i in 0..1000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    std::hint::black_box(x);
}

/// The box of characters `from..to` of line `i`.
fn quad(i: usize, from: usize, to: usize) -> [[f32; 2]; 4] {
    let y = 10.0 + 30.0 * i as f32;
    let (x0, x1) = (10.0 + 8.0 * from as f32, 10.0 + 8.0 * to as f32);
    [[x0, y], [x1, y], [x1, y + 24.0], [x0, y + 24.0]]
}

fn line(i: usize, text: String) -> wenzi::Line {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut k = 0;
    while k < chars.len() {
        if chars[k] == ' ' {
            k += 1;
            continue;
        }
        let end = (k..chars.len())
            .find(|&j| chars[j] == ' ')
            .unwrap_or(chars.len());
        words.push(wenzi::Word {
            text: chars[k..end].iter().collect(),
            quad: quad(i, k, end),
            confidence: 0.99,
            chars: (k..end)
                .map(|j| wenzi::Char {
                    text: chars[j].to_string(),
                    quad: quad(i, j, j + 1),
                    confidence: 0.99,
                })
                .collect(),
        });
        k = end;
    }
    wenzi::Line {
        quad: quad(i, 0, chars.len()),
        confidence: 0.99,
        orientation: wenzi::LineOrientation::Upright,
        words,
        text,
    }
}

fn output(lines: Vec<String>, stage_ms: Vec<(&'static str, f64)>) -> OcrOutput {
    let lines: Vec<wenzi::Line> = lines
        .into_iter()
        .enumerate()
        .map(|(i, text)| line(i, text))
        .collect();
    let width = lines
        .iter()
        .map(|l| l.quad[1][0] as u32 + 10)
        .max()
        .unwrap_or(0);
    let page = wenzi::Page {
        width,
        height: 30 * lines.len() as u32 + 10,
        rotation: 0,
        blocks: vec![wenzi::Block {
            kind: wenzi::BlockKind::Paragraph,
            lines: 0..lines.len(),
            rows: Vec::new(),
            bounds: [
                10.0,
                10.0,
                width as f32 - 10.0,
                30.0 * lines.len() as f32 + 4.0,
            ],
        }],
        lines,
        timings: wenzi::Timings::default(),
    };
    OcrOutput {
        pages: vec![page],
        stage_ms,
    }
}

impl OcrBackend for TestBackend {
    fn recognize(&self, image: &[u8], _job: &JobOptions) -> Result<OcrOutput, BackendError> {
        let t0 = Instant::now();
        if let Some(rest) = image.strip_prefix(b"TEST:") {
            let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
            let line = String::from_utf8_lossy(line);
            let mut lines = None;
            for d in line.split(';').map(str::trim) {
                if let Some(ms) = d.strip_prefix("sleep=") {
                    let ms: u64 = ms.parse().unwrap_or(0);
                    std::thread::sleep(Duration::from_millis(ms));
                } else if d == "panic" {
                    panic!("test backend asked to panic");
                } else if d == "invalid" {
                    return Err(BackendError::InvalidImage("test: corrupt image".into()));
                } else if d == "internal" {
                    return Err(BackendError::Internal("test: internal failure".into()));
                } else if d == "unsupported" {
                    return Err(BackendError::UnsupportedFormat("test format".into()));
                } else if let Some(l) = d.strip_prefix("lines=") {
                    lines = Some(l.split('|').map(str::to_string).collect());
                }
            }
            burn(self.work);
            let ms = t0.elapsed().as_secs_f64() * 1000.0;
            return Ok(output(
                lines.unwrap_or_else(|| vec!["TEST".to_string()]),
                vec![("test_total", ms)],
            ));
        }
        let Some(format) = sniff(image) else {
            return Err(BackendError::UnsupportedFormat(
                "not PNG, JPEG, GIF, BMP, WebP or TIFF".into(),
            ));
        };
        if image.len() < 16 {
            return Err(BackendError::InvalidImage(format!(
                "truncated {format} ({} bytes)",
                image.len()
            )));
        }
        let t1 = Instant::now();
        burn(self.work / 4);
        let t2 = Instant::now();
        burn(self.work - self.work / 4);
        let t3 = Instant::now();
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
        Ok(output(
            expected_lines(image),
            vec![
                ("decode", ms(t0, t1)),
                ("detect", ms(t1, t2)),
                ("recognize_lines", ms(t2, t3)),
            ],
        ))
    }
}

/// A `multipart/form-data` body with one file field. Returns (Content-Type, body).
pub fn multipart_body(field: &str, filename: &str, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----wenziTestBoundary7MA4YWxkTrZu0gW";
    let mut body = Vec::with_capacity(data.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for b in data {
        c ^= u32::from(*b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A valid RGB PNG of `w` x `h` pixels (a gradient), stored uncompressed.
pub fn tiny_png(w: u32, h: u32) -> Vec<u8> {
    let mut raw = Vec::new();
    for y in 0..h {
        raw.push(0u8); // filter: none
        for x in 0..w {
            raw.extend_from_slice(&[(x * 255 / w.max(1)) as u8, (y * 255 / h.max(1)) as u8, 160]);
        }
    }
    // zlib stream with stored (uncompressed) deflate blocks
    let mut z = vec![0x78, 0x01];
    let chunks: Vec<&[u8]> = raw.chunks(65535).collect();
    for (i, c) in chunks.iter().enumerate() {
        z.push(u8::from(i + 1 == chunks.len()));
        let len = c.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(c);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for x in &raw {
        a = (a + u32::from(*x)) % 65521;
        b = (b + a) % 65521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |ty: &[u8; 4], data: &[u8]| {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut c = ty.to_vec();
        c.extend_from_slice(data);
        png.extend_from_slice(&c);
        png.extend_from_slice(&crc32(&c).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &z);
    chunk(b"IEND", &[]);
    png
}
