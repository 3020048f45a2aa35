//! The vendored model files are exactly the ones `models/README.md` documents.

use sha2::{Digest, Sha256};
use std::path::Path;

#[test]
fn vendored_models_match_documented_sha256() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let mut checked = 0;
    for line in readme
        .lines()
        .filter(|l| l.starts_with("| `") && l.contains(".onnx`"))
    {
        let cells: Vec<&str> = line
            .split('|')
            .map(|c| c.trim().trim_matches('`'))
            .collect();
        let (file, expected) = (cells[1], cells[4]);
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let actual = format!("{:x}", Sha256::digest(&bytes));
        assert_eq!(actual, expected, "sha256 of models/{file}");
        checked += 1;
    }
    assert_eq!(checked, 5, "models/README.md should list the five models");
}
