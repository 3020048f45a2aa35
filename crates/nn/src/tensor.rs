//! The engine's internal tensor value and the size limits that guard allocation.

use ndarray::{ArrayD, IxDyn};

/// Largest element count of any tensor the engine will create (1 GiB of f32).
/// Guards against hostile headers and absurd shape arithmetic.
pub(crate) const MAX_ELEMENTS: usize = 1 << 28;

/// A value flowing through the graph. Integer ONNX types (int32/int64/bool/uint8) all
/// live in the `I64` variant: they only ever carry shapes and indices here, so one
/// integer representation keeps every shape op simple.
#[derive(Clone, Debug)]
pub(crate) enum Tensor {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
}

impl Tensor {
    pub fn shape(&self) -> &[usize] {
        match self {
            Tensor::F32(a) => a.shape(),
            Tensor::I64(a) => a.shape(),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Tensor::F32(a) => a.len(),
            Tensor::I64(a) => a.len(),
        }
    }

    pub fn as_f32(&self) -> Result<&ArrayD<f32>, String> {
        match self {
            Tensor::F32(a) => Ok(a),
            Tensor::I64(_) => Err("expected a float tensor, got an integer tensor".into()),
        }
    }

    pub fn into_f32(self) -> Result<ArrayD<f32>, String> {
        match self {
            Tensor::F32(a) => Ok(a),
            Tensor::I64(_) => Err("expected a float tensor, got an integer tensor".into()),
        }
    }

    /// Integer contents as a flat vector (for shape-like inputs). Floats are truncated,
    /// which is what exporters that keep shapes in float tensors rely on.
    pub fn to_i64_vec(&self) -> Vec<i64> {
        match self {
            Tensor::I64(a) => a.iter().copied().collect(),
            Tensor::F32(a) => a.iter().map(|&v| v as i64).collect(),
        }
    }

    /// A single scalar as f32 (a tensor of exactly one element, any rank).
    pub fn scalar_f32(&self) -> Option<f32> {
        if self.len() != 1 {
            return None;
        }
        match self {
            Tensor::F32(a) => a.iter().next().copied(),
            Tensor::I64(a) => a.iter().next().map(|&v| v as f32),
        }
    }
}

/// Checked product of dimensions, capped at [`MAX_ELEMENTS`].
///
/// The cap also applies to the product of the *nonzero* dimensions: a zero-size tensor such
/// as `[0, 2^40, 2^40]` holds nothing, but ndarray (rightly) refuses shapes whose nonzero
/// dimensions overflow, and no real model has a dimension that large.
pub(crate) fn checked_numel(shape: &[usize]) -> Result<usize, String> {
    let mut nonzero: usize = 1;
    for &d in shape {
        nonzero = nonzero
            .checked_mul(d.max(1))
            .filter(|&n| n <= MAX_ELEMENTS)
            .ok_or_else(|| format!("shape {shape:?} has more than {MAX_ELEMENTS} elements"))?;
    }
    Ok(if shape.contains(&0) { 0 } else { nonzero })
}

/// Builds a standard-layout f32 array; `data.len()` must equal the shape's product.
pub(crate) fn f32_array(shape: &[usize], data: Vec<f32>) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), data).expect("shape/data length mismatch (bug)")
}

pub(crate) fn i64_array(shape: &[usize], data: Vec<i64>) -> ArrayD<i64> {
    ArrayD::from_shape_vec(IxDyn(shape), data).expect("shape/data length mismatch (bug)")
}

/// Contiguous data of a standard-layout array (all arrays the engine builds are).
pub(crate) fn data<T>(a: &ArrayD<T>) -> &[T] {
    a.as_slice()
        .expect("engine tensors are always contiguous (bug)")
}

pub(crate) fn data_mut<T>(a: &mut ArrayD<T>) -> &mut [T] {
    a.as_slice_mut()
        .expect("engine tensors are always contiguous (bug)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_numel_counts_and_caps() {
        assert_eq!(checked_numel(&[]), Ok(1));
        assert_eq!(checked_numel(&[2, 3, 4]), Ok(24));
        assert_eq!(checked_numel(&[2, 0, 4]), Ok(0));
        assert!(checked_numel(&[MAX_ELEMENTS, 2]).is_err());
        assert!(checked_numel(&[usize::MAX, usize::MAX]).is_err());
        // zero-size, but the nonzero dimensions overflow: refused (ndarray would panic)
        assert!(checked_numel(&[0, 1 << 40, 1 << 40]).is_err());
        assert!(checked_numel(&[0, MAX_ELEMENTS + 1]).is_err());
    }
}
