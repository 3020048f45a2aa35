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
//!
//! For the length of the run, the run's thread and each keeper are held on CPUs of their
//! own, none shared with another run's held thread ([`crate::affinity`], [`HELD`]; Linux,
//! pools of two or more threads, two or more allowed CPUs; `WENZI_NN_SPREAD=0` turns it
//! off). Why: after ~100 ms of idleness, Linux on the
//! Firecracker VM we measure on woke a sleeping worker on its waker's CPU although the
//! other CPU was idle, and left both there; a run's thread waits for stolen halves by
//! sleeping, so it was soon woken onto its keeper's CPU. Every 2-thread run after a pause
//! then ran at 1-thread speed: v6 rec 33–36 ms after a 200 ms pause against 17 ms back to
//! back; held apart, 21–25 ms (onnxruntime: 1.1× slower after the same pause). Each guard
//! restores its thread's previous CPU set when the run (or the keeper) ends.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::affinity::{current_cpu, CpuSet, Pinned};

/// Longest a keeper polls without finding work before it lets its worker sleep.
pub(crate) const MAX_IDLE: Duration = Duration::from_millis(2);

/// CPUs on which a thread of some run in this process is held, one entry per hold: runs
/// going on at once (an engine shared by several threads) never hold two threads on one
/// CPU, where the kernel could not separate them until the runs end.
static HELD: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Keepers for one run; dropping it ends them and releases the run's thread.
pub(crate) struct KeepAwake {
    done: Option<Arc<AtomicBool>>,
    /// Holds the run's thread on its CPU until the run ends.
    _hold: Option<Hold>,
}

/// A thread held on one CPU; dropping it gives the CPU back and restores the thread's
/// previous CPU set.
struct Hold {
    cpu: usize,
    _pinned: Pinned,
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = held.iter().position(|&c| c == self.cpu) {
            held.swap_remove(i);
        }
    }
}

impl KeepAwake {
    /// Starts keepers on the current rayon pool's other workers (none on a 1-thread pool).
    pub(crate) fn start() -> KeepAwake {
        let threads = rayon::current_num_threads();
        if threads < 2 {
            return KeepAwake {
                done: None,
                _hold: None,
            };
        }
        let owner = rayon::current_thread_index();
        let keepers = if owner.is_some() {
            threads - 1
        } else {
            threads
        };
        // Only a pool worker runs the run's work itself; a thread outside the pool waits.
        // Keepers are held only when the run's thread is.
        let hold = match owner {
            Some(_) if spreading_wanted() => hold_free_cpu(),
            _ => None,
        };
        let spread = hold.is_some();
        let done = Arc::new(AtomicBool::new(false));
        for _ in 0..keepers {
            let done = Arc::clone(&done);
            rayon::spawn(move || keep(&done, owner, spread));
        }
        KeepAwake {
            done: Some(done),
            _hold: hold,
        }
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
/// Held on a free CPU first when `spread`.
fn keep(done: &AtomicBool, owner: Option<usize>, spread: bool) {
    if owner.is_some() && rayon::current_thread_index() == owner {
        return;
    }
    if done.load(Ordering::Acquire) {
        return;
    }
    let _hold = if spread { hold_free_cpu() } else { None };
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

/// Holds the calling thread on a CPU no other run's thread is held on (see [`free_cpu`]);
/// `None`, and no change, when it may use only one CPU or none is free.
fn hold_free_cpu() -> Option<Hold> {
    let set = CpuSet::of_this_thread()?;
    let allowed = set.cpus();
    if allowed.len() < 2 {
        return None;
    }
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    let cpu = free_cpu(&allowed, current_cpu(), &held)?;
    let pinned = CpuSet::only(cpu)?.pin(set)?;
    held.push(cpu);
    Some(Hold {
        cpu,
        _pinned: pinned,
    })
}

/// The CPU a thread should be held on: where it runs if no other thread is held there (no
/// move at all), else the first allowed CPU that is free; `None` when every allowed CPU is
/// taken (more threads than CPUs).
fn free_cpu(allowed: &[usize], here: Option<usize>, held: &[usize]) -> Option<usize> {
    let free = |c: &usize| !held.contains(c) && allowed.contains(c);
    here.filter(free)
        .or_else(|| allowed.iter().copied().find(|c| free(c)))
}

/// `WENZI_NN_SPREAD=0` leaves a run's threads where the kernel puts them.
fn spreading_wanted() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("WENZI_NN_SPREAD").as_deref() != Ok("0"))
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
    fn a_thread_stays_put_when_it_can_and_never_takes_a_held_cpu() {
        let all = [0, 1, 2, 3];
        // Already on a free CPU: stays.
        assert_eq!(free_cpu(&all, Some(2), &[]), Some(2));
        assert_eq!(free_cpu(&all, Some(2), &[0]), Some(2));
        // On a held CPU, or nowhere known: the first free one.
        assert_eq!(free_cpu(&all, Some(0), &[0]), Some(1));
        assert_eq!(free_cpu(&all, Some(1), &[0, 1]), Some(2));
        assert_eq!(free_cpu(&all, None, &[0]), Some(1));
        // Not allowed where it runs (a stale answer): an allowed one.
        assert_eq!(free_cpu(&[4, 6], Some(5), &[4]), Some(6));
        // Every allowed CPU held: none.
        assert_eq!(free_cpu(&[0, 1], Some(1), &[1, 0]), None);
        assert_eq!(free_cpu(&[3], Some(3), &[3]), None);
    }

    /// Two runs at once on one pool (an engine shared by two threads): their threads are
    /// never held on the same CPU, and each held thread's only CPU is its registered one.
    #[cfg(target_os = "linux")]
    #[test]
    fn runs_at_once_never_hold_two_threads_on_one_cpu() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let barrier = std::sync::Barrier::new(2);
        for _ in 0..20 {
            pool.scope(|s| {
                for _ in 0..2 {
                    s.spawn(|_| {
                        let guard = KeepAwake::start();
                        barrier.wait();
                        let mine = CpuSet::of_this_thread().unwrap().cpus();
                        {
                            let held = HELD.lock().unwrap();
                            let mut sorted = held.clone();
                            sorted.sort_unstable();
                            sorted.dedup();
                            assert_eq!(sorted.len(), held.len(), "a CPU held twice: {held:?}");
                            if let Some(h) = &guard._hold {
                                assert_eq!(mine, vec![h.cpu]);
                                assert!(held.contains(&h.cpu));
                            }
                        }
                        barrier.wait();
                        drop(guard);
                    });
                }
            });
        }
    }

    /// During a run its thread is held on one CPU (where two or more are allowed); after
    /// it, the run's thread and every worker have their allowed CPUs back.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_run_holds_its_thread_and_leaves_every_worker_as_it_was() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let masks = || pool.broadcast(|_| CpuSet::of_this_thread().unwrap().cpus());
        let before = masks();
        for _ in 0..20 {
            pool.install(|| {
                let allowed = CpuSet::of_this_thread().unwrap().cpus();
                let guard = KeepAwake::start();
                let during = CpuSet::of_this_thread().unwrap().cpus();
                if allowed.len() >= 2 && spreading_wanted() {
                    assert_eq!(during.len(), 1, "held on one cpu");
                    assert_eq!(current_cpu(), Some(during[0]));
                } else {
                    assert_eq!(during, allowed);
                }
                let s: u64 = (0..1000u64).map(|v| rayon::join(|| v, || 0).0).sum();
                assert_eq!(s, 1000 * 999 / 2);
                drop(guard);
                assert_eq!(CpuSet::of_this_thread().unwrap().cpus(), allowed);
            });
        }
        // Keepers end within microseconds of their run; a broadcast may still reach one
        // while it runs, so look again until every worker is back.
        let t = Instant::now();
        while masks() != before {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "{:?} != {before:?}",
                masks()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_keeper_left_alone_stops_after_max_idle() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let done = AtomicBool::new(false);
        let t = Instant::now();
        // Run a keeper directly on a worker, with nothing to do and `done` never set.
        pool.install(|| keep(&done, None, false));
        let took = t.elapsed();
        assert!(took >= MAX_IDLE, "returned after {took:?}");
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }
}
