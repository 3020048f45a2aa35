//! The executor: runs the prepared node list, frees each intermediate right after its
//! last consumer, and recycles freed buffers for later outputs.

use crate::error::Error;
use crate::graph::{Graph, ValueId};
use crate::ops::Input;
use crate::profile::{NodeProfile, Profile};
use crate::tensor::Tensor;

/// Per-graph schedule facts computed once at load.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// For each node, values to drop once it has run.
    free_after: Vec<Vec<ValueId>>,
    /// For each node, which inputs it may take by value (their last use, consumed once).
    ownable: Vec<Vec<bool>>,
}

impl Plan {
    pub fn new(g: &Graph) -> Plan {
        let nv = g.names.len();
        let mut last = vec![None::<usize>; nv];
        for (j, n) in g.nodes.iter().enumerate() {
            for v in n.inputs.iter().flatten() {
                last[*v] = Some(j);
            }
        }
        let mut pinned = vec![false; nv];
        for (_, v) in &g.outputs {
            pinned[*v] = true;
        }
        let mut free_after = vec![Vec::new(); g.nodes.len()];
        let mut ownable = Vec::with_capacity(g.nodes.len());
        for (j, n) in g.nodes.iter().enumerate() {
            let mut own = vec![false; n.inputs.len()];
            for (i, v) in n.inputs.iter().enumerate() {
                if let Some(v) = *v {
                    let once = n.inputs.iter().filter(|x| **x == Some(v)).count() == 1;
                    own[i] = once && last[v] == Some(j) && !pinned[v] && !g.is_const(v);
                }
            }
            ownable.push(own);
            for &o in &n.outputs {
                // Outputs nobody reads are dropped right away.
                if last[o].is_none() && !pinned[o] {
                    free_after[j].push(o);
                }
            }
        }
        for (v, l) in last.iter().enumerate() {
            if let Some(j) = *l {
                if !pinned[v] && !g.is_const(v) {
                    free_after[j].push(v);
                }
            }
        }
        Plan {
            free_after,
            ownable,
        }
    }
}

/// Buffers of at least this many bytes ask for transparent huge pages: two 2 MiB pages
/// worth, so that at least one whole aligned huge page lies inside.
const HUGE_MIN_BYTES: usize = 4 << 20;

/// A zeroed buffer of `n` floats. Large ones ask Linux for transparent huge pages
/// before their first touch.
///
/// Why: the detectors stream activations of 10–45 MB, and a conv reads 24–96 channel
/// planes that lie 0.2–1 MB apart; with 4 KiB pages (the L2 TLB covers 8 MiB) most plane
/// rows cost a page walk. Linux usually gives huge pages only to memory that asks for
/// them (`transparent_hugepage/enabled` = `madvise`), and the allocator does not ask. The
/// same request for every large allocation (glibc's `malloc.hugetlb=1` tunable) measured
/// 0.92 on v4 det and 0.91 on v6 det at 2 threads, 0.97 on v4 det at 1 thread, no change on
/// the recognizers (`ab_bench.sh`, 8 rounds each). `WENZI_NN_HUGE_PAGES=0` turns it off.
pub(crate) fn fresh_buffer(n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = Vec::with_capacity(n);
    let bytes = v.capacity() * std::mem::size_of::<f32>();
    if bytes >= HUGE_MIN_BYTES && huge_pages_wanted() {
        advise_huge_pages(v.as_mut_ptr(), bytes);
    }
    v.resize(n, 0.0);
    v
}

fn huge_pages_wanted() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("WENZI_NN_HUGE_PAGES").as_deref() != Ok("0"))
}

/// Advises the kernel to back the 2 MiB-aligned part of `bytes` bytes at `ptr` with huge
/// pages (no-op elsewhere than Linux, or when the kernel refuses).
#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *mut f32, bytes: usize) {
    const HUGE: usize = 2 << 20;
    let start = (ptr as usize).next_multiple_of(HUGE);
    let end = (ptr as usize + bytes) / HUGE * HUGE;
    if end > start {
        // SAFETY: the range lies inside one allocation this buffer owns, so no other
        // allocation shares its pages; MADV_HUGEPAGE only changes how the kernel backs
        // them, never their contents, and a refusal (THP disabled) leaves them as they are.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_ptr: *mut f32, _bytes: usize) {}

/// Recycled f32 buffers. Freed intermediates land here and serve later allocations, so
/// a steady-state run touches the system allocator very little.
#[derive(Debug)]
pub(crate) struct BufPool {
    bufs: Vec<Vec<f32>>,
    /// Most bytes of free buffers held at once (the largest are freed first).
    limit: usize,
}

impl Default for BufPool {
    fn default() -> Self {
        BufPool {
            bufs: Vec::new(),
            limit: usize::MAX,
        }
    }
}

/// Requests smaller than this are served by the system allocator directly.
const POOL_MIN: usize = 1024;
/// Most buffers a pool keeps.
const POOL_MAX_BUFS: usize = 64;

impl BufPool {
    /// A buffer of length `n`. Its contents are unspecified (stale values from an earlier
    /// tensor); every op overwrites all of its output.
    pub fn take(&mut self, n: usize) -> Vec<f32> {
        if n >= POOL_MIN {
            // Prefer a buffer whose length already covers `n` (truncating is free; growing
            // within capacity would zero-fill the extension).
            let fits = |b: &Vec<f32>| b.capacity() >= n && b.capacity() <= 4 * n;
            let best = self
                .bufs
                .iter()
                .enumerate()
                .filter(|(_, b)| fits(b) && b.len() >= n)
                .min_by_key(|(_, b)| b.len())
                .or_else(|| {
                    // None covers `n`: the one that needs the least zero-filling (a fill of
                    // the grown part is 2–3 % of cls at one thread).
                    self.bufs
                        .iter()
                        .enumerate()
                        .filter(|(_, b)| fits(b))
                        .max_by_key(|(_, b)| b.len())
                })
                .map(|(i, _)| i);
            if let Some(i) = best {
                let mut b = self.bufs.swap_remove(i);
                if b.len() >= n {
                    b.truncate(n);
                } else {
                    b.resize(n, 0.0);
                }
                return b;
            }
        }
        fresh_buffer(n)
    }

    pub fn give(&mut self, b: Vec<f32>) {
        if b.capacity() < POOL_MIN {
            return;
        }
        if self.bufs.len() >= POOL_MAX_BUFS {
            // Drop the smallest to keep the big (expensive) ones.
            if let Some((i, _)) = self
                .bufs
                .iter()
                .enumerate()
                .min_by_key(|(_, b)| b.capacity())
            {
                if self.bufs[i].capacity() < b.capacity() {
                    self.bufs.swap_remove(i);
                } else {
                    return;
                }
            }
        }
        self.bufs.push(b);
        if self.limit != usize::MAX {
            self.trim(self.limit);
        }
    }

    /// Hold at most `bytes` of free buffers from now on.
    pub fn set_limit(&mut self, bytes: usize) {
        self.limit = bytes;
        self.trim(bytes);
    }

    pub fn bytes(&self) -> usize {
        self.bufs.iter().map(|b| b.capacity() * 4).sum()
    }

    /// Free the largest buffers until at most `max_bytes` are kept.
    pub fn trim(&mut self, max_bytes: usize) {
        let mut total = self.bytes();
        if total <= max_bytes {
            return;
        }
        self.bufs.sort_unstable_by_key(|b| b.capacity());
        while total > max_bytes {
            match self.bufs.pop() {
                Some(b) => total -= b.capacity() * 4,
                None => break,
            }
        }
    }

    pub fn recycle(&mut self, t: Tensor) {
        if let Tensor::F32(a) = t {
            let (v, off) = a.into_raw_vec_and_offset();
            if off == Some(0) || off.is_none() {
                self.give(v);
            }
        }
    }
}

/// Per-node timing to stderr, enabled by the `WENZI_NN_PROFILE` environment variable.
fn profiling() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("WENZI_NN_PROFILE").is_some())
}

/// Runs the graph on already-validated feeds; returns the graph outputs in order. With
/// `prof`, every node's time, output shape and FLOP count are appended to it.
pub(crate) fn execute(
    g: &Graph,
    plan: &Plan,
    feeds: Vec<(ValueId, Tensor)>,
    pool: &mut BufPool,
    mut prof: Option<&mut Profile>,
) -> Result<Vec<Tensor>, Error> {
    let print = profiling();
    let mut values: Vec<Option<Tensor>> = vec![None; g.names.len()];
    for (id, t) in feeds {
        values[id] = Some(t);
    }
    for (j, node) in g.nodes.iter().enumerate() {
        let node_err = |msg: String| Error::Node {
            node: node.name.clone(),
            op: node.op_type.clone(),
            msg,
        };
        // Move out last-use inputs first, then borrow the rest.
        let mut owned: Vec<Option<Tensor>> = Vec::with_capacity(node.inputs.len());
        for (i, v) in node.inputs.iter().enumerate() {
            owned.push(match v {
                Some(v) if plan.ownable[j][i] => values[*v].take(),
                _ => None,
            });
        }
        let mut inputs: Vec<Input<'_>> = Vec::with_capacity(node.inputs.len());
        for (v, o) in node.inputs.iter().zip(owned) {
            inputs.push(match (v, o) {
                (_, Some(t)) => Input::Owned(t),
                (None, None) => Input::Missing,
                (Some(v), None) => match (&g.consts[*v], &values[*v]) {
                    (Some(c), _) => Input::Ref(c),
                    (None, Some(t)) => Input::Ref(t),
                    (None, None) => {
                        return Err(node_err(format!(
                            "input `{}` was not computed (bug)",
                            g.names[*v]
                        )))
                    }
                },
            });
        }
        let recording = print || prof.is_some();
        let in_shapes: Vec<Option<Vec<usize>>> = if prof.is_some() {
            inputs
                .iter()
                .map(|i| i.opt().map(|t| t.shape().to_vec()))
                .collect()
        } else {
            Vec::new()
        };
        let t0 = recording.then(std::time::Instant::now);
        let outs = node.op.run(&mut inputs, pool).map_err(node_err)?;
        let elapsed = t0.map(|t0| t0.elapsed().as_secs_f64());
        let shape = || outs.first().map(|t| t.shape().to_vec()).unwrap_or_default();
        if let (Some(p), Some(secs)) = (prof.as_deref_mut(), elapsed) {
            let output_shape = shape();
            p.nodes.push(NodeProfile {
                name: node.name.clone(),
                op: crate::optimize::describe(&node.op),
                flops: crate::profile::flops(&node.op, &in_shapes, &output_shape),
                output_shape,
                seconds: secs,
            });
        }
        if let (true, Some(secs)) = (print, elapsed) {
            let shape = shape();
            let live: usize = values
                .iter()
                .flatten()
                .chain(outs.iter())
                .map(|t| t.len() * 4)
                .sum();
            eprintln!(
                "wenzi-nn profile: {:9.3} ms  {:<28} {:<24} -> {:?} live {:.1} MiB, pool {:.1} MiB",
                secs * 1e3,
                crate::optimize::describe(&node.op),
                node.name,
                shape,
                live as f64 / (1 << 20) as f64,
                pool.bytes() as f64 / (1 << 20) as f64
            );
        }
        // Owned inputs the op did not reuse go back to the pool.
        for i in inputs {
            if let Input::Owned(t) = i {
                pool.recycle(t);
            }
        }
        for (o, t) in node.outputs.iter().zip(outs) {
            values[*o] = Some(t);
        }
        for v in &plan.free_after[j] {
            if let Some(t) = values[*v].take() {
                pool.recycle(t);
            }
        }
    }
    let mut result = Vec::with_capacity(g.outputs.len());
    for (name, v) in &g.outputs {
        let t = match (&g.consts[*v], values[*v].take()) {
            (Some(c), _) => c.clone(),
            (None, Some(t)) => t,
            (None, None) => {
                return Err(Error::InvalidModel(format!(
                    "output `{name}` was not computed"
                )))
            }
        };
        result.push(t);
        // A value listed twice as output: keep a copy for the second.
        if g.outputs.iter().filter(|(_, x)| x == v).count() > 1 {
            values[*v] = result.last().cloned();
        }
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_prefers_a_covering_buffer_then_the_least_growth() {
        let mut pool = BufPool::default();
        let with = |len: usize, cap: usize, v: f32| {
            let mut b = Vec::with_capacity(cap);
            b.resize(len, v);
            b
        };
        pool.give(with(5000, 9000, 1.0));
        pool.give(with(3000, 8000, 2.0));
        pool.give(with(4500, 6000, 3.0));
        // Two cover 4000: the shorter one.
        let b = pool.take(4000);
        assert_eq!((b.len(), b[0]), (4000, 3.0));
        // None covers 6000 now: the longest fitting one, grown with zeros.
        let b = pool.take(6000);
        assert_eq!((b.len(), b[0], b[4999], b[5000]), (6000, 1.0, 1.0, 0.0));
        let b = pool.take(7000);
        assert_eq!((b.len(), b[0], b[2999], b[3000]), (7000, 2.0, 2.0, 0.0));
    }

    /// A large fresh buffer is zeroed and, on a Linux kernel with transparent huge pages,
    /// its aligned part is advised for them (`hg` in its mapping's VmFlags); a small one is
    /// zeroed too and not advised.
    #[test]
    fn large_buffers_ask_for_huge_pages() {
        let n = HUGE_MIN_BYTES; // floats: 4 × the threshold in bytes
        let big = fresh_buffer(n);
        assert_eq!(big.len(), n);
        assert!(big.iter().all(|&v| v == 0.0));
        let small = fresh_buffer(1000);
        assert!(small.len() == 1000 && small.iter().all(|&v| v == 0.0));
        let thp = std::path::Path::new("/sys/kernel/mm/transparent_hugepage").exists();
        if !cfg!(target_os = "linux") || !thp || !huge_pages_wanted() {
            eprintln!(
                "no transparent huge pages here (or WENZI_NN_HUGE_PAGES=0): flags not checked"
            );
            return;
        }
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        // The VmFlags of the mapping that holds `addr`.
        let flags_at = |addr: usize| -> Option<String> {
            let mut inside = false;
            for line in smaps.lines() {
                let range = line.split_whitespace().next().unwrap_or("");
                if let Some((a, b)) = range.split_once('-') {
                    if let (Ok(a), Ok(b)) =
                        (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
                    {
                        inside = (a..b).contains(&addr);
                        continue;
                    }
                }
                if inside {
                    if let Some(f) = line.strip_prefix("VmFlags:") {
                        return Some(f.to_string());
                    }
                }
            }
            None
        };
        const HUGE: usize = 2 << 20;
        let aligned = (big.as_ptr() as usize).next_multiple_of(HUGE);
        let flags = flags_at(aligned).expect("the buffer's mapping is listed");
        assert!(
            flags.split_whitespace().any(|f| f == "hg"),
            "no hg flag: {flags}"
        );
        let flags = flags_at(small.as_ptr() as usize).expect("the small buffer's mapping");
        assert!(!flags.split_whitespace().any(|f| f == "hg"), "{flags}");
    }
}
