//! `import wenzi`: the Python module over the `wenzi` OCR engine (PyO3, abi3).
//!
//! Recognition runs with the GIL released, so Python threads sharing one `wenzi.Engine` run in
//! parallel; `wenzi::Engine` is `Send + Sync` and needs no lock. Pages come back as frozen
//! Python objects (lines eagerly, words and characters on access) plus the serde JSON of
//! `wenzi::Page` for `to_json`/`to_dict`, so the shape is the CLI's and the server's.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use numpy::{PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyRange, PyTuple, PyType};
use wenzi::image::RgbImage;

create_exception!(
    wenzi,
    WenziError,
    PyException,
    "Base class of the errors wenzi raises (bad images, limits, models, inference)."
);

/// `wenzi.ImageError(WenziError, ValueError)`: built at run time because it has two bases,
/// so `except ValueError` and `except wenzi.WenziError` both catch a bad image.
static IMAGE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn image_error_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    IMAGE_ERROR
        .get_or_try_init(py, || {
            let bases = PyTuple::new(
                py,
                [
                    py.get_type::<WenziError>().into_any(),
                    py.get_type::<PyValueError>().into_any(),
                ],
            )?;
            let dict = PyDict::new(py);
            dict.set_item("__module__", "wenzi")?;
            dict.set_item(
                "__doc__",
                "The image could not be used: empty, not an image format wenzi reads, corrupt, \
                 too large, a zero side, too many text lines, or an array of the wrong shape or \
                 dtype. A ValueError and a WenziError.",
            )?;
            let ty = py
                .get_type::<PyType>()
                .call1(("ImageError", bases, dict))?
                .cast_into::<PyType>()?;
            Ok(ty.unbind())
        })
        .map(|t| t.bind(py))
}

fn image_error(py: Python<'_>, message: impl Into<String>) -> PyErr {
    match image_error_type(py) {
        Ok(ty) => PyErr::from_type(ty.clone(), message.into()),
        Err(e) => e,
    }
}

/// Maps wenzi's error enum onto the Python exceptions: input problems are `ImageError`
/// (a `ValueError`), everything else `WenziError`.
fn to_py_err(py: Python<'_>, e: wenzi::Error) -> PyErr {
    use wenzi::Error as E;
    match e {
        E::EmptyInput
        | E::UnsupportedFormat(_)
        | E::ImageTooLarge { .. }
        | E::InvalidImage(_)
        | E::LimitExceeded(_) => image_error(py, e.to_string()),
        E::Config(_) => PyValueError::new_err(e.to_string()),
        other => WenziError::new_err(other.to_string()),
    }
}

/// What `recognize` was given, in a form that can cross into the GIL-free section.
enum Input {
    Bytes(PyBackedBytes),
    Path(PathBuf),
    Pixels(RgbImage),
}

/// Reads a recognize argument: `bytes`/`bytearray` (an encoded image), `str`/`os.PathLike`
/// (a file), a numpy `uint8` array `HxW`, `HxWx1`, `HxWx3` or `HxWx4` (RGB order unless
/// `bgr`), or anything numpy turns into one such as a PIL image (always RGB).
fn read_input(obj: &Bound<'_, PyAny>, bgr: bool, max_pixels: u64) -> PyResult<Input> {
    let py = obj.py();
    if obj.is_instance_of::<PyBytes>() || obj.is_instance_of::<PyByteArray>() {
        return Ok(Input::Bytes(obj.extract::<PyBackedBytes>()?));
    }
    if let Ok(path) = obj.extract::<PathBuf>() {
        return Ok(Input::Path(path));
    }
    // Only look for an ndarray when numpy is loaded: asking numpy's C API without it aborts,
    // and an ndarray cannot exist without numpy imported.
    let numpy_loaded = py
        .import("sys")?
        .getattr("modules")?
        .contains("numpy")
        .unwrap_or(false);
    if numpy_loaded {
        if let Ok(array) = obj.cast::<PyUntypedArray>() {
            return array_to_rgb(array, bgr, max_pixels).map(Input::Pixels);
        }
    }
    if obj.hasattr("__array_interface__")? || obj.hasattr("__array__")? {
        let numpy = py.import("numpy").map_err(|_| {
            PyTypeError::new_err("install numpy to pass image objects (PIL images, arrays)")
        })?;
        // A PIL image in a mode numpy would not give as gray/RGB/RGBA bytes (palette, 1-bit,
        // 16-bit, CMYK, LA...) is converted by PIL first; RGBA keeps any transparency.
        let mut obj = obj.clone();
        if obj.hasattr("mode")? && obj.hasattr("convert")? {
            let mode: String = obj.getattr("mode")?.extract()?;
            if !matches!(mode.as_str(), "L" | "RGB" | "RGBA") {
                obj = obj.call_method1("convert", ("RGBA",))?;
            }
        }
        let array = numpy.call_method1("asarray", (obj,))?;
        let array = array.cast::<PyUntypedArray>()?;
        return array_to_rgb(array, false, max_pixels).map(Input::Pixels);
    }
    Err(PyTypeError::new_err(format!(
        "expected bytes, a path (str or os.PathLike) or a numpy uint8 array, got {}",
        obj.get_type().name()?
    )))
}

/// Copies a `uint8` array into an RGB image: gray is replicated, alpha composited onto white
/// (as decoding does), BGR(A) swapped when asked. Any strides work (slices, transposes).
fn array_to_rgb(
    array: &Bound<'_, PyUntypedArray>,
    bgr: bool,
    max_pixels: u64,
) -> PyResult<RgbImage> {
    let py = array.py();
    let shape = array.shape().to_vec();
    let channels = match shape.as_slice() {
        [_, _] => 1,
        [_, _, c @ (1 | 3 | 4)] => *c,
        _ => {
            return Err(image_error(
                py,
                format!("expected an HxW or HxWx3 (or HxWx1, HxWx4) array, got shape {shape:?}"),
            ))
        }
    };
    let array = array.cast::<PyArrayDyn<u8>>().map_err(|_| {
        let dtype = array
            .dtype()
            .str()
            .map(|s| s.to_string())
            .unwrap_or_default();
        image_error(py, format!("expected a uint8 array, got dtype {dtype}"))
    })?;
    let (h, w) = (shape[0], shape[1]);
    if h == 0 || w == 0 {
        return Err(image_error(
            py,
            format!("the image has a zero side ({w}x{h})"),
        ));
    }
    let (w32, h32) = match (u32::try_from(w), u32::try_from(h)) {
        (Ok(w), Ok(h)) if (w as u64) * (h as u64) <= max_pixels => (w, h),
        _ => {
            return Err(image_error(
                py,
                format!(
                "the image is too large: {w}×{h} pixels is over the limit of {max_pixels} pixels"
            ),
            ))
        }
    };
    let readonly = array
        .try_readonly()
        .map_err(|e| PyValueError::new_err(format!("the array cannot be read: {e}")))?;
    let view = readonly.as_array();
    let mut out = RgbImage::new(w32, h32);
    // Row-major iteration over the view follows its logical order whatever the strides.
    let mut values = view.iter();
    for px in out.pixels_mut() {
        let mut v = [0u8; 4];
        for slot in v.iter_mut().take(channels) {
            *slot = *values.next().expect("the array holds h*w*channels values");
        }
        px.0 = match channels {
            1 => [v[0], v[0], v[0]],
            3 if bgr => [v[2], v[1], v[0]],
            3 => [v[0], v[1], v[2]],
            _ => {
                let rgb = if bgr {
                    [v[2], v[1], v[0]]
                } else {
                    [v[0], v[1], v[2]]
                };
                let (a, inv) = (u32::from(v[3]), 255 - u32::from(v[3]));
                // The same rounded blend onto white as wenzi's decoder.
                rgb.map(|c| ((u32::from(c) * a + 255 * inv + 127) / 255) as u8)
            }
        };
    }
    Ok(out)
}

/// Why a recognition failed before Python sees it.
enum Failure {
    Wenzi(wenzi::Error),
    Io(std::io::Error),
    Panic(String),
}

/// Runs the engine on an input with the GIL released; panics become `WenziError`, unreadable
/// paths `OSError` (`FileNotFoundError`, ...) as `open()` raises them.
fn run(py: Python<'_>, engine: &wenzi::Engine, input: Input) -> PyResult<wenzi::Page> {
    let result = py.detach(|| {
        let ran = catch_unwind(AssertUnwindSafe(|| match &input {
            Input::Bytes(b) => engine.recognize(b).map_err(Failure::Wenzi),
            Input::Path(p) => std::fs::read(p)
                .map_err(Failure::Io)
                .and_then(|b| engine.recognize(&b).map_err(Failure::Wenzi)),
            Input::Pixels(img) => engine.recognize_image(img).map_err(Failure::Wenzi),
        }));
        ran.unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(Failure::Panic(what))
        })
    });
    result.map_err(|f| match f {
        Failure::Wenzi(e) => to_py_err(py, e),
        Failure::Io(e) => {
            let path = match &input {
                Input::Path(p) => p.display().to_string(),
                _ => String::new(),
            };
            match e.raw_os_error() {
                // OSError(errno, strerror, filename) picks the subclass (FileNotFoundError...).
                Some(code) => {
                    let text = e.to_string();
                    let strerror = text.split(" (os error").next().unwrap_or(&text).to_string();
                    PyOSError::new_err((code, strerror, path))
                }
                None => PyOSError::new_err(format!("cannot read {path}: {e}")),
            }
        }
        Failure::Panic(what) => WenziError::new_err(format!(
            "internal error while recognizing (please report it): {what}"
        )),
    })
}

/// A line, word or character box: 4 `[x, y]` corners clockwise from the text's top-left.
type Quad = [[f32; 2]; 4];

/// One character of a word.
#[pyclass(frozen, module = "wenzi", name = "Char")]
struct PyChar {
    #[pyo3(get)]
    text: String,
    /// 4 `[x, y]` corners, clockwise from the character's top-left.
    #[pyo3(get, name = "box")]
    quad: Quad,
    #[pyo3(get)]
    confidence: f32,
}

#[pymethods]
impl PyChar {
    fn __repr__(&self) -> String {
        format!("Char({:?}, confidence={:.3})", self.text, self.confidence)
    }
}

/// One word of a line: a Latin word or number, or a single CJK character.
#[pyclass(frozen, module = "wenzi", name = "Word")]
struct PyWord {
    word: wenzi::Word,
}

#[pymethods]
impl PyWord {
    #[getter]
    fn text(&self) -> &str {
        &self.word.text
    }
    /// 4 `[x, y]` corners, clockwise from the word's top-left.
    #[getter]
    #[pyo3(name = "box")]
    fn quad(&self) -> Quad {
        self.word.quad
    }
    #[getter]
    fn confidence(&self) -> f32 {
        self.word.confidence
    }
    /// Axis-aligned `[x0, y0, x1, y1]`.
    #[getter]
    fn bounds(&self) -> [f32; 4] {
        self.word.bounds()
    }
    #[getter]
    fn chars(&self) -> Vec<PyChar> {
        self.word
            .chars
            .iter()
            .map(|c| PyChar {
                text: c.text.clone(),
                quad: c.quad,
                confidence: c.confidence,
            })
            .collect()
    }
    fn __repr__(&self) -> String {
        format!(
            "Word({:?}, confidence={:.3})",
            self.word.text, self.word.confidence
        )
    }
}

/// One recognized text line.
#[pyclass(frozen, module = "wenzi", name = "Line")]
struct PyLine {
    line: wenzi::Line,
}

#[pymethods]
impl PyLine {
    #[getter]
    fn text(&self) -> &str {
        &self.line.text
    }
    /// Mean per-character probability, in [0, 1].
    #[getter]
    fn confidence(&self) -> f32 {
        self.line.confidence
    }
    /// 4 `[x, y]` corners in image pixels, clockwise from the top-left of the text.
    #[getter]
    #[pyo3(name = "box")]
    fn quad(&self) -> Quad {
        self.line.quad
    }
    /// Axis-aligned `[x0, y0, x1, y1]`.
    #[getter]
    fn bounds(&self) -> [f32; 4] {
        self.line.bounds()
    }
    /// `upright`, `rotated90`, `rotated180`, `rotated270` or `vertical`.
    #[getter]
    fn orientation(&self) -> &'static str {
        self.line.orientation.as_str()
    }
    #[getter]
    fn words(&self) -> Vec<PyWord> {
        self.line
            .words
            .iter()
            .map(|w| PyWord { word: w.clone() })
            .collect()
    }
    fn __repr__(&self) -> String {
        format!(
            "Line({:?}, confidence={:.3})",
            self.line.text, self.line.confidence
        )
    }
}

/// A group of lines: a paragraph, a table (with rows) or vertical columns.
#[pyclass(frozen, module = "wenzi", name = "Block")]
struct PyBlock {
    block: wenzi::Block,
}

#[pymethods]
impl PyBlock {
    /// `paragraph`, `table` or `vertical`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.block.kind.as_str()
    }
    /// The indices of the block's lines in `Page.lines`, as a `range`.
    #[getter]
    fn lines<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyRange>> {
        py_range(py, &self.block.lines)
    }
    /// A table's rows, each a `range` of `Page.lines` read left to right; empty otherwise.
    #[getter]
    fn rows<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyRange>>> {
        self.block.rows.iter().map(|r| py_range(py, r)).collect()
    }
    /// Axis-aligned `[x0, y0, x1, y1]` of the block's lines.
    #[getter]
    fn bounds(&self) -> [f32; 4] {
        self.block.bounds
    }
    fn __repr__(&self) -> String {
        format!(
            "Block({:?}, lines=range({}, {}))",
            self.block.kind.as_str(),
            self.block.lines.start,
            self.block.lines.end
        )
    }
}

fn py_range<'py>(py: Python<'py>, r: &std::ops::Range<usize>) -> PyResult<Bound<'py, PyRange>> {
    PyRange::new(py, r.start as isize, r.end as isize)
}

/// The text of one image: lines in reading order, their blocks, the page's rotation.
#[pyclass(frozen, module = "wenzi", name = "Page")]
struct PyPage {
    page: wenzi::Page,
    /// Built once, so `page.lines[i]` is the same object on every access.
    lines: Py<PyList>,
}

impl PyPage {
    fn new(py: Python<'_>, page: wenzi::Page) -> PyResult<Self> {
        let lines = page
            .lines
            .iter()
            .map(|l| Py::new(py, PyLine { line: l.clone() }))
            .collect::<PyResult<Vec<_>>>()?;
        Ok(PyPage {
            lines: PyList::new(py, lines)?.unbind(),
            page,
        })
    }
}

#[pymethods]
impl PyPage {
    #[getter]
    fn width(&self) -> u32 {
        self.page.width
    }
    #[getter]
    fn height(&self) -> u32 {
        self.page.height
    }
    /// How far the page's content is turned clockwise in the image: 0, 90, 180 or 270.
    #[getter]
    fn rotation(&self) -> u16 {
        self.page.rotation
    }
    /// Every recognized line, in reading order.
    #[getter]
    fn lines(&self, py: Python<'_>) -> Py<PyList> {
        self.lines.clone_ref(py)
    }
    #[getter]
    fn blocks(&self) -> Vec<PyBlock> {
        self.page
            .blocks
            .iter()
            .map(|b| PyBlock { block: b.clone() })
            .collect()
    }
    /// Milliseconds per stage: decode, detect, classify, recognize, total.
    #[getter]
    fn timings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (stage, ms) in self.page.timings.stages_ms() {
            d.set_item(stage, ms)?;
        }
        Ok(d)
    }
    /// The lines' texts, in reading order.
    fn texts(&self) -> Vec<String> {
        self.page.texts()
    }
    /// The page as JSON: the shape of the CLI's `--format json` page and the server's
    /// `detail=1` (quads as `box`, ranges as `[start, end]`, timings in ms).
    #[pyo3(signature = (indent = None))]
    fn to_json(&self, indent: Option<usize>) -> PyResult<String> {
        let json = match indent {
            None => serde_json::to_string(&self.page),
            Some(n) => {
                let pad = vec![b' '; n];
                let mut out = Vec::new();
                let fmt = serde_json::ser::PrettyFormatter::with_indent(&pad);
                let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
                serde::Serialize::serialize(&self.page, &mut ser)
                    .map(|_| String::from_utf8(out).expect("serde_json writes UTF-8"))
            }
        };
        json.map_err(|e| WenziError::new_err(format!("cannot write JSON: {e}")))
    }
    /// The page as plain dicts and lists, the same data as `to_json`.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?
            .call_method1("loads", (self.to_json(None)?,))
    }
    fn __len__(&self) -> usize {
        self.page.lines.len()
    }
    fn __repr__(&self) -> String {
        format!(
            "Page({}x{}, {} lines, rotation={})",
            self.page.width,
            self.page.height,
            self.page.lines.len(),
            self.page.rotation
        )
    }
}

/// `[(box, text, score), ...]`, RapidOCR's row shape (boxes as lists of 4 `[x, y]`).
fn rapid_rows<'py>(py: Python<'py>, page: &wenzi::Page) -> PyResult<Bound<'py, PyList>> {
    let rows = page
        .lines
        .iter()
        .map(|l| (l.quad, l.text.as_str(), l.confidence).into_pyobject(py))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, rows)
}

/// A loaded OCR engine. Build one and share it: it is safe to call from many Python threads
/// at once, and each call releases the GIL while it recognizes.
///
/// Arguments mirror `wenzi::EngineBuilder`, with its defaults: `models` "v4" or "v6";
/// `detector` "auto" (single-line shortcut, else the DB network), "db" or "classic" (no
/// network, clean pages); `threads` for inference (None: all cores, shared pool);
/// `classify_orientation` turns upside-down lines; `min_confidence` drops lines read with a
/// lower mean probability; `reread` ("v4"/"v6") reads lines below `reread_below` again with
/// that model set; `model_dir` loads models from a folder instead of the bundled copies;
/// `max_pixels`, `max_lines` and `max_detector_pixels` bound the work per image.
#[pyclass(frozen, module = "wenzi", name = "Engine")]
struct PyEngine {
    engine: Arc<wenzi::Engine>,
    repr: String,
}

#[pymethods]
impl PyEngine {
    #[new]
    #[pyo3(signature = (
        models = "v4",
        detector = "auto",
        threads = None,
        *,
        classify_orientation = true,
        min_confidence = 0.5,
        reread = None,
        reread_below = 0.9,
        model_dir = None,
        max_pixels = None,
        max_lines = None,
        max_detector_pixels = None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        models: &str,
        detector: &str,
        threads: Option<usize>,
        classify_orientation: bool,
        min_confidence: f32,
        reread: Option<&str>,
        reread_below: f32,
        model_dir: Option<PathBuf>,
        max_pixels: Option<u64>,
        max_lines: Option<usize>,
        max_detector_pixels: Option<u64>,
    ) -> PyResult<Self> {
        let config = |e: wenzi::Error| to_py_err(py, e);
        let set: wenzi::ModelSet = models.parse().map_err(config)?;
        let kind: wenzi::DetectorKind = detector.parse().map_err(config)?;
        let defaults = wenzi::Limits::default();
        let limits = wenzi::Limits {
            max_pixels: max_pixels.unwrap_or(defaults.max_pixels),
            max_lines: max_lines.unwrap_or(defaults.max_lines),
        };
        let mut builder = wenzi::Engine::builder()
            .models(set)
            .detector(kind)
            .threads(threads)
            .classify_orientation(classify_orientation)
            .min_confidence(min_confidence)
            .limits(limits);
        if let Some(r) = reread {
            builder = builder.reread(Some((r.parse().map_err(config)?, reread_below)));
        }
        if let Some(dir) = model_dir {
            builder = builder.model_dir(dir);
        }
        if let Some(px) = max_detector_pixels {
            builder = builder.max_detector_pixels(px);
        }
        let engine = py
            .detach(|| builder.build())
            .map_err(|e| to_py_err(py, e))?;
        let threads = threads.map_or("None".to_string(), |n| n.to_string());
        Ok(PyEngine {
            engine: Arc::new(engine),
            repr: format!(
                "Engine(models='{}', detector='{}', threads={threads})",
                models.to_ascii_lowercase(),
                detector.to_ascii_lowercase()
            ),
        })
    }

    /// Recognizes one image: `bytes` (any format wenzi reads), a path, or a numpy `uint8`
    /// array `HxW`/`HxWx3` (RGB; `bgr=True` for OpenCV's order). Returns a `Page`.
    #[pyo3(signature = (image, *, bgr = false))]
    fn recognize(&self, py: Python<'_>, image: &Bound<'_, PyAny>, bgr: bool) -> PyResult<PyPage> {
        let input = read_input(image, bgr, self.engine.limits().max_pixels)?;
        let page = run(py, &self.engine, input)?;
        PyPage::new(py, page)
    }

    /// RapidOCR's row shape: `[(box, text, score), ...]`, box a list of 4 `[x, y]`; `[]`
    /// when no text is found. (RapidOCR itself returns `(rows or None, elapse)`; for that
    /// exact shape use `wenzi.RapidOCR`.)
    #[pyo3(signature = (image, *, bgr = false))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        image: &Bound<'py, PyAny>,
        bgr: bool,
    ) -> PyResult<Bound<'py, PyList>> {
        let input = read_input(image, bgr, self.engine.limits().max_pixels)?;
        let page = run(py, &self.engine, input)?;
        rapid_rows(py, &page)
    }

    fn __repr__(&self) -> &str {
        &self.repr
    }
}

/// A drop-in for `rapidocr_onnxruntime.RapidOCR`: `result, elapse = engine(img)` with
/// `result` = `[[box, text, score], ...]` (or `None` when nothing is found) and `elapse` =
/// `[det, cls, rec]` seconds. Like RapidOCR, a 3- or 4-channel numpy array is taken as
/// OpenCV's BGR(A); bytes, paths and PIL images are read as they are. Keyword arguments are
/// `wenzi.Engine`'s, or an existing `engine=`.
#[pyclass(frozen, module = "wenzi", name = "RapidOCR")]
struct PyRapidOcr {
    engine: Py<PyEngine>,
}

#[pymethods]
impl PyRapidOcr {
    #[new]
    #[pyo3(signature = (engine = None, **kwargs))]
    fn new(
        py: Python<'_>,
        engine: Option<Py<PyEngine>>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let engine = match (engine, kwargs) {
            (Some(_), Some(k)) if !k.is_empty() => {
                return Err(PyTypeError::new_err(
                    "pass either engine= or Engine keyword arguments, not both",
                ))
            }
            (Some(e), _) => e,
            (None, kwargs) => {
                let e = py.get_type::<PyEngine>().call((), kwargs)?;
                e.cast_into::<PyEngine>()?.unbind()
            }
        };
        Ok(PyRapidOcr { engine })
    }

    /// `use_det`, `use_cls` and `use_rec` are accepted for RapidOCR compatibility only when
    /// left at None/True: wenzi always detects, classifies (per `classify_orientation`) and
    /// recognizes.
    #[pyo3(signature = (img_content, use_det = None, use_cls = None, use_rec = None))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        img_content: &Bound<'py, PyAny>,
        use_det: Option<bool>,
        use_cls: Option<bool>,
        use_rec: Option<bool>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        if [use_det, use_cls, use_rec].contains(&Some(false)) {
            return Err(PyValueError::new_err(
                "wenzi always detects and recognizes: use_det/use_cls/use_rec=False are not \
                 supported (build Engine(classify_orientation=False) to skip the classifier)",
            ));
        }
        let engine = self.engine.get();
        let input = read_input(img_content, true, engine.engine.limits().max_pixels)?;
        let page = run(py, &engine.engine, input)?;
        if page.lines.is_empty() {
            return Ok((py.None().into_bound(py), py.None().into_bound(py)));
        }
        let rows = page
            .lines
            .iter()
            .map(|l| {
                PyList::new(
                    py,
                    [
                        l.quad.into_pyobject(py)?.into_any(),
                        l.text.as_str().into_pyobject(py)?.into_any(),
                        l.confidence.into_pyobject(py)?.into_any(),
                    ],
                )
            })
            .collect::<PyResult<Vec<_>>>()?;
        let t = &page.timings;
        let elapse = [
            t.detect.as_secs_f64(),
            t.classify.as_secs_f64(),
            t.recognize.as_secs_f64(),
        ];
        Ok((
            PyList::new(py, rows)?.into_any(),
            elapse.into_pyobject(py)?.into_any(),
        ))
    }

    /// The `wenzi.Engine` behind this object.
    #[getter]
    fn engine(&self, py: Python<'_>) -> Py<PyEngine> {
        self.engine.clone_ref(py)
    }
}

/// The engine behind `wenzi.recognize`, built on first use (wenzi's defaults).
fn default_engine(py: Python<'_>) -> PyResult<Arc<wenzi::Engine>> {
    static ENGINE: OnceLock<Result<Arc<wenzi::Engine>, String>> = OnceLock::new();
    // Built with the GIL released (it takes a moment); OnceLock makes racing threads wait.
    py.detach(|| {
        ENGINE.get_or_init(|| {
            wenzi::Engine::builder()
                .build()
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
    })
    .clone()
    .map_err(|e| WenziError::new_err(format!("the default engine could not be built: {e}")))
}

/// Text lines of one image, in reading order, with the default engine (PP-OCRv4, created once
/// and cached). `image`: bytes, a path, or a numpy uint8 array (RGB).
#[pyfunction]
fn recognize(py: Python<'_>, image: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    let engine = default_engine(py)?;
    let input = read_input(image, false, engine.limits().max_pixels)?;
    Ok(run(py, &engine, input)?.texts())
}

/// wenzi: Chinese + English OCR (PP-OCR models on wenzi's own Rust inference engine).
///
/// `wenzi.recognize(data)` gives the text lines; `wenzi.Engine(...)` gives pages with boxes,
/// confidences and words, and is safe to share across threads (the GIL is released while
/// recognizing); `wenzi.RapidOCR` answers in rapidocr_onnxruntime's shape.
#[pymodule]
#[pyo3(name = "wenzi")]
fn wenzi_module(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(recognize, m)?)?;
    m.add_class::<PyEngine>()?;
    m.add_class::<PyRapidOcr>()?;
    m.add_class::<PyPage>()?;
    m.add_class::<PyLine>()?;
    m.add_class::<PyWord>()?;
    m.add_class::<PyChar>()?;
    m.add_class::<PyBlock>()?;
    m.add("WenziError", py.get_type::<WenziError>())?;
    m.add("ImageError", image_error_type(py)?)?;
    Ok(())
}
