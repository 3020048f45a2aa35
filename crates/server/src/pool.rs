//! Bounded worker pool for the blocking, CPU-heavy recognition.
//!
//! `workers` OS threads take jobs from one bounded queue of `queue_size` slots. Each worker
//! owns a rayon pool of `threads` threads and runs its jobs inside it, so the engine's
//! parallel loops use that pool and nothing else: `workers × threads` compute threads in all,
//! whatever the engine would otherwise pick (no oversubscription). Submitting never waits: when every slot is taken the caller gets [`SubmitError::Full`] at once and
//! answers 502. A job whose requester has gone (deadline passed, client disconnected) is
//! skipped instead of run. A panic inside the backend is caught on the worker
//! (`catch_unwind`), reported as [`JobError::Panicked`], and the worker goes on. When a
//! worker finds the queue empty it calls [`OcrBackend::idle`] (the binary uses it to hand
//! freed memory back to the operating system).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use crate::backend::{BackendError, JobOptions, OcrBackend, OcrOutput};

#[derive(Debug)]
pub enum JobError {
    Backend(BackendError),
    Panicked(String),
    /// The deadline had passed before a worker took the job.
    Expired,
}

#[derive(Debug)]
pub struct JobResult {
    pub outcome: Result<OcrOutput, JobError>,
    pub queue_wait: Duration,
    pub run_time: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitError {
    Full,
    Closed,
}

struct Job {
    image: Bytes,
    /// Released with the image (e.g. the upload memory it takes).
    hold: Option<OwnedSemaphorePermit>,
    enqueued: Instant,
    deadline: Instant,
    /// Most pages of an uploaded document.
    max_pages: usize,
    reply: oneshot::Sender<JobResult>,
}

#[derive(Debug, Default)]
pub struct PoolStats {
    pub queued: AtomicI64,
    pub busy: AtomicI64,
    pub alive: AtomicI64,
    pub skipped: AtomicUsize,
    pub panics: AtomicUsize,
}

pub struct WorkerPool {
    tx: Sender<Job>,
    workers: usize,
    threads: usize,
    queue_size: usize,
    stats: Arc<PoolStats>,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("workers", &self.workers)
            .field("threads", &self.threads)
            .field("queue_size", &self.queue_size)
            .finish()
    }
}

struct AliveGuard(Arc<PoolStats>);
impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

impl WorkerPool {
    /// Start `workers` threads (at least 1), each with its own rayon pool of `threads`
    /// threads (at least 1), and a queue of `queue_size` jobs (at least 1). The threads end
    /// when the pool is dropped and the queue has drained.
    pub fn new(
        backend: Arc<dyn OcrBackend>,
        workers: usize,
        threads: usize,
        queue_size: usize,
    ) -> Self {
        let workers = workers.max(1);
        let threads = threads.max(1);
        let queue_size = queue_size.max(1);
        let (tx, rx) = bounded::<Job>(queue_size);
        let stats = Arc::new(PoolStats::default());
        for i in 0..workers {
            let rx = rx.clone();
            let backend = backend.clone();
            let stats = stats.clone();
            let compute = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(move |j| format!("wenzi-w{i}-{j}"))
                .build()
                .expect("starting a worker's compute threads");
            stats.alive.fetch_add(1, Ordering::SeqCst);
            std::thread::Builder::new()
                .name(format!("wenzi-worker-{i}"))
                .spawn(move || worker_loop(rx, backend, compute, stats))
                .expect("spawning a worker thread");
        }
        WorkerPool {
            tx,
            workers,
            threads,
            queue_size,
            stats,
        }
    }

    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Compute threads per worker.
    pub fn threads(&self) -> usize {
        self.threads
    }

    pub fn queue_size(&self) -> usize {
        self.queue_size
    }

    pub fn stats(&self) -> &PoolStats {
        &self.stats
    }

    /// All workers are running.
    pub fn healthy(&self) -> bool {
        self.stats.alive.load(Ordering::SeqCst) == self.workers as i64
    }

    /// Queue a recognition; never waits. `hold` is dropped together with the image: when
    /// the job has run, is skipped, or is refused. A document may have `max_pages` pages.
    pub fn submit(
        &self,
        image: Bytes,
        hold: Option<OwnedSemaphorePermit>,
        deadline: Instant,
        max_pages: usize,
    ) -> Result<oneshot::Receiver<JobResult>, SubmitError> {
        let (reply, rx) = oneshot::channel();
        let job = Job {
            image,
            hold,
            enqueued: Instant::now(),
            deadline,
            max_pages,
            reply,
        };
        self.stats.queued.fetch_add(1, Ordering::SeqCst);
        match self.tx.try_send(job) {
            Ok(()) => Ok(rx),
            Err(e) => {
                self.stats.queued.fetch_sub(1, Ordering::SeqCst);
                Err(match e {
                    TrySendError::Full(_) => SubmitError::Full,
                    TrySendError::Disconnected(_) => SubmitError::Closed,
                })
            }
        }
    }
}

fn worker_loop(
    rx: Receiver<Job>,
    backend: Arc<dyn OcrBackend>,
    compute: rayon::ThreadPool,
    stats: Arc<PoolStats>,
) {
    let _alive = AliveGuard(stats.clone());
    loop {
        let job = match rx.try_recv() {
            Ok(job) => job,
            Err(_) => {
                // Nothing waiting: a good moment to give memory back.
                backend.idle();
                match rx.recv() {
                    Ok(job) => job,
                    Err(_) => break,
                }
            }
        };
        stats.queued.fetch_sub(1, Ordering::SeqCst);
        let started = Instant::now();
        let queue_wait = started.saturating_duration_since(job.enqueued);
        if job.reply.is_closed() {
            stats.skipped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if started >= job.deadline {
            stats.skipped.fetch_add(1, Ordering::Relaxed);
            let _ = job.reply.send(JobResult {
                outcome: Err(JobError::Expired),
                queue_wait,
                run_time: Duration::ZERO,
            });
            continue;
        }
        stats.busy.fetch_add(1, Ordering::SeqCst);
        let (image, hold) = (job.image, job.hold);
        let opts = JobOptions {
            max_pages: job.max_pages,
            deadline: Some(job.deadline),
        };
        let r =
            compute.install(|| catch_unwind(AssertUnwindSafe(|| backend.recognize(&image, &opts))));
        drop((image, hold));
        stats.busy.fetch_sub(1, Ordering::SeqCst);
        let outcome = match r {
            Ok(Ok(out)) => Ok(out),
            Ok(Err(e)) => Err(JobError::Backend(e)),
            Err(payload) => {
                stats.panics.fetch_add(1, Ordering::Relaxed);
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".into());
                Err(JobError::Panicked(msg))
            }
        };
        let _ = job.reply.send(JobResult {
            outcome,
            queue_wait,
            run_time: started.elapsed(),
        });
    }
}
