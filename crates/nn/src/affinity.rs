//! The calling thread's CPU and CPU affinity (Linux; elsewhere every query answers `None`
//! and nothing is ever pinned).
//!
//! Used by [`crate::awake`] to hold a run's threads on separate CPUs for the length of one
//! run. Every pin is a guard that puts the thread's previous CPU set back when dropped,
//! so a run never leaves a lasting trace on its caller's or the pool's threads.

/// A set of CPUs, as the kernel's affinity calls take it.
#[derive(Clone, Copy)]
pub(crate) struct CpuSet {
    #[cfg(target_os = "linux")]
    set: libc::cpu_set_t,
}

/// The calling thread is held to a CPU set until this is dropped, which restores the set
/// it had before.
pub(crate) struct Pinned {
    previous: CpuSet,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // Should the previous set have become unusable meanwhile (CPUs taken away from the
        // process's cpuset), allow every CPU rather than leave the thread held on one.
        if !self.previous.apply() {
            CpuSet::all().apply();
        }
    }
}

/// The CPU the calling thread runs on, where the OS says.
pub(crate) fn current_cpu() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: sched_getcpu takes no arguments and only reads the caller's scheduling
        // state; a failure returns -1, which the conversion turns into None.
        let cpu = unsafe { libc::sched_getcpu() };
        usize::try_from(cpu).ok()
    }
    #[cfg(not(target_os = "linux"))]
    None
}

impl CpuSet {
    /// The calling thread's allowed CPUs.
    pub(crate) fn of_this_thread() -> Option<CpuSet> {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: cpu_set_t is a plain bit array, valid when all zeros (the empty set);
            // the call fills the calling thread's (pid 0) mask into this local set, whose
            // exact size it is given.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                let size = std::mem::size_of::<libc::cpu_set_t>();
                (libc::sched_getaffinity(0, size, &mut set) == 0).then_some(CpuSet { set })
            }
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// Largest CPU number a set can hold, plus one.
    #[cfg(target_os = "linux")]
    const CAPACITY: usize = 8 * std::mem::size_of::<libc::cpu_set_t>();

    /// The set's CPUs in increasing order.
    pub(crate) fn cpus(&self) -> Vec<usize> {
        #[cfg(target_os = "linux")]
        {
            (0..Self::CAPACITY)
                // SAFETY: `c` is below the set's capacity; the macro only reads its bit.
                .filter(|&c| unsafe { libc::CPU_ISSET(c, &self.set) })
                .collect()
        }
        #[cfg(not(target_os = "linux"))]
        Vec::new()
    }

    /// The set holding only `cpu` (`None` if `cpu` is past what a set can hold).
    pub(crate) fn only(cpu: usize) -> Option<CpuSet> {
        #[cfg(target_os = "linux")]
        {
            if cpu >= Self::CAPACITY {
                return None;
            }
            // SAFETY: all zeros is the empty cpu_set_t (see `of_this_thread`), and `cpu` is
            // below its capacity, so the macro sets a bit inside it.
            let set = unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(cpu, &mut set);
                set
            };
            Some(CpuSet { set })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = cpu;
            None
        }
    }

    /// Every CPU a set can name (the kernel keeps to those the process may use).
    fn all() -> CpuSet {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: all zeros is the empty cpu_set_t (see `of_this_thread`).
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            for c in 0..Self::CAPACITY {
                // SAFETY: `c` is below the set's capacity.
                unsafe { libc::CPU_SET(c, &mut set) };
            }
            CpuSet { set }
        }
        #[cfg(not(target_os = "linux"))]
        CpuSet {}
    }

    /// Holds the calling thread to this set until the guard drops, which restores
    /// `previous`: the thread's set as the caller has just read it
    /// ([`CpuSet::of_this_thread`]), so that it is read once. The kernel moves the thread at
    /// once if it runs elsewhere. `None` (and no change) if the kernel refuses, e.g. for a
    /// set outside the thread's cgroup.
    pub(crate) fn pin(self, previous: CpuSet) -> Option<Pinned> {
        self.apply().then_some(Pinned { previous })
    }

    /// Sets the calling thread's allowed CPUs; false if the kernel refused.
    fn apply(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: sets the calling thread's (pid 0) mask from this set, whose exact size
            // it is given; the kernel only reads it. A refusal leaves the mask as it was.
            unsafe {
                libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.set) == 0
            }
        }
        #[cfg(not(target_os = "linux"))]
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Pinning to each allowed CPU in turn moves the thread there, and every guard puts the
    /// allowed set back as it was; sets the thread may not use are refused without effect.
    #[test]
    fn pins_move_the_thread_and_guards_restore_the_set() {
        std::thread::spawn(|| {
            let before = CpuSet::of_this_thread().expect("sched_getaffinity").cpus();
            assert!(!before.is_empty());
            for &cpu in &before {
                let guard = CpuSet::only(cpu)
                    .unwrap()
                    .pin(CpuSet::of_this_thread().unwrap())
                    .expect("pin to an allowed cpu");
                assert_eq!(current_cpu(), Some(cpu), "runs on its only allowed cpu");
                assert_eq!(CpuSet::of_this_thread().unwrap().cpus(), vec![cpu]);
                drop(guard);
                assert_eq!(CpuSet::of_this_thread().unwrap().cpus(), before);
            }
            // Nested guards unwind in order.
            if before.len() >= 2 {
                let outer = CpuSet::only(before[0])
                    .unwrap()
                    .pin(CpuSet::of_this_thread().unwrap())
                    .unwrap();
                let inner = CpuSet::only(before[1])
                    .unwrap()
                    .pin(CpuSet::of_this_thread().unwrap())
                    .unwrap();
                assert_eq!(current_cpu(), Some(before[1]));
                drop(inner);
                assert_eq!(CpuSet::of_this_thread().unwrap().cpus(), vec![before[0]]);
                assert_eq!(current_cpu(), Some(before[0]));
                drop(outer);
            }
            assert_eq!(CpuSet::of_this_thread().unwrap().cpus(), before);
            // A CPU this thread may not use (or that cannot exist) is refused, no change.
            let absent = (0..4096).find(|c| !before.contains(c)).unwrap();
            if let Some(set) = CpuSet::only(absent) {
                assert!(set.pin(CpuSet::of_this_thread().unwrap()).is_none());
            }
            assert!(CpuSet::only(usize::MAX).is_none());
            assert_eq!(CpuSet::of_this_thread().unwrap().cpus(), before);
            // The fallback of a failed restore: every CPU the thread may use.
            assert!(CpuSet::all().apply());
            assert_eq!(CpuSet::of_this_thread().unwrap().cpus(), before);
        })
        .join()
        .unwrap();
    }
}
