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
//! For the length of the run, the run's thread and each keeper are held to CPUs of their
//! own ([`crate::affinity`]; Linux, pools of two or more threads, two or more allowed CPUs;
//! `WENZI_NN_SPREAD=0` turns it off). Why: after ~100 ms of idleness, Linux on the
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

/// Keepers for one run; dropping it ends them and unpins the run's thread.
pub(crate) struct KeepAwake {
    shared: Option<Arc<Shared>>,
    /// Holds the run's thread on its CPU until the run ends.
    _pinned: Option<Pinned>,
}

/// What a run's keepers share.
struct Shared {
    done: AtomicBool,
    /// The CPU the run's thread is held on (keepers keep off it), if it is held.
    owner_cpu: Option<usize>,
    /// CPUs keepers of this run are held on.
    claimed: Mutex<Vec<usize>>,
}

impl KeepAwake {
    /// Starts keepers on the current rayon pool's other workers (none on a 1-thread pool).
    pub(crate) fn start() -> KeepAwake {
        let threads = rayon::current_num_threads();
        if threads < 2 {
            return KeepAwake {
                shared: None,
                _pinned: None,
            };
        }
        let owner = rayon::current_thread_index();
        let keepers = if owner.is_some() {
            threads - 1
        } else {
            threads
        };
        // Only a pool worker runs the run's work itself; a thread outside the pool waits.
        let pinned = match owner {
            Some(_) if spreading_wanted() => pin_owner(),
            _ => None,
        };
        let shared = Arc::new(Shared {
            done: AtomicBool::new(false),
            owner_cpu: pinned.as_ref().map(|&(cpu, _)| cpu),
            claimed: Mutex::new(Vec::new()),
        });
        for _ in 0..keepers {
            let shared = Arc::clone(&shared);
            rayon::spawn(move || keep(&shared, owner));
        }
        KeepAwake {
            shared: Some(shared),
            _pinned: pinned.map(|(_, guard)| guard),
        }
    }
}

impl Drop for KeepAwake {
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.done.store(true, Ordering::Release);
        }
    }
}

/// Holds the calling thread on the CPU it runs on, if it may use others too.
fn pin_owner() -> Option<(usize, Pinned)> {
    let allowed = CpuSet::of_this_thread()?.cpus();
    let cpu = current_cpu()?;
    if allowed.len() < 2 || !allowed.contains(&cpu) {
        return None;
    }
    Some((cpu, CpuSet::only(cpu)?.pin()?))
}

/// The keeper loop: runs pending pool work until `done`, or until idle for [`MAX_IDLE`].
fn keep(shared: &Shared, owner: Option<usize>) {
    if owner.is_some() && rayon::current_thread_index() == owner {
        return;
    }
    if shared.done.load(Ordering::Acquire) {
        return;
    }
    let _pinned = shared
        .owner_cpu
        .and_then(|cpu| pin_keeper(cpu, &shared.claimed));
    let mut idle_since = Instant::now();
    while !shared.done.load(Ordering::Acquire) {
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

/// Holds a keeper off the run's CPU: on a CPU of its own when one is free, else on any
/// allowed CPU but the run's.
fn pin_keeper(owner_cpu: usize, claimed: &Mutex<Vec<usize>>) -> Option<Pinned> {
    let allowed_set = CpuSet::of_this_thread()?;
    let allowed = allowed_set.cpus();
    if !allowed.contains(&owner_cpu) || allowed.len() < 2 {
        return None;
    }
    let mut claimed = claimed.lock().ok()?;
    match keeper_cpu(&allowed, owner_cpu, current_cpu(), &claimed) {
        Some(cpu) => {
            claimed.push(cpu);
            drop(claimed);
            CpuSet::only(cpu)?.pin()
        }
        None => allowed_set.without(owner_cpu).pin(),
    }
}

/// The CPU a keeper should hold to: where it runs if that is neither the run's CPU nor
/// taken by another keeper (no move at all), else the first allowed CPU that is neither;
/// `None` when every allowed CPU is taken (more threads than CPUs).
fn keeper_cpu(
    allowed: &[usize],
    owner_cpu: usize,
    here: Option<usize>,
    claimed: &[usize],
) -> Option<usize> {
    let free = |c: &usize| *c != owner_cpu && !claimed.contains(c) && allowed.contains(c);
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
    fn a_keeper_stays_put_when_it_can_and_never_takes_a_taken_cpu() {
        let all = [0, 1, 2, 3];
        // Already on a free CPU: stays.
        assert_eq!(keeper_cpu(&all, 0, Some(2), &[]), Some(2));
        // On the run's CPU, or on one another keeper holds: the first free one.
        assert_eq!(keeper_cpu(&all, 0, Some(0), &[]), Some(1));
        assert_eq!(keeper_cpu(&all, 0, Some(1), &[1]), Some(2));
        assert_eq!(keeper_cpu(&all, 1, None, &[0]), Some(2));
        // Not allowed where it runs (a stale answer): an allowed one.
        assert_eq!(keeper_cpu(&[4, 6], 4, Some(5), &[]), Some(6));
        // Every other CPU taken: none.
        assert_eq!(keeper_cpu(&[0, 1], 0, Some(1), &[1]), None);
        assert_eq!(keeper_cpu(&[3], 3, Some(3), &[]), None);
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
        let shared = Shared {
            done: AtomicBool::new(false),
            owner_cpu: None,
            claimed: Mutex::new(Vec::new()),
        };
        let t = Instant::now();
        // Run a keeper directly on a worker, with nothing to do and `done` never set.
        pool.install(|| keep(&shared, None));
        let took = t.elapsed();
        assert!(took >= MAX_IDLE, "returned after {took:?}");
        assert!(took < Duration::from_secs(5), "took {took:?}");
    }
}
