//! In-process tests of the HTTP contract, one per StatusCode path.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use common::*;
use http::{Request, StatusCode};
use wenzi_server::store::unix_now;
use wenzi_server::testing::{expected_lines, tiny_png};
use wenzi_server::{AppConfig, API_PATH, DEMO_PATH};

fn api(key: &str) -> String {
    format!("{API_PATH}?appkey={key}")
}

#[tokio::test]
async fn ok_answer_matches_the_contract() {
    let t = app().await;
    let png = tiny_png(20, 10);
    let a = call(&t.router, upload(&api(&t.key), "imagefile", &png)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.code(), 100, "{}", a.json);
    assert_eq!(a.lines(), expected_lines(&png));
    assert_eq!(a.json["DataStatus"]["DataTotalCount"], 2);
    let ts = a.json["DataStatus"]["ResponseDateTime"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(ts, "%Y-%m-%d %H:%M:%S").is_ok(),
        "{ts}"
    );
    // Exactly the contract's fields, in order, and no Boxes.
    let want = format!(
        "{{\"DataStatus\":{{\"StatusCode\":100,\"StatusDescription\":{},\"ResponseDateTime\":\"{ts}\",\"DataTotalCount\":2}},\"Data\":{{\"ResultText\":{}}}}}",
        serde_json::to_string(&a.desc()).unwrap(),
        serde_json::to_string(&expected_lines(&png)).unwrap()
    );
    assert_eq!(a.raw, want);
    // errors: Data null
    let e = call(&t.router, upload(&api("nope"), "imagefile", &png)).await;
    assert!(
        e.raw.starts_with("{\"DataStatus\":{\"StatusCode\":504,"),
        "{}",
        e.raw
    );
    assert!(
        e.raw.ends_with(",\"DataTotalCount\":0},\"Data\":null}"),
        "{}",
        e.raw
    );
}

#[tokio::test]
async fn not_multipart_is_501() {
    let t = app().await;
    let req = Request::post(api(&t.key))
        .header("content-type", "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let a = call(&t.router, req).await;
    assert_error(&a, 501);
    assert!(a.desc().contains("multipart"), "{}", a.desc());
    let req = Request::post(api(&t.key)).body(Body::from("x")).unwrap();
    assert_error(&call(&t.router, req).await, 501);
}

#[tokio::test]
async fn missing_imagefile_is_501() {
    let t = app().await;
    let a = call(&t.router, upload(&api(&t.key), "file", &tiny_png(4, 4))).await;
    assert_error(&a, 501);
    assert!(a.desc().contains("imagefile"), "{}", a.desc());
}

#[tokio::test]
async fn malformed_multipart_is_501() {
    let t = app().await;
    let req = Request::post(api(&t.key))
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body(Body::from("this is not multipart at all"))
        .unwrap();
    assert_error(&call(&t.router, req).await, 501);
}

#[tokio::test]
async fn empty_file_is_501() {
    let t = app().await;
    let a = call(&t.router, upload(&api(&t.key), "imagefile", b"")).await;
    assert_error(&a, 501);
    assert!(a.desc().contains("empty"), "{}", a.desc());
}

#[tokio::test]
async fn oversize_file_is_501_with_and_without_content_length() {
    let t = app_with(AppConfig {
        max_body: 1000,
        ..test_config()
    })
    .await;
    let mut big = tiny_png(4, 4);
    big.resize(5000, 0);
    // Content-Length unknown (streamed): the limit is enforced while reading.
    let (ct, body) = wenzi_server::testing::multipart_body("imagefile", "a.png", &big);
    let stream = futures_util::stream::iter(
        body.chunks(700)
            .map(|c| Ok::<_, std::io::Error>(bytes::Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let req = Request::post(api(&t.key))
        .header("content-type", ct.clone())
        .body(Body::from_stream(stream))
        .unwrap();
    let a = call(&t.router, req).await;
    assert_error(&a, 501);
    assert!(a.desc().contains("limit"), "{}", a.desc());
    // Declared Content-Length over the limit: refused before reading.
    let req = Request::post(api(&t.key))
        .header("content-type", ct)
        .header("content-length", body.len().to_string())
        .body(Body::from(body))
        .unwrap();
    assert_error(&call(&t.router, req).await, 501);
    // A file exactly at the limit passes.
    big.truncate(1000);
    let a = call(&t.router, upload(&api(&t.key), "imagefile", &big)).await;
    assert_eq!(a.code(), 100, "{}", a.json);
    // Nothing counted against the key for the refused ones.
    assert_eq!(t.store.get(&t.key).await.unwrap().unwrap().used, 1);
}

#[tokio::test]
async fn unsupported_format_is_501() {
    let t = app().await;
    let a = call(
        &t.router,
        upload(
            &api(&t.key),
            "imagefile",
            b"%PDF-1.7 this is no image format we read",
        ),
    )
    .await;
    assert_error(&a, 501);
    assert!(a.desc().contains("unsupported"), "{}", a.desc());
}

#[tokio::test]
async fn invalid_image_is_minus_1() {
    let t = app().await;
    let a = call(
        &t.router,
        upload(&api(&t.key), "imagefile", b"TEST:invalid"),
    )
    .await;
    assert_error(&a, -1);
    // truncated PNG
    let a = call(
        &t.router,
        upload(&api(&t.key), "imagefile", b"\x89PNG\r\n\x1a\n\0\0"),
    )
    .await;
    assert_error(&a, -1);
}

#[tokio::test]
async fn deadline_is_minus_1() {
    let t = app_with(AppConfig {
        timeout: Duration::from_millis(300),
        ..test_config()
    })
    .await;
    let t0 = std::time::Instant::now();
    let a = call(
        &t.router,
        upload(&api(&t.key), "imagefile", b"TEST:sleep=1500"),
    )
    .await;
    assert_error(&a, -1);
    assert!(a.desc().contains("deadline"), "{}", a.desc());
    assert!(t0.elapsed() < Duration::from_millis(1200));
    assert_eq!(t.store.get(&t.key).await.unwrap().unwrap().used, 0);
}

#[tokio::test]
async fn panic_is_900_and_server_keeps_serving() {
    let t = app().await;
    for _ in 0..3 {
        let a = call(&t.router, upload(&api(&t.key), "imagefile", b"TEST:panic")).await;
        assert_error(&a, 900);
    }
    let a = call(
        &t.router,
        upload(&api(&t.key), "imagefile", &tiny_png(3, 3)),
    )
    .await;
    assert_eq!(a.code(), 100);
    assert!(t.state.pool().healthy());
    assert_eq!(t.state.pool().stats().panics.load(Ordering::Relaxed), 3);
    let a = call(
        &t.router,
        upload(&api(&t.key), "imagefile", b"TEST:internal"),
    )
    .await;
    assert_error(&a, 900);
}

#[tokio::test]
async fn full_queue_is_502_at_once() {
    let t = app_with(AppConfig {
        workers: 1,
        queue_size: 1,
        ..test_config()
    })
    .await;
    let r = t.router.clone();
    let k = t.key.clone();
    let busy =
        tokio::spawn(
            async move { call(&r, upload(&api(&k), "imagefile", b"TEST:sleep=1500")).await },
        );
    // wait until the worker is busy
    for _ in 0..200 {
        if t.state.pool().stats().busy.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = t.router.clone();
    let k = t.key.clone();
    let queued =
        tokio::spawn(
            async move { call(&r, upload(&api(&k), "imagefile", b"TEST:sleep=10")).await },
        );
    for _ in 0..200 {
        if t.state.pool().stats().queued.load(Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t0 = std::time::Instant::now();
    let a = call(
        &t.router,
        upload(&api(&t.key), "imagefile", &tiny_png(2, 2)),
    )
    .await;
    assert!(t0.elapsed() < Duration::from_millis(500));
    assert_error(&a, 502);
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.headers.get("retry-after").unwrap(), "1");
    assert_eq!(busy.await.unwrap().code(), 100);
    assert_eq!(queued.await.unwrap().code(), 100);
    // the refused request did not count
    assert_eq!(t.store.get(&t.key).await.unwrap().unwrap().used, 2);
}

/// `upload_slots` bounds how many request bodies are held at once: while one upload is
/// still streaming in, a second request is refused with 502 at once, and the slot comes back
/// when the first finishes.
#[tokio::test]
async fn uploads_over_upload_slots_are_502_at_once() {
    let t = app_with(AppConfig {
        upload_slots: 1,
        ..test_config()
    })
    .await;
    let png = tiny_png(4, 4);
    let (ct, body) = wenzi_server::testing::multipart_body("imagefile", "img.png", &png);
    let (head, tail) = body.split_at(body.len() / 2);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(2);
    tx.send(Ok(bytes::Bytes::copy_from_slice(head)))
        .await
        .unwrap();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let slow = Request::post(api(&t.key))
        .header("content-type", ct)
        .body(Body::from_stream(stream))
        .unwrap();
    let r = t.router.clone();
    let first = tokio::spawn(async move { call(&r, slow).await });
    // wait until the first upload holds the only slot
    let mut held = false;
    for _ in 0..400 {
        if t.state
            .render_metrics()
            .contains("wenzi_upload_slots_free 0")
        {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(held, "the streaming upload never took the slot");

    let t0 = std::time::Instant::now();
    let a = call(&t.router, upload(&api(&t.key), "imagefile", &png)).await;
    assert!(t0.elapsed() < Duration::from_millis(500));
    assert_error(&a, 502);
    assert_eq!(a.headers.get("retry-after").unwrap(), "1");

    // finish the first upload: it is recognized, and the slot is free again
    tx.send(Ok(bytes::Bytes::copy_from_slice(tail)))
        .await
        .unwrap();
    drop(tx);
    let a = first.await.unwrap();
    assert_eq!(a.code(), 100, "{}", a.json);
    assert_eq!(a.lines(), expected_lines(&png));
    let a = call(&t.router, upload(&api(&t.key), "imagefile", &png)).await;
    assert_eq!(a.code(), 100);
    // the refused request used no quota
    assert_eq!(t.store.get(&t.key).await.unwrap().unwrap().used, 2);
}

#[tokio::test]
async fn rate_limit_is_429_with_retry_after() {
    let t = app_with(AppConfig {
        rate: 0.2,
        burst: 2,
        ..test_config()
    })
    .await;
    let png = tiny_png(2, 2);
    for _ in 0..2 {
        let a = call(
            &t.router,
            from_ip(upload(&api(&t.key), "imagefile", &png), "198.51.100.1"),
        )
        .await;
        assert_eq!(a.code(), 100);
    }
    let a = call(
        &t.router,
        from_ip(upload(&api(&t.key), "imagefile", &png), "198.51.100.1"),
    )
    .await;
    assert_error(&a, 429);
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = a.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=5).contains(&retry), "{retry}");
    // another client is not affected
    let a = call(
        &t.router,
        from_ip(upload(&api(&t.key), "imagefile", &png), "198.51.100.2"),
    )
    .await;
    assert_eq!(a.code(), 100);
    assert_eq!(t.store.get(&t.key).await.unwrap().unwrap().used, 3);
}

#[tokio::test]
async fn trusted_proxy_forwarded_for_is_the_client() {
    let t = app_with(AppConfig {
        rate: 0.1,
        burst: 1,
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..test_config()
    })
    .await;
    let png = tiny_png(2, 2);
    let via = |client: &str| {
        let mut r = from_ip(upload(&api(&t.key), "imagefile", &png), "127.0.0.1");
        r.headers_mut()
            .insert("x-forwarded-for", client.parse().unwrap());
        r
    };
    assert_eq!(call(&t.router, via("203.0.113.1")).await.code(), 100);
    assert_eq!(call(&t.router, via("203.0.113.2")).await.code(), 100);
    assert_eq!(call(&t.router, via("203.0.113.1")).await.code(), 429);
    // an untrusted peer cannot pick its address
    let mut r = from_ip(upload(&api(&t.key), "imagefile", &png), "192.0.2.7");
    r.headers_mut()
        .insert("x-forwarded-for", "203.0.113.99".parse().unwrap());
    assert_eq!(call(&t.router, r).await.code(), 100);
    let mut r = from_ip(upload(&api(&t.key), "imagefile", &png), "192.0.2.7");
    r.headers_mut()
        .insert("x-forwarded-for", "203.0.113.98".parse().unwrap());
    assert_eq!(call(&t.router, r).await.code(), 429);
}

#[tokio::test]
async fn missing_or_wrong_key_is_504() {
    let t = app().await;
    let png = tiny_png(2, 2);
    let a = call(&t.router, upload(API_PATH, "imagefile", &png)).await;
    assert_error(&a, 504);
    assert!(a.desc().contains("missing"), "{}", a.desc());
    let a = call(
        &t.router,
        upload(&format!("{API_PATH}?appkey="), "imagefile", &png),
    )
    .await;
    assert_error(&a, 504);
    let a = call(
        &t.router,
        upload(&api("0123456789abcdef0123456789abcdef"), "imagefile", &png),
    )
    .await;
    assert_error(&a, 504);
    assert!(a.desc().contains("wrong"), "{}", a.desc());
    let long = "a".repeat(10_000);
    assert_error(
        &call(&t.router, upload(&api(&long), "imagefile", &png)).await,
        504,
    );
}

#[tokio::test]
async fn disabled_and_expired_keys_are_503() {
    let t = app().await;
    let png = tiny_png(2, 2);
    let now = unix_now();
    let disabled = t.store.add("d", None, None, now).await.unwrap().key;
    t.store.set_enabled(&disabled, false).await.unwrap();
    let a = call(&t.router, upload(&api(&disabled), "imagefile", &png)).await;
    assert_error(&a, 503);
    assert!(a.desc().contains("disabled"), "{}", a.desc());

    // expires_at <= now is expired
    for exp in [now - 86_400, now - 1, now] {
        let k = t
            .store
            .add("e", Some(10), Some(exp), now - 100)
            .await
            .unwrap()
            .key;
        let a = call(&t.router, upload(&api(&k), "imagefile", &png)).await;
        assert_error(&a, 503);
        assert!(a.desc().contains("expired"), "{}", a.desc());
        assert_eq!(t.store.get(&k).await.unwrap().unwrap().used, 0);
    }
    let k = t
        .store
        .add("f", None, Some(now + 3600), now)
        .await
        .unwrap()
        .key;
    assert_eq!(
        call(&t.router, upload(&api(&k), "imagefile", &png))
            .await
            .code(),
        100
    );
    // re-enabled works again
    t.store.set_enabled(&disabled, true).await.unwrap();
    assert_eq!(
        call(&t.router, upload(&api(&disabled), "imagefile", &png))
            .await
            .code(),
        100
    );
}

#[tokio::test]
async fn quota_exactly_n_successes_under_concurrency() {
    let t = app_with(AppConfig {
        workers: 4,
        queue_size: 64,
        ..test_config()
    })
    .await;
    const N: i64 = 7;
    let k = t
        .store
        .add("q", Some(N), None, unix_now())
        .await
        .unwrap()
        .key;
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let r = t.router.clone();
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            let mut png = tiny_png(3, 3);
            png.extend_from_slice(&i.to_le_bytes());
            call(&r, upload(&api(&k), "imagefile", &png)).await.code()
        }));
    }
    let mut ok = 0;
    let mut over = 0;
    for task in tasks {
        match task.await.unwrap() {
            100 => ok += 1,
            505 => over += 1,
            c => panic!("unexpected code {c}"),
        }
    }
    assert_eq!((ok, over), (N, 40 - N));
    assert_eq!(t.store.get(&k).await.unwrap().unwrap().used, N);
    let a = call(&t.router, upload(&api(&k), "imagefile", &tiny_png(2, 2))).await;
    assert_error(&a, 505);
}

#[tokio::test]
async fn failed_recognitions_do_not_consume_quota() {
    let t = app_with(AppConfig {
        timeout: Duration::from_millis(1500),
        ..test_config()
    })
    .await;
    let k = t
        .store
        .add("q", Some(2), None, unix_now())
        .await
        .unwrap()
        .key;
    for (bad, code) in [
        (&b"TEST:invalid"[..], -1),
        (b"TEST:panic", 900),
        (b"TEST:internal", 900),
        (b"TEST:unsupported", 501),
        (b"plain text is not an image", 501),
        (b"TEST:sleep=3000", -1),
        (b"", 501),
    ] {
        let a = call(&t.router, upload(&api(&k), "imagefile", bad)).await;
        assert_error(&a, code);
    }
    // give the asynchronous releases a moment
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(t.store.get(&k).await.unwrap().unwrap().used, 0);
    for _ in 0..2 {
        assert_eq!(
            call(&t.router, upload(&api(&k), "imagefile", &tiny_png(2, 2)))
                .await
                .code(),
            100
        );
    }
    assert_error(
        &call(&t.router, upload(&api(&k), "imagefile", &tiny_png(2, 2))).await,
        505,
    );
    assert_eq!(t.store.get(&k).await.unwrap().unwrap().used, 2);
}

#[tokio::test]
async fn abandoned_request_gives_its_reservation_back() {
    let t = app().await;
    let k = t
        .store
        .add("q", Some(1), None, unix_now())
        .await
        .unwrap()
        .key;
    // The client goes away while the image is being recognized.
    let r = tokio::time::timeout(
        Duration::from_millis(200),
        call(&t.router, upload(&api(&k), "imagefile", b"TEST:sleep=600")),
    )
    .await;
    assert!(r.is_err());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(t.store.get(&k).await.unwrap().unwrap().used, 0);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        call(&t.router, upload(&api(&k), "imagefile", &tiny_png(2, 2)))
            .await
            .code(),
        100
    );
}

#[tokio::test]
async fn demo_endpoint_needs_no_key_and_has_its_own_limits() {
    let t = app_with(AppConfig {
        demo_max_body: 2000,
        demo_rate: 0.1,
        demo_burst: 1,
        ..test_config()
    })
    .await;
    let png = tiny_png(5, 5);
    let a = call(
        &t.router,
        from_ip(upload(DEMO_PATH, "imagefile", &png), "192.0.2.1"),
    )
    .await;
    assert_eq!(a.code(), 100);
    assert_eq!(a.lines(), expected_lines(&png));
    assert!(a.json["Data"].get("Boxes").is_none());
    let a = call(
        &t.router,
        from_ip(upload(DEMO_PATH, "imagefile", &png), "192.0.2.1"),
    )
    .await;
    assert_error(&a, 429);
    // boxes on request
    let a = call(
        &t.router,
        from_ip(
            upload(&format!("{DEMO_PATH}?boxes=1"), "imagefile", &png),
            "192.0.2.2",
        ),
    )
    .await;
    assert_eq!(a.code(), 100);
    let boxes = a.json["Data"]["Boxes"].as_array().unwrap();
    assert_eq!(boxes.len(), 2);
    assert_eq!(boxes[0].as_array().unwrap().len(), 4);
    // smaller size limit than the keyed endpoint
    let mut big = png.clone();
    big.resize(3000, 0);
    let a = call(
        &t.router,
        from_ip(upload(DEMO_PATH, "imagefile", &big), "192.0.2.3"),
    )
    .await;
    assert_error(&a, 501);
    let a = call(&t.router, upload(&api(&t.key), "imagefile", &big)).await;
    assert_eq!(a.code(), 100);
}

#[tokio::test]
async fn wrong_method_is_a_json_501() {
    let t = app().await;
    let req = Request::get(api(&t.key)).body(Body::empty()).unwrap();
    let a = call(&t.router, req).await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&a, 501);
}

async fn get_text(t: &TestApp, path: &str) -> (StatusCode, String, String) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let resp = t
        .router
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, ct, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn health_ready_metrics_and_page() {
    let t = app().await;
    call(
        &t.router,
        upload(&api(&t.key), "imagefile", &tiny_png(2, 2)),
    )
    .await;
    call(&t.router, upload(&api(&t.key), "imagefile", b"TEST:panic")).await;
    let (s, _, b) = get_text(&t, "/healthz").await;
    assert_eq!((s, b.as_str()), (StatusCode::OK, "ok\n"));
    let (s, _, b) = get_text(&t, "/readyz").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, ct, m) = get_text(&t, "/metrics").await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/plain"));
    for needle in [
        "wenzi_requests_total{endpoint=\"api\",code=\"100\"} 1",
        "wenzi_requests_total{endpoint=\"api\",code=\"900\"} 1",
        "wenzi_stage_seconds_bucket{stage=\"queue_wait\",le=\"+Inf\"} 2",
        "wenzi_stage_seconds_count{stage=\"decode\"} 1",
        "wenzi_request_duration_seconds_count{endpoint=\"api\"} 2",
        "wenzi_queue_depth 0",
        "wenzi_workers_alive 2",
        "wenzi_in_flight_requests 0",
        "wenzi_worker_panics_total 1",
    ] {
        assert!(m.contains(needle), "missing {needle:?} in\n{m}");
    }
    let prefix = &t.key[..8];
    assert!(m.contains(&format!(
        "wenzi_key_requests_total{{key=\"{prefix}\",name=\"test\",code=\"100\"}} 1"
    )));
    let (s, ct, page) = get_text(&t, "/").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ct, "text/html; charset=utf-8");
    assert!(page.contains("imagestreamocr/demo"));
    let (s, _, _) = get_text(&t, "/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cors_is_configurable() {
    use tower::ServiceExt;
    let t = app_with(AppConfig {
        cors_origins: vec!["https://app.example".into()],
        ..test_config()
    })
    .await;
    let pre = Request::builder()
        .method("OPTIONS")
        .uri(API_PATH)
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .body(Body::empty())
        .unwrap();
    let r = t.router.clone().oneshot(pre).await.unwrap();
    assert_eq!(
        r.headers().get("access-control-allow-origin").unwrap(),
        "https://app.example"
    );
    let mut req = upload(&api(&t.key), "imagefile", &tiny_png(2, 2));
    req.headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    let r = t.router.clone().oneshot(req).await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // without configuration: no CORS headers
    let t = app().await;
    let mut req = upload(&api(&t.key), "imagefile", &tiny_png(2, 2));
    req.headers_mut()
        .insert("origin", "https://app.example".parse().unwrap());
    let r = t.router.clone().oneshot(req).await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn disabled_demo_is_gone() {
    let t = app_with(AppConfig {
        demo: false,
        ..test_config()
    })
    .await;
    use tower::ServiceExt;
    let r = t
        .router
        .clone()
        .oneshot(upload(DEMO_PATH, "imagefile", &tiny_png(2, 2)))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
