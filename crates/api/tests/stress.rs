//! Concurrency: one `Engine` shared by 16 threads gives exactly the results of sequential
//! runs (texts, confidences and boxes, bit for bit).

use std::sync::Arc;

use wenzi::{Engine, Page};

const IMAGES: [&str; 2] = ["line_004.png", "page_008.png"];
const THREADS: usize = 16;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../fixtures/images/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Everything a result says, floats as bits so that "identical" means identical.
fn fingerprint(page: &Page) -> Vec<(String, u32, [u32; 8])> {
    page.lines
        .iter()
        .map(|l| {
            let q = l.quad;
            let mut bits = [0u32; 8];
            for (i, v) in q.iter().flatten().enumerate() {
                bits[i] = v.to_bits();
            }
            (l.text.clone(), l.confidence.to_bits(), bits)
        })
        .collect()
}

#[test]
fn sixteen_threads_on_one_engine_match_sequential_runs() {
    let engine = Arc::new(Engine::builder().build().expect("default engine"));
    let images: Vec<Arc<Vec<u8>>> = IMAGES.iter().map(|n| Arc::new(fixture(n))).collect();
    let sequential: Vec<_> = images
        .iter()
        .map(|b| fingerprint(&engine.recognize(b).unwrap()))
        .collect();
    assert!(
        sequential.iter().all(|r| !r.is_empty()),
        "fixtures have text"
    );

    let barrier = Arc::new(std::sync::Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (engine, barrier) = (Arc::clone(&engine), Arc::clone(&barrier));
            let bytes = Arc::clone(&images[t % images.len()]);
            std::thread::spawn(move || {
                barrier.wait();
                fingerprint(&engine.recognize(&bytes).unwrap())
            })
        })
        .collect();
    for (t, h) in handles.into_iter().enumerate() {
        let got = h.join().expect("worker thread panicked");
        assert_eq!(
            got,
            sequential[t % images.len()],
            "thread {t} ({}) differs from the sequential run",
            IMAGES[t % images.len()]
        );
    }
}
