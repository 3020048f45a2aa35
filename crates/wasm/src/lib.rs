//! wenzi in the browser. Built for `wasm32-unknown-unknown` by `build.sh`, this crate exports
//! `recognize(bytes)` (and `warm()`) through wasm-bindgen; `www/index.html` uses them. On other
//! targets it is a plain library holding the same logic, so the workspace builds and tests it.
//!
//! The engine uses the bundled PP-OCRv4 models and runs on one thread (no thread pool is built).

use std::sync::OnceLock;

/// The engine, built on first use and kept for every later image.
fn engine() -> Result<&'static wenzi::Engine, String> {
    static ENGINE: OnceLock<Result<wenzi::Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| wenzi::Engine::builder().build().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// Builds the engine now (loading the bundled models) so the first image is timed alone.
pub fn warm_up() -> Result<(), String> {
    engine().map(|_| ())
}

/// Recognizes one encoded image (PNG, JPEG, ...) and returns the page as JSON (the shape
/// documented on `wenzi::Page`).
pub fn recognize_json(bytes: &[u8]) -> Result<String, String> {
    let page = engine()?.recognize(bytes).map_err(|e| e.to_string())?;
    serde_json::to_string(&page).map_err(|e| e.to_string())
}

#[cfg(target_arch = "wasm32")]
mod bindings {
    use wasm_bindgen::prelude::*;

    /// Builds the engine (loads the models); optional, `recognize` does it on first use.
    #[wasm_bindgen]
    pub fn warm() -> Result<(), JsError> {
        super::warm_up().map_err(|e| JsError::new(&e))
    }

    /// Recognizes an encoded image; returns the page as a JSON string.
    #[wasm_bindgen]
    pub fn recognize(bytes: &[u8]) -> Result<String, JsError> {
        super::recognize_json(bytes).map_err(|e| JsError::new(&e))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_a_fixture_as_json() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/images/page_008.png"
        );
        let json = super::recognize_json(&std::fs::read(path).unwrap()).unwrap();
        let page: serde_json::Value = serde_json::from_str(&json).unwrap();
        let texts: Vec<&str> = page["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["text"].as_str().unwrap())
            .collect();
        assert!(texts.contains(&"kill [-9] number"), "{texts:?}");
    }
}
