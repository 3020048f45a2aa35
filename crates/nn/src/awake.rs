//! Keeps the rayon pool's other workers awake for the length of one model run.
//!
//! A run is ~100–300 short parallel regions (one per node) separated by short sequential
//! stretches. Between them rayon puts idle workers to sleep, and waking one for the next
//! region took 30–50 µs on the 2-core VM we measure on (a `join` of two 20 µs halves
//! took 60–80 µs after any gap, 22 µs with the other worker kept busy) — a few
//! milliseconds per recognizer run, most of the 2-thread loss on the small models.
//!
//! [`KeepAwake::start`] hands each other worker a *keeper* task that executes the pool's
//! pending work as it appears (`rayon::yield_now`) and otherwise gives its core away
//! (`std::thread::yield_now`), so it never starves another runnable thread. A keeper
//! ends when the run ends, when it finds no work for [`MAX_IDLE`] (which also bounds the
//! wait if a keeper ever runs nested inside the run's own work), or at once on the
//! run's own thread. Pending keepers of finished runs end at once too.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest a keeper polls without finding work before it lets its worker sleep.
pub(crate) const MAX_IDLE: Duration = Duration::from_millis(2);

/// Keepers for one run; dropping it ends them.
pub(crate) struct KeepAwake {
    done: Option<Arc<AtomicBool>>,
}

impl KeepAwake {
    /// Starts keepers on the current rayon pool's other workers (none on a 1-thread pool).
    pub(crate) fn start() -> KeepAwake {
        let threads = rayon::current_num_threads();
        if threads < 2 {
            return KeepAwake { done: None };
        }
        let owner = rayon::current_thread_index();
        let keepers = if owner.is_some() {
            threads - 1
        } else {
            threads
        };
        let done = Arc::new(AtomicBool::new(false));
        for _ in 0..keepers {
            let done = Arc::clone(&done);
            rayon::spawn(move || keep(&done, owner));
        }
        KeepAwake { done: Some(done) }
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        if let Some(done) = &self.done {
            done.store(true, Ordering::Release);
        }
    }
}

/// The keeper loop: runs pending pool work until `done`, or until idle for [`MAX_IDLE`].
fn keep(done: &AtomicBool, owner: Option<usize>) {
    if owner.is_some() && rayon::current_thread_index() == owner {
        return;
    }
    let mut idle_since = Instant::now();
    while !done.load(Ordering::Acquire) {
        match rayon::yield_now() {
            Some(rayon::Yield::Executed) => idle_since = Instant::now(),
            _ => {
                if idle_since.elapsed() >= MAX_IDLE {
                    return;
                }
                std::thread::yield_now();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepers_end_with_the_run_and_never_block_it() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        pool.install(|| {
            for _ in 0..50 {
                let guard = KeepAwake::start();
                // Nested parallel work while keepers are about: it must complete.
                let s: u64 = (0..10_000u64)
                    .collect::<Vec<_>>()
                    .chunks(100)
                    .map(|c| rayon::join(|| c.iter().sum::<u64>(), || c.len() as u64).0)
                    .sum();
                assert_eq!(s, 10_000 * 9_999 / 2);
                drop(guard);
            }
        });
        // After the runs, the pool is free again: a join completes promptly.
        let t = Instant::now();
        pool.install(|| rayon::join(|| 1, || 2));
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_keeper_left_alone_stops_after_max_idle() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let t = Instant::now();
        // Run a keeper directly on a worker, with nothing to do and `done` never set.
        pool.install(|| keep(&done, None));
        let took = t.elapsed();
        assert!(took >= MAX_IDLE, "returned after {took:?}");
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }
}
