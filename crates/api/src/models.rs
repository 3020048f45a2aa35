//! Where the network weights come from: embedded in the binary, or files on disk.

use std::path::{Path, PathBuf};

use crate::Error;

/// Which PP-OCR generation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ModelSet {
    /// PP-OCRv4 mobile det + rec (6,623 symbols). Fast; the default.
    #[default]
    V4,
    /// PP-OCRv6 small det + rec (18,708 symbols). Larger and slower.
    V6,
}

impl ModelSet {
    /// File names of (det, rec) in `models/`.
    pub fn file_names(self) -> (&'static str, &'static str) {
        match self {
            ModelSet::V4 => ("ch_PP-OCRv4_det_infer.onnx", "ch_PP-OCRv4_rec_infer.onnx"),
            ModelSet::V6 => ("PP-OCRv6_det_small.onnx", "PP-OCRv6_rec_small.onnx"),
        }
    }
}

impl std::str::FromStr for ModelSet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "v4" | "ppocrv4" | "pp-ocrv4" => Ok(ModelSet::V4),
            "v6" | "ppocrv6" | "pp-ocrv6" => Ok(ModelSet::V6),
            other => Err(Error::Config(format!(
                "unknown model set `{other}` (use v4 or v6)"
            ))),
        }
    }
}

/// File name of the orientation classifier.
pub const CLS_FILE: &str = "ch_ppocr_mobile_v2.0_cls_infer.onnx";

/// Where [`crate::EngineBuilder`] reads models from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// The copies compiled into the library (cargo feature `bundled-models`, with the model
    /// files present at build time: in the repository's `models/` or `WENZI_MODELS_DIR`).
    Bundled,
    /// A folder holding the files named as in the repository's `models/`.
    Dir(PathBuf),
}

impl Default for ModelSource {
    fn default() -> Self {
        if cfg!(wenzi_bundled_v4) || cfg!(wenzi_bundled_v6) {
            ModelSource::Bundled
        } else {
            ModelSource::Dir(PathBuf::from("models"))
        }
    }
}

/// The bytes of one model file, borrowed when bundled.
pub(crate) fn model_bytes(
    source: &ModelSource,
    file: &str,
) -> Result<std::borrow::Cow<'static, [u8]>, Error> {
    match source {
        ModelSource::Bundled => bundled(file)
            .map(std::borrow::Cow::Borrowed)
            .ok_or_else(|| {
                Error::Config(format!(
                    "model `{file}` is not bundled in this build: enable the cargo feature that \
                 bundles it with the files present at build time (WENZI_MODELS_DIR), or load \
                 models from a folder (EngineBuilder::model_dir)"
                ))
            }),
        ModelSource::Dir(dir) => read(&dir.join(file)).map(std::borrow::Cow::Owned),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::ModelFile {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(any(wenzi_bundled_v4, wenzi_bundled_v6))]
macro_rules! model_file {
    ($name:literal) => {
        include_bytes!(concat!(env!("WENZI_BUNDLED_MODELS_DIR"), "/", $name)).as_slice()
    };
}

fn bundled(file: &str) -> Option<&'static [u8]> {
    match file {
        #[cfg(wenzi_bundled_v4)]
        "ch_PP-OCRv4_det_infer.onnx" => Some(model_file!("ch_PP-OCRv4_det_infer.onnx")),
        #[cfg(wenzi_bundled_v4)]
        "ch_PP-OCRv4_rec_infer.onnx" => Some(model_file!("ch_PP-OCRv4_rec_infer.onnx")),
        #[cfg(any(wenzi_bundled_v4, wenzi_bundled_v6))]
        "ch_ppocr_mobile_v2.0_cls_infer.onnx" => {
            Some(model_file!("ch_ppocr_mobile_v2.0_cls_infer.onnx"))
        }
        #[cfg(wenzi_bundled_v6)]
        "PP-OCRv6_det_small.onnx" => Some(model_file!("PP-OCRv6_det_small.onnx")),
        #[cfg(wenzi_bundled_v6)]
        "PP-OCRv6_rec_small.onnx" => Some(model_file!("PP-OCRv6_rec_small.onnx")),
        _ => None,
    }
}
