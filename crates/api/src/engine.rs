//! The OCR pipeline: decode → detect lines → crop → orientation → recognize.

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub(crate) use std::time::Instant;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub(crate) use web_time::Instant;

use image::RgbImage;
use ndarray::Ix4;
use wenzi_detect::TextBox;
use wenzi_nn::Model;
use wenzi_recognize::{OrientationClassifier, Recognizer};

use crate::models::{model_bytes, ModelSet, ModelSource, CLS_FILE};
use crate::{arrange, reading, words, Error, Line, Page, Timings};

/// How text lines are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DetectorKind {
    /// The PP-OCR DB network: robust on photos, screenshots and degraded scans.
    Db,
    /// Connected components and projection profiles, no network: fast on clean pages.
    Classic,
    /// An image that is itself one text line goes straight to the recognizer; anything else
    /// goes through the DB network. The default.
    #[default]
    Auto,
}

impl std::str::FromStr for DetectorKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "db" => Ok(DetectorKind::Db),
            "classic" => Ok(DetectorKind::Classic),
            "auto" => Ok(DetectorKind::Auto),
            other => Err(Error::Config(format!(
                "unknown detector `{other}` (use db, classic or auto)"
            ))),
        }
    }
}

/// Resource bounds for one recognition. Each one, when hit, gives a documented error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Most pixels (width × height) an image may have; checked from the header before
    /// decoding. Default 50 megapixels → [`Error::ImageTooLarge`].
    pub max_pixels: u64,
    /// Most text lines one page may hold. Default 2,000 → [`Error::LimitExceeded`].
    pub max_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_pixels: 50_000_000,
            max_lines: 2_000,
        }
    }
}

/// Configures and builds an [`Engine`].
///
/// ```
/// use wenzi::{DetectorKind, Engine, Limits, ModelSet};
///
/// let engine = Engine::builder()
///     .models(ModelSet::V4)
///     .detector(DetectorKind::Db)
///     .classify_orientation(true)
///     .limits(Limits { max_pixels: 20_000_000, ..Limits::default() })
///     .build()?;
/// assert_eq!(engine.limits().max_pixels, 20_000_000);
/// // A blank image is not an error: it has no lines.
/// let blank = wenzi::image::RgbImage::from_pixel(64, 32, wenzi::image::Rgb([255, 255, 255]));
/// assert!(engine.recognize_image(&blank)?.lines.is_empty());
/// # Ok::<(), wenzi::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    detector: DetectorKind,
    models: ModelSet,
    source: ModelSource,
    classify_orientation: bool,
    threads: Option<usize>,
    limits: Limits,
    min_confidence: f32,
    reread: Option<(ModelSet, f32)>,
    max_detector_pixels: Option<u64>,
}

impl Default for EngineBuilder {
    fn default() -> Self {
        Self {
            detector: DetectorKind::default(),
            models: ModelSet::default(),
            source: ModelSource::default(),
            classify_orientation: true,
            threads: None,
            limits: Limits::default(),
            min_confidence: 0.5,
            reread: None,
            max_detector_pixels: None,
        }
    }
}

impl EngineBuilder {
    /// Which text-line detector to run (see [`DetectorKind`]).
    pub fn detector(mut self, kind: DetectorKind) -> Self {
        self.detector = kind;
        self
    }
    /// Which PP-OCR generation to load (default [`ModelSet::V4`]).
    pub fn models(mut self, set: ModelSet) -> Self {
        self.models = set;
        self
    }
    /// Read models from this folder instead of the bundled copies.
    pub fn model_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.source = ModelSource::Dir(dir.into());
        self
    }
    /// Turn upside-down lines with the cls network (on by default).
    pub fn classify_orientation(mut self, on: bool) -> Self {
        self.classify_orientation = on;
        self
    }
    /// Threads for inference; `None` (default) uses rayon's global pool (all cores).
    pub fn threads(mut self, threads: Option<usize>) -> Self {
        self.threads = threads;
        self
    }
    /// Resource limits (pixels per image, lines per page) the engine enforces on each call.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
    /// Lines recognized with a lower mean character probability are dropped (default 0.5):
    /// they are nearly always detector noise (texture, pictures) read as random symbols.
    pub fn min_confidence(mut self, p: f32) -> Self {
        self.min_confidence = p;
        self
    }

    /// Lines read with a confidence below `below` are read again by the recognizer of
    /// `models` (e.g. PP-OCRv6 behind the fast v4 reader); the more confident reading wins.
    /// `None` (default) reads each line once.
    pub fn reread(mut self, reread: Option<(ModelSet, f32)>) -> Self {
        self.reread = reread;
        self
    }

    /// Caps the DB detector's input at this many pixels (default 2560 × 2560): larger
    /// detector inputs are scaled down first. The detector's working memory grows with its
    /// input (roughly 55 MB per megapixel), so a server bounds its memory with this.
    pub fn max_detector_pixels(mut self, pixels: u64) -> Self {
        self.max_detector_pixels = Some(pixels);
        self
    }

    /// Loads the models and builds the engine.
    pub fn build(self) -> Result<Engine, Error> {
        let load = |which: &'static str, file: &str| -> Result<Model, Error> {
            let bytes = model_bytes(&self.source, file)?;
            Model::load(&bytes).map_err(|e| Error::ModelLoad {
                which,
                message: e.to_string(),
            })
        };
        let (det_file, rec_file) = self.models.file_names();
        let det = match self.detector {
            DetectorKind::Classic => None,
            DetectorKind::Db | DetectorKind::Auto => Some(load("detection", det_file)?),
        };
        let rec =
            Recognizer::new(load("recognition", rec_file)?).map_err(|e| Error::ModelLoad {
                which: "recognition",
                message: e.to_string(),
            })?;
        let second = match self.reread {
            Some((set, below)) if set != self.models => {
                let rec =
                    Recognizer::new(load("recognition", set.file_names().1)?).map_err(|e| {
                        Error::ModelLoad {
                            which: "recognition",
                            message: e.to_string(),
                        }
                    })?;
                Some((rec, below))
            }
            _ => None,
        };
        let cls = if self.classify_orientation {
            Some(OrientationClassifier::new(load("orientation", CLS_FILE)?))
        } else {
            None
        };
        let pool = match self.threads {
            Some(0) => return Err(Error::Config("threads must be at least 1".into())),
            Some(n) => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n)
                    .thread_name(|i| format!("wenzi-{i}"))
                    .build()
                    .map_err(|e| Error::Config(format!("cannot start {n} threads: {e}")))?,
            ),
            None => None,
        };
        let mut det_resize = wenzi_detect::db::AdaptiveResize::default();
        if let Some(px) = self.max_detector_pixels {
            det_resize.max_pixels = px.max(32 * 32);
        }
        Ok(Engine {
            detector: self.detector,
            det_policy: wenzi_detect::db::DetResizePolicy::Adaptive(det_resize),
            det,
            cls,
            rec,
            second,
            pool,
            limits: self.limits,
            min_confidence: self.min_confidence,
        })
    }
}

/// A loaded OCR pipeline. `Send + Sync`: one engine serves many threads at once.
///
/// ```
/// use std::sync::Arc;
///
/// # let bytes: &[u8] = include_bytes!("../../../fixtures/images/page_008.png");
/// let engine = Arc::new(wenzi::Engine::builder().threads(Some(1)).build()?);
/// let handles: Vec<_> = (0..2)
///     .map(|_| {
///         let engine = Arc::clone(&engine);
///         std::thread::spawn(move || engine.recognize(bytes).map(|page| page.texts()))
///     })
///     .collect();
/// for handle in handles {
///     let texts = handle.join().unwrap()?;
///     assert!(texts.iter().any(|t| t.contains("/etc/")));
/// }
/// # Ok::<(), wenzi::Error>(())
/// ```
pub struct Engine {
    detector: DetectorKind,
    det_policy: wenzi_detect::db::DetResizePolicy,
    det: Option<Model>,
    cls: Option<OrientationClassifier>,
    rec: Recognizer,
    second: Option<(Recognizer, f32)>,
    pool: Option<rayon::ThreadPool>,
    limits: Limits,
    min_confidence: f32,
}

impl Engine {
    /// A builder with the defaults (PP-OCRv4, [`DetectorKind::Auto`], orientation fix on, bundled
    /// models when the `bundled-models` feature is on).
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// The limits this engine enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Recognizes the text of one encoded image (format sniffed from the bytes).
    pub fn recognize(&self, bytes: &[u8]) -> Result<Page, Error> {
        let start = Instant::now();
        let image = self.decode(bytes)?;
        let decode = start.elapsed();
        let mut page = self.recognize_image(&image)?;
        page.timings.decode = decode;
        page.timings.total = start.elapsed();
        Ok(page)
    }

    /// Decodes an image exactly as [`Engine::recognize`] does: format sniffed from the bytes,
    /// EXIF orientation applied, transparency composited onto white, and this engine's pixel
    /// limit checked from the header before any pixel is decoded. Use it to draw the returned
    /// line boxes on the same pixels the engine read.
    pub fn decode(&self, bytes: &[u8]) -> Result<RgbImage, Error> {
        let limits = wenzi_preprocess::DecodeLimits {
            max_pixels: self.limits.max_pixels,
            ..Default::default()
        };
        Ok(wenzi_preprocess::decode(bytes, &limits)?)
    }

    /// Recognizes the text of a decoded image.
    pub fn recognize_image(&self, image: &RgbImage) -> Result<Page, Error> {
        let (w, h) = image.dimensions();
        if w == 0 || h == 0 {
            return Err(Error::InvalidImage("the image has a zero side".into()));
        }
        if (w as u64) * (h as u64) > self.limits.max_pixels {
            return Err(Error::ImageTooLarge {
                width: w as u64,
                height: h as u64,
                max_pixels: self.limits.max_pixels,
            });
        }
        match &self.pool {
            Some(pool) => pool.install(|| self.run_pipeline(image)),
            None => self.run_pipeline(image),
        }
    }

    fn run_pipeline(&self, image: &RgbImage) -> Result<Page, Error> {
        let start = Instant::now();
        let mut timings = Timings::default();

        let readers = reading::Readers {
            rec: &self.rec,
            cls: self.cls.as_ref(),
            second: self.second.as_ref().map(|(r, below)| (r, *below)),
        };
        let first = self.timed_detect(&mut timings, || self.detect(image))?;
        let (read, turns) =
            match reading::read_boxes(image, &first.boxes, &readers, true, &mut timings)? {
                reading::Reading::Lines(lines, turns) => (lines, turns),
                // A turned page is read upright, from a second detection on the turned-back image,
                // and its lines are mapped back onto the image as given.
                reading::Reading::Turned(turns) => {
                    let upright = reading::turned_upright(image, turns);
                    let boxes = self.timed_detect(&mut timings, || {
                        self.detect_again(&upright, &first, turns, image.width(), image.height())
                    })?;
                    let (lines, more) = match reading::read_boxes(
                        &upright,
                        &boxes.boxes,
                        &readers,
                        false,
                        &mut timings,
                    )? {
                        reading::Reading::Lines(lines, more) => (lines, more),
                        // (not returned when the page may not be turned again)
                        reading::Reading::Turned(more) => (Vec::new(), more),
                    };
                    let (w, h) = (image.width() as f32, image.height() as f32);
                    let lines = lines
                        .into_iter()
                        .map(|l| l.onto_turned_image(turns, w, h))
                        .collect();
                    (lines, (turns + more) % 4)
                }
            };
        let read: Vec<reading::ReadLine> = read
            .into_iter()
            .filter(|r| {
                !r.decoded.text.trim().is_empty() && r.decoded.confidence >= self.min_confidence
            })
            .collect();
        // A line the detector cut in two (a CJK line before its last character, a price
        // and its smaller unit) is one line again.
        let read = crate::join::join_split_lines(read);
        let (order, blocks) = arrange::arrange(&read, turns, image.width(), image.height());
        let mut slots: Vec<Option<reading::ReadLine>> = read.into_iter().map(Some).collect();
        let lines = order
            .into_iter()
            .filter_map(|i| slots[i].take())
            .map(|r| Line {
                text: r.decoded.text.trim().to_string(),
                confidence: r.decoded.confidence,
                quad: r.quad,
                orientation: r.orientation,
                words: words::line_words(&r.decoded, &r.quad, r.orientation),
            })
            .collect();
        timings.total = start.elapsed();
        Ok(Page {
            width: image.width(),
            height: image.height(),
            rotation: u16::from(turns) * 90,
            lines,
            blocks,
            timings,
        })
    }

    /// A detection, timed, within the line limit.
    fn timed_detect<D: Into<Detection>>(
        &self,
        timings: &mut Timings,
        detect: impl FnOnce() -> Result<D, Error>,
    ) -> Result<Detection, Error> {
        let t = Instant::now();
        let found = detect()?.into();
        timings.detect += t.elapsed();
        if found.boxes.len() > self.limits.max_lines {
            return Err(Error::LimitExceeded(format!(
                "{} text lines found, over the limit of {}",
                found.boxes.len(),
                self.limits.max_lines
            )));
        }
        Ok(found)
    }

    /// Text line boxes in reading order.
    fn detect(&self, image: &RgbImage) -> Result<Detection, Error> {
        let gray = image::imageops::grayscale(image);
        let found = match (self.detector, &self.det) {
            (DetectorKind::Classic, _) | (_, None) => {
                wenzi_detect::classic::detect(&gray, &Default::default()).into()
            }
            // A single line, upright or turned a quarter (a tall crop of one line or column).
            (DetectorKind::Auto, Some(_))
                if wenzi_detect::looks_like_single_line(&gray)
                    || (gray.height() >= 3 * gray.width()
                        && wenzi_detect::looks_like_single_line(&image::imageops::rotate90(
                            &gray,
                        ))) =>
            {
                let (w, h) = (image.width() as f32, image.height() as f32);
                vec![TextBox {
                    points: [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]],
                    score: 1.0,
                }]
                .into()
            }
            (_, Some(det)) => self.detect_db(det, image)?,
        };
        Ok(found)
    }

    /// The lines of `upright`, the `w × h` image of the `first` detection turned back by
    /// `turns`. When the network found them, only the part of the page where it found text
    /// (with a margin) is detected again, from the pixels and on the grid the whole page's
    /// detection would use ([`wenzi_detect::db::prepare_part`]): the same lines for a
    /// fraction of the work.
    fn detect_again(
        &self,
        upright: &RgbImage,
        first: &Detection,
        turns: reading::QuarterTurns,
        w: u32,
        h: u32,
    ) -> Result<Detection, Error> {
        let (Some(det), Some((iw, ih))) = (&self.det, first.input) else {
            return self.detect(upright);
        };
        let Some(region) = reading::text_region(&first.boxes, turns, w, h) else {
            return self.detect(upright);
        };
        // The turned-back page's detector size is the first one's, turned.
        let size = if turns % 2 == 1 { (ih, iw) } else { (iw, ih) };
        let (uw, uh) = upright.dimensions();
        let (fx, fy) = (
            size.0 as f32 / uw.max(1) as f32,
            size.1 as f32 / uh.max(1) as f32,
        );
        let part = [
            (region[0] as f32 * fx).floor() as u32,
            (region[1] as f32 * fy).floor() as u32,
            (region[2] as f32 * fx).ceil() as u32,
            (region[3] as f32 * fy).ceil() as u32,
        ];
        let (input, sx, sy, [px, py]) = wenzi_detect::db::prepare_part(upright, size, part);
        let (ph, pw) = (input.shape()[2] as f32, input.shape()[3] as f32);
        let prob = run_det(det, &input)?;
        let mut boxes = wenzi_detect::db::postprocess(
            prob.view(),
            &Default::default(),
            sx,
            sy,
            ((pw / sx).ceil() as u32).clamp(1, uw.max(1)),
            ((ph / sy).ceil() as u32).clamp(1, uh.max(1)),
        );
        let (dx, dy) = (px as f32 / sx, py as f32 / sy);
        for b in &mut boxes {
            for p in &mut b.points {
                p[0] += dx;
                p[1] += dy;
            }
        }
        Ok(Detection {
            boxes,
            input: Some(size),
        })
    }

    fn detect_db(&self, det: &Model, image: &RgbImage) -> Result<Detection, Error> {
        let (input, scale_x, scale_y) = wenzi_detect::db::prepare_input(image, &self.det_policy);
        let size = (input.shape()[3] as u32, input.shape()[2] as u32);
        let prob = run_det(det, &input)?;
        let boxes = wenzi_detect::db::postprocess(
            prob.view(),
            &Default::default(),
            scale_x,
            scale_y,
            image.width(),
            image.height(),
        );
        Ok(Detection {
            boxes,
            input: Some(size),
        })
    }
}

/// The DB network's text probability map for one prepared input.
fn run_det(det: &Model, input: &ndarray::Array4<f32>) -> Result<ndarray::Array2<f32>, Error> {
    let output = det
        .run(&[("x", input.view().into_dyn())])?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Inference("the detection model returned nothing".into()))?;
    let prob = output
        .into_dimensionality::<Ix4>()
        .map_err(|_| Error::Inference("detection output is not N×1×H×W".into()))?;
    if prob.shape()[0] == 0 || prob.shape()[1] == 0 {
        return Err(Error::Inference("detection output is empty".into()));
    }
    Ok(prob
        .index_axis(ndarray::Axis(0), 0)
        .index_axis(ndarray::Axis(0), 0)
        .to_owned())
}

/// Text line boxes, and the input size (width, height) the DB network read the image at
/// (`None` when no network ran: the classic detector, or an image that is one line).
struct Detection {
    boxes: Vec<TextBox>,
    input: Option<(u32, u32)>,
}

impl From<Vec<TextBox>> for Detection {
    fn from(boxes: Vec<TextBox>) -> Self {
        Self { boxes, input: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_is_send_and_sync() {
        fn is<T: Send + Sync>() {}
        is::<Engine>();
    }

    #[test]
    fn detector_and_model_names_parse() {
        assert_eq!("DB".parse::<DetectorKind>().unwrap(), DetectorKind::Db);
        assert_eq!(
            "classic".parse::<DetectorKind>().unwrap(),
            DetectorKind::Classic
        );
        assert!("tesseract".parse::<DetectorKind>().is_err());
        assert_eq!("v6".parse::<ModelSet>().unwrap(), ModelSet::V6);
        assert!("v5".parse::<ModelSet>().is_err());
    }
}
