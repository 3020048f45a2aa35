//! `wenzi-nn`: a small, pure-Rust ONNX inference engine for the PaddleOCR (PP-OCR)
//! detection, recognition and classification models.
//!
//! ```no_run
//! # fn main() -> Result<(), wenzi_nn::Error> {
//! let model = wenzi_nn::Model::load(&std::fs::read("models/ch_PP-OCRv4_rec_infer.onnx").unwrap())?;
//! let x = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[1, 3, 48, 320]));
//! let outputs = model.run(&[("x", x.view())])?;
//! println!("{:?}", outputs[0].shape());
//! # Ok(()) }
//! ```
//!
//! # Threads
//! [`Model::run`] parallelizes with rayon on the *current* rayon pool. Callers pick the
//! thread count by running inside their own pool:
//!
//! ```no_run
//! # let model: wenzi_nn::Model = unimplemented!();
//! # let x = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[1, 3, 48, 320]));
//! let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
//! let out = pool.install(|| model.run(&[("x", x.view())]));
//! ```
//!
//! Results do not depend on the thread count: work is split so that every output
//! element is computed by the same sequence of floating-point operations.
//!
//! # Memory
//! Intermediates are freed right after their last consumer. Freed buffers are recycled,
//! and each `Model` keeps them between runs (one pool per concurrently running call, at
//! most 512 MiB each, largest buffers dropped first) so steady-state inference barely
//! allocates. A model therefore holds on to roughly its peak working set for the largest
//! input it has seen. [`set_buffer_pool_limits`] bounds the free buffers held during a
//! run and between runs (a server that must bound its memory lowers both). On Linux, new
//! buffers of 4 MiB or more ask for transparent huge pages (fewer TLB misses on the
//! detectors' large maps); `WENZI_NN_HUGE_PAGES=0` turns that off.
//!
//! # Non-finite inputs
//! Inputs containing NaN or ±infinity are rejected with [`Error::NonFiniteInput`]
//! rather than silently producing meaningless outputs.
//!
//! # Scope
//! The engine implements the ONNX operators (and attribute variants) the PP-OCR models
//! use; anything else fails at load time with [`Error::UnsupportedOp`].

#![warn(missing_docs)]

mod affinity;
mod awake;
mod error;
mod exec;
#[cfg(test)]
mod gemm;
mod graph;
mod ops;
mod optimize;
mod packed;
mod profile;
mod proto;
pub mod roofline;
mod simd;
mod tensor;

pub use error::Error;
pub use profile::{NodeProfile, Profile};

use exec::{BufPool, Plan};
use graph::Graph;
use ndarray::{ArrayD, ArrayViewD};
use prost::Message;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use tensor::Tensor;

/// Largest model we accept (the PP-OCR models are < 25 MB).
const MAX_MODEL_BYTES: usize = 1 << 31;
/// Free recycled buffers held during a run (bytes; `usize::MAX`: no limit).
static POOL_RUN_BYTES: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Recycled buffers kept between runs, per model and concurrent run (bytes).
static POOL_KEEP_BYTES: AtomicUsize = AtomicUsize::new(512 << 20);

/// Bounds the recycled (free) inference buffers, process-wide:
///
/// - `during_run`: free buffers one [`Model::run`] holds at once for reuse by later nodes
///   (default: no limit). Without a limit a run can hold several times its live tensors in
///   free buffers of sizes no later node needs;
/// - `between_runs`: free buffers each model keeps after a run for the next one, per
///   concurrently running call (default 512 MiB); 0 returns them all at the end of the run.
///
/// Past a limit the largest buffers are freed first. Lower limits mean more fresh
/// allocations (and page faults), so somewhat slower runs.
pub fn set_buffer_pool_limits(during_run: usize, between_runs: usize) {
    POOL_RUN_BYTES.store(during_run, Ordering::Relaxed);
    POOL_KEEP_BYTES.store(between_runs, Ordering::Relaxed);
}

/// A loaded, optimized model. Cheap to share: `Model` is `Send + Sync`, and any number
/// of threads may call [`Model::run`] concurrently.
pub struct Model {
    graph: Graph,
    plan: Plan,
    metadata: Vec<(String, String)>,
    /// Buffer pools reused across runs (one per concurrent run).
    pools: Mutex<Vec<BufPool>>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("inputs", &self.input_names())
            .field("outputs", &self.output_names())
            .field("nodes", &self.graph.nodes.len())
            .finish()
    }
}

/// Load-time options (for tests and diagnostics; `Model::load` uses the defaults).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// Run graph optimizations (constant folding, fusions). Turning this off gives the
    /// straightforward reference execution used to test the optimizer.
    pub optimize: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { optimize: true }
    }
}

impl Model {
    /// Parses and prepares an ONNX model from its serialized bytes.
    pub fn load(bytes: &[u8]) -> Result<Model, Error> {
        Self::load_with(bytes, LoadOptions::default())
    }

    /// [`Model::load`] with explicit options.
    #[doc(hidden)]
    pub fn load_with(bytes: &[u8], opts: LoadOptions) -> Result<Model, Error> {
        if bytes.len() > MAX_MODEL_BYTES {
            return Err(Error::TooLarge(format!(
                "model is {} bytes; the limit is {MAX_MODEL_BYTES}",
                bytes.len()
            )));
        }
        let proto = proto::ModelProto::decode(bytes).map_err(|e| Error::Decode(e.to_string()))?;
        let metadata = proto
            .metadata_props
            .iter()
            .map(|p| (p.key.clone(), p.value.clone()))
            .collect();
        let mut graph = graph::build(&proto)?;
        drop(proto);
        optimize::prepare(&mut graph, opts.optimize)?;
        let plan = Plan::new(&graph);
        Ok(Model {
            graph,
            plan,
            metadata,
            pools: Mutex::new(Vec::new()),
        })
    }

    /// Runs the model. `inputs` pairs each graph input name with a float tensor; the
    /// outputs come back in the graph's output order. Integer-typed graph outputs are
    /// converted to f32.
    pub fn run(&self, inputs: &[(&str, ArrayViewD<'_, f32>)]) -> Result<Vec<ArrayD<f32>>, Error> {
        self.run_inner(inputs, None)
    }

    /// [`Model::run`] that also times every node and counts its FLOPs (see [`Profile`]
    /// for what is counted). Timing costs a clock read per node; the outputs are the same.
    pub fn run_profiled(
        &self,
        inputs: &[(&str, ArrayViewD<'_, f32>)],
    ) -> Result<(Vec<ArrayD<f32>>, Profile), Error> {
        let mut prof = Profile::default();
        let out = self.run_inner(inputs, Some(&mut prof))?;
        Ok((out, prof))
    }

    /// FLOPs of one run at the given input shapes, counted from the graph's Conv,
    /// ConvTranspose and MatMul nodes (see [`Profile`]). Shapes inside the graph are
    /// resolved by running the model once on zeros, so this costs one inference.
    pub fn flops(&self, shapes: &[(&str, &[usize])]) -> Result<u64, Error> {
        let zeros: Vec<(&str, ArrayD<f32>)> = shapes
            .iter()
            .map(|(n, s)| (*n, ArrayD::zeros(ndarray::IxDyn(s))))
            .collect();
        let views: Vec<(&str, ArrayViewD<'_, f32>)> =
            zeros.iter().map(|(n, a)| (*n, a.view())).collect();
        Ok(self.run_profiled(&views)?.1.flops())
    }

    fn run_inner(
        &self,
        inputs: &[(&str, ArrayViewD<'_, f32>)],
        prof: Option<&mut Profile>,
    ) -> Result<Vec<ArrayD<f32>>, Error> {
        let mut pool = self
            .pools
            .lock()
            .map(|mut p| p.pop())
            .unwrap_or(None)
            .unwrap_or_default();
        pool.set_limit(POOL_RUN_BYTES.load(Ordering::Relaxed));
        let awake = awake::KeepAwake::start();
        let result = self
            .validate(inputs, &mut pool)
            .and_then(|feeds| exec::execute(&self.graph, &self.plan, feeds, &mut pool, prof));
        drop(awake);
        pool.trim(POOL_KEEP_BYTES.load(Ordering::Relaxed));
        if pool.bytes() > 0 {
            if let Ok(mut p) = self.pools.lock() {
                p.push(pool);
            }
        }
        Ok(result?
            .into_iter()
            .map(|t| match t {
                Tensor::F32(a) => a,
                Tensor::I64(a) => a.mapv(|v| v as f32),
            })
            .collect())
    }

    fn validate(
        &self,
        inputs: &[(&str, ArrayViewD<'_, f32>)],
        pool: &mut BufPool,
    ) -> Result<Vec<(usize, Tensor)>, Error> {
        for (name, _) in inputs {
            if !self.graph.inputs.iter().any(|i| i.name == *name) {
                return Err(Error::UnknownInput {
                    name: name.to_string(),
                    expected: self.input_names().join(", "),
                });
            }
        }
        let mut feeds = Vec::with_capacity(self.graph.inputs.len());
        for gi in &self.graph.inputs {
            let (_, view) = inputs
                .iter()
                .find(|(n, _)| *n == gi.name)
                .ok_or_else(|| Error::MissingInput(gi.name.clone()))?;
            let shape_err = |msg: String| Error::InputShape {
                name: gi.name.clone(),
                msg,
            };
            if let Some(dims) = &gi.dims {
                if dims.len() != view.ndim() {
                    return Err(shape_err(format!(
                        "expected rank {}, got {} (shape {:?})",
                        dims.len(),
                        view.ndim(),
                        view.shape()
                    )));
                }
                for (axis, (want, &got)) in dims.iter().zip(view.shape()).enumerate() {
                    if let Some(w) = want {
                        if *w != got {
                            return Err(shape_err(format!(
                                "expected size {w} at axis {axis}, got {got} (shape {:?})",
                                view.shape()
                            )));
                        }
                    }
                }
            }
            tensor::checked_numel(view.shape()).map_err(Error::TooLarge)?;
            // Copy into a recycled buffer (the engine owns and may overwrite its inputs).
            let mut buf = pool.take(view.len());
            match view.as_slice() {
                Some(s) => buf.copy_from_slice(s),
                None => buf.iter_mut().zip(view.iter()).for_each(|(d, s)| *d = *s),
            }
            // Vectorizable all-finite test first; locate the culprit only on failure.
            if !buf.iter().fold(true, |ok, v| ok & v.is_finite()) {
                if let Some((index, &value)) = buf.iter().enumerate().find(|(_, v)| !v.is_finite())
                {
                    return Err(Error::NonFiniteInput {
                        name: gi.name.clone(),
                        index,
                        value,
                    });
                }
            }
            feeds.push((gi.id, Tensor::F32(tensor::f32_array(view.shape(), buf))));
        }
        Ok(feeds)
    }

    /// Value of an ONNX `metadata_props` entry (e.g. `"character"` in the rec models).
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Graph input names, in declaration order.
    pub fn input_names(&self) -> Vec<&str> {
        self.graph.inputs.iter().map(|i| i.name.as_str()).collect()
    }

    /// Declared shape of each graph input, in declaration order: `Some(dims)` with `None`
    /// for a dynamic dimension, or `None` when the model declares no shape.
    pub fn input_shapes(&self) -> Vec<(&str, Option<&[Option<usize>]>)> {
        self.graph
            .inputs
            .iter()
            .map(|i| (i.name.as_str(), i.dims.as_deref()))
            .collect()
    }

    /// Graph output names, in the order [`Model::run`] returns them.
    pub fn output_names(&self) -> Vec<&str> {
        self.graph.outputs.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Number of executable nodes after optimization (diagnostics).
    #[doc(hidden)]
    pub fn node_count(&self) -> usize {
        self.graph.nodes.len()
    }

    /// One line per node after optimization: label, input and output value names.
    #[doc(hidden)]
    pub fn debug_graph(&self) -> String {
        let g = &self.graph;
        let name = |v: &Option<usize>| match v {
            Some(v) if g.consts[*v].is_some() => format!(
                "C{:?}",
                g.consts[*v]
                    .as_ref()
                    .map(|t| t.shape().to_vec())
                    .unwrap_or_default()
            ),
            Some(v) => g.names[*v].clone(),
            None => "-".into(),
        };
        g.nodes
            .iter()
            .map(|n| {
                let ins: Vec<String> = n.inputs.iter().map(name).collect();
                let outs: Vec<String> = n.outputs.iter().map(|o| g.names[*o].clone()).collect();
                format!(
                    "{} [{}] {:?} -> {:?}\n",
                    optimize::describe(&n.op),
                    n.name,
                    ins,
                    outs
                )
            })
            .collect()
    }

    /// Histogram of op types after optimization (diagnostics).
    #[doc(hidden)]
    pub fn op_summary(&self) -> Vec<(String, usize)> {
        let mut m: std::collections::BTreeMap<String, usize> = Default::default();
        for n in &self.graph.nodes {
            *m.entry(optimize::describe(&n.op)).or_default() += 1;
        }
        m.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn model_is_send_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<super::Model>();
    }
}
