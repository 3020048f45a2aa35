//! MatMul with numpy semantics (batched, broadcast, 1-D promotion), on the GEMM kernel.

use super::elementwise::{apply_chain, Chain};
use crate::exec::BufPool;
use crate::packed::{matmul, PackedB};
use crate::tensor::{checked_numel, data, f32_array, Tensor};
use ndarray::ArrayD;
use rayon::prelude::*;

#[derive(Clone, Debug, Default)]
pub(crate) struct MatMul {
    /// Fused per-column bias (from a following `Add`), length N.
    pub bias: Option<Vec<f32>>,
    pub post: Chain,
    /// The constant right-hand side packed at load time (2-D weights only).
    pub packed_b: Option<std::sync::Arc<PackedB>>,
}

impl MatMul {
    /// `b` is `None` when the right-hand side was packed at load (`packed_b`).
    pub fn run(
        &self,
        a: &ArrayD<f32>,
        b: Option<&ArrayD<f32>>,
        alloc: &mut BufPool,
    ) -> Result<Tensor, String> {
        let packed_shape;
        let bsh: &[usize] = match (b, &self.packed_b) {
            (Some(b), _) => b.shape(),
            (None, Some(pb)) => {
                packed_shape = [pb.k, pb.n];
                &packed_shape
            }
            (None, None) => return Err("missing required input #1".into()),
        };
        let ash = a.shape();
        if ash.is_empty() || bsh.is_empty() {
            return Err("MatMul inputs must have rank ≥ 1".into());
        }
        // 1-D promotion.
        let a2: Vec<usize> = if ash.len() == 1 {
            vec![1, ash[0]]
        } else {
            ash.to_vec()
        };
        let b2: Vec<usize> = if bsh.len() == 1 {
            vec![bsh[0], 1]
        } else {
            bsh.to_vec()
        };
        let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
        let (kb, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
        if k != kb {
            return Err(format!(
                "cannot multiply shapes {ash:?} and {bsh:?} (inner dimensions {k} ≠ {kb})"
            ));
        }
        let abatch = &a2[..a2.len() - 2];
        let bbatch = &b2[..b2.len() - 2];
        let batch = super::elementwise::broadcast_shape(abatch, bbatch)?;
        let nb: usize = batch.iter().product();
        let mut out_shape = batch.clone();
        if ash.len() > 1 {
            out_shape.push(m);
        }
        if bsh.len() > 1 {
            out_shape.push(n);
        }
        if let Some(bias) = &self.bias {
            if bias.len() != n {
                return Err(format!(
                    "fused bias has {} elements, expected {n}",
                    bias.len()
                ));
            }
        }
        let total = checked_numel(&[nb, m, n])?;
        let mut out = alloc.take(total);
        if total == 0 {
            return Ok(Tensor::F32(f32_array(&out_shape, out)));
        }
        let (ad, bd) = (data(a), b.map(data).unwrap_or(&[]));
        let bn: usize = bbatch.iter().product();
        let an: usize = abatch.iter().product();
        // One GEMM over all batched rows of A against a shared right-hand side: it applies
        // the epilogue per tile itself; every other case gets it in a pass afterwards.
        let one_gemm = bn == 1 && an == nb;
        let has_epilogue = self.bias.is_some() || !self.post.is_empty();
        // Bias and activation of the columns `j0..` of one output row.
        let epilogue = |j0: usize, seg: &mut [f32]| {
            if let Some(bias) = &self.bias {
                seg.iter_mut().zip(&bias[j0..]).for_each(|(v, b)| *v += b);
            }
            apply_chain(&self.post, seg);
        };
        if one_gemm {
            matmul(
                nb * m,
                n,
                k,
                ad,
                k,
                bd,
                n,
                self.packed_b.as_deref(),
                &mut out,
                n,
                true,
                has_epilogue.then_some(&epilogue),
            );
        } else if bn == 1 {
            // A broadcast over batch: compute once, replicate.
            matmul(
                m,
                n,
                k,
                ad,
                k,
                bd,
                n,
                self.packed_b.as_deref(),
                &mut out[..m * n],
                n,
                true,
                None,
            );
            let (first, rest) = out.split_at_mut(m * n);
            rest.chunks_mut(m * n)
                .for_each(|c| c.copy_from_slice(first));
        } else {
            // Per-batch offsets with broadcasting.
            let r = batch.len();
            let pad = |s: &[usize]| -> Vec<usize> {
                let mut v = vec![1; r - s.len()];
                v.extend_from_slice(s);
                v
            };
            let (pa, pb) = (pad(abatch), pad(bbatch));
            let offsets = |i: usize| {
                let (mut rem, mut oa, mut ob, mut sa, mut sb) = (i, 0, 0, m * k, k * n);
                for d in (0..r).rev() {
                    let idx = rem % batch[d];
                    rem /= batch[d];
                    if pa[d] != 1 {
                        oa += idx * sa;
                    }
                    if pb[d] != 1 {
                        ob += idx * sb;
                    }
                    sa *= pa[d];
                    sb *= pb[d];
                }
                (oa, ob)
            };
            let one = |i: usize, dst: &mut [f32]| {
                let (oa, ob) = offsets(i);
                matmul(
                    m,
                    n,
                    k,
                    &ad[oa..],
                    k,
                    &bd[ob..],
                    n,
                    None,
                    dst,
                    n,
                    false,
                    None,
                );
            };
            if rayon::current_num_threads() > 1 && nb > 1 && m * n * k * nb > 1 << 16 {
                out.par_chunks_mut(m * n)
                    .enumerate()
                    .for_each(|(i, d)| one(i, d));
            } else {
                out.chunks_mut(m * n)
                    .enumerate()
                    .for_each(|(i, d)| one(i, d));
            }
        }
        if has_epilogue && !one_gemm {
            let f = |row: &mut [f32]| epilogue(0, row);
            if rayon::current_num_threads() > 1 && out.len() > 1 << 15 {
                out.par_chunks_mut(n.max(1)).for_each(f);
            } else {
                out.chunks_mut(n.max(1)).for_each(f);
            }
        }
        Ok(Tensor::F32(f32_array(&out_shape, out)))
    }
}
