//! Shared helpers for the fixture tests: a minimal .npy reader and the manifest parser
//! for `fixtures/nn/manifest.txt` (written by `tools/make_nn_fixtures.py`).

#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn fixtures_dir() -> PathBuf {
    repo_root().join("fixtures/nn")
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalize.
            let mut e = 127 - 15 + 1;
            let mut m = m;
            while m & 0x400 == 0 {
                m <<= 1;
                e -= 1;
            }
            sign | ((e as u32) << 23) | ((m & 0x3ff) << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// Reads a little-endian float16/float32 C-order .npy file.
pub fn read_npy(path: &Path) -> ArrayD<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &bytes[..6],
        b"\x93NUMPY",
        "{}: not an .npy file",
        path.display()
    );
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).unwrap();
    assert!(header.contains("'fortran_order': False"), "{header}");
    let shape_str = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_str
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let body = &bytes[start + hlen..];
    let data: Vec<f32> = if header.contains("'<f4'") {
        body.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else if header.contains("'<f2'") {
        body.chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect()
    } else {
        panic!("{}: unsupported dtype in {header}", path.display())
    };
    ArrayD::from_shape_vec(IxDyn(&shape), data).unwrap()
}

#[derive(Clone, Copy, Debug)]
pub enum Tol {
    Abs(f32),
    /// |d| <= e * (1 + |ref|)
    Rel(f32),
}

#[derive(Debug)]
pub struct Expected {
    pub file: PathBuf,
    pub stride: usize,
    pub shape: Vec<usize>,
}

#[derive(Debug)]
pub struct Case {
    pub name: String,
    pub model: PathBuf,
    pub tol: Tol,
    pub inputs: Vec<(String, PathBuf)>,
    pub outputs: Vec<Expected>,
}

pub fn cases() -> Vec<Case> {
    let dir = fixtures_dir();
    let text = std::fs::read_to_string(dir.join("manifest.txt")).expect("fixtures/nn/manifest.txt");
    let mut cases: Vec<Case> = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w[0] {
            "case" => {
                let (kind, e) = w[3].split_once(':').unwrap();
                let e: f32 = e.parse().unwrap();
                let tol = if kind == "abs" {
                    Tol::Abs(e)
                } else {
                    Tol::Rel(e)
                };
                cases.push(Case {
                    name: w[1].into(),
                    model: repo_root().join(w[2]),
                    tol,
                    inputs: vec![],
                    outputs: vec![],
                });
            }
            "input" => cases
                .last_mut()
                .unwrap()
                .inputs
                .push((w[1].into(), dir.join(w[2]))),
            "output" => {
                let shape = if w[3] == "scalar" {
                    vec![]
                } else {
                    w[3].split(',').map(|s| s.parse().unwrap()).collect()
                };
                cases.last_mut().unwrap().outputs.push(Expected {
                    file: dir.join(w[1]),
                    stride: w[2].parse().unwrap(),
                    shape,
                });
            }
            other => panic!("bad manifest directive {other}"),
        }
    }
    cases
}

/// Runs a case on `model` and returns the worst error (as a fraction of the tolerance)
/// with a description; panics with details when the tolerance is exceeded.
pub fn check_case(model: &wenzi_nn::Model, case: &Case) -> f32 {
    let inputs: Vec<(String, ArrayD<f32>)> = case
        .inputs
        .iter()
        .map(|(n, p)| (n.clone(), read_npy(p)))
        .collect();
    let feeds: Vec<(&str, ndarray::ArrayViewD<'_, f32>)> =
        inputs.iter().map(|(n, a)| (n.as_str(), a.view())).collect();
    let outs = model
        .run(&feeds)
        .unwrap_or_else(|e| panic!("{}: run failed: {e}", case.name));
    assert_eq!(
        outs.len(),
        case.outputs.len(),
        "{}: output count",
        case.name
    );
    let mut worst = 0f32;
    for (i, (got, exp)) in outs.iter().zip(&case.outputs).enumerate() {
        assert_eq!(
            got.shape(),
            exp.shape.as_slice(),
            "{}: output {i} shape",
            case.name
        );
        let want = read_npy(&exp.file);
        let got_flat: Vec<f32> = got.iter().copied().step_by(exp.stride).collect();
        assert_eq!(
            got_flat.len(),
            want.len(),
            "{}: output {i} stored length",
            case.name
        );
        let mut max_abs = 0f32;
        for (j, (&g, &w)) in got_flat.iter().zip(want.iter()).enumerate() {
            let d = (g - w).abs();
            let (limit, scale) = match case.tol {
                Tol::Abs(e) => (e, e),
                Tol::Rel(e) => (e * (1.0 + w.abs()), e),
            };
            assert!(
                d <= limit && g.is_finite() == w.is_finite(),
                "{}: output {i} element {} (stride {}): wenzi {g} vs onnxruntime {w} (|d| = {d}, limit {limit})",
                case.name,
                j * exp.stride,
                exp.stride
            );
            max_abs = max_abs.max(d);
            worst = worst.max(d / scale);
        }
        let _ = max_abs;
    }
    worst
}

pub fn load(case: &Case, optimize: bool) -> wenzi_nn::Model {
    let bytes =
        std::fs::read(&case.model).unwrap_or_else(|e| panic!("{}: {e}", case.model.display()));
    wenzi_nn::Model::load_with(&bytes, wenzi_nn::LoadOptions { optimize })
        .unwrap_or_else(|e| panic!("{}: load failed: {e}", case.name))
}
