//! The memory allocator of the `wenzi` binary (never chosen in the libraries).
//!
//! Default: the system allocator (glibc malloc on Linux), tuned for a long-running server
//! by [`configure`]; the measurements behind the choice are in docs/server.md. Cargo
//! features `mimalloc` and `jemalloc` swap in those allocators instead (for comparison).
//!
//! `WENZI_MALLOC=default` skips the tuning (to measure plain glibc malloc).

#[cfg(all(feature = "mimalloc", feature = "jemalloc"))]
compile_error!("choose one allocator feature: mimalloc or jemalloc");

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(all(feature = "jemalloc", not(feature = "mimalloc")))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Whether glibc malloc is in use and tuned.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn glibc_tuned() -> bool {
    !cfg!(any(feature = "mimalloc", feature = "jemalloc"))
        && std::env::var("WENZI_MALLOC").map_or(true, |v| v != "default")
}

/// Tune glibc malloc for the server (call first thing in `main`, before threads start):
/// at most 2 arenas. glibc otherwise creates up to 8 × cores arenas as threads (tokio,
/// workers, rayon) allocate concurrently, and each keeps its own freed memory. The mmap
/// threshold stays dynamic: a fixed low one (every buffer mapped and unmapped) costs
/// ~25% more CPU in page faults (docs/server.md).
pub fn configure() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if glibc_tuned() {
        // SAFETY: mallopt only changes allocator parameters; called before other threads.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Give freed memory back to the operating system (called by idle server workers).
/// `WENZI_MALLOC_TRIM=0` turns it off (for measurements).
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if glibc_tuned() && std::env::var("WENZI_MALLOC_TRIM").map_or(true, |v| v != "0") {
        // SAFETY: malloc_trim is thread-safe and only returns free pages.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}
