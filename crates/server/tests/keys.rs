//! Key store: SQLite always; the same tests on PostgreSQL when WENZI_PG_URL is set
//! (e.g. postgres://postgres@127.0.0.1:5432/postgres; each test creates its own database).

use std::sync::atomic::{AtomicU32, Ordering};

use wenzi_server::store::{generate_key, parse_expires, KeyStatus};
use wenzi_server::{keys_command_to, KeyStore, KeysArgs};

struct Db {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

static N: AtomicU32 = AtomicU32::new(0);

/// Fresh databases to run a test on: a SQLite file, plus a new PostgreSQL database when
/// WENZI_PG_URL is set.
async fn databases() -> Vec<Db> {
    let dir = tempfile::tempdir().unwrap();
    let mut v = vec![Db {
        url: dir.path().join("k.db").to_str().unwrap().to_string(),
        _dir: Some(dir),
    }];
    if let Ok(admin) = std::env::var("WENZI_PG_URL") {
        use sqlx::Connection;
        let name = format!(
            "wenzi_test_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst),
            wenzi_server::store::unix_now()
        );
        let mut c = sqlx::PgConnection::connect(&admin)
            .await
            .expect("WENZI_PG_URL");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .unwrap();
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b.to_string(), format!("?{q}")),
            None => (admin.clone(), String::new()),
        };
        let base = &base[..base.rfind('/').unwrap()];
        v.push(Db {
            url: format!("{base}/{name}{query}"),
            _dir: None,
        });
    } else if std::env::var("WENZI_REQUIRE_PG").is_ok() {
        panic!("WENZI_REQUIRE_PG is set but WENZI_PG_URL is not");
    }
    v
}

#[tokio::test]
async fn add_get_list_and_key_format() {
    for db in databases().await {
        let s = KeyStore::open(&db.url).await.unwrap();
        let a = s.add("alice", Some(10), None, 1000).await.unwrap();
        let b = s.add("bob", None, Some(5000), 1001).await.unwrap();
        assert_eq!(a.key.len(), 32);
        assert!(a
            .key
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a.key, b.key);
        assert_eq!(s.get(&a.key).await.unwrap().unwrap(), a);
        assert_eq!(s.list().await.unwrap(), vec![a.clone(), b.clone()]);
        assert_eq!(s.get("nope").await.unwrap(), None);
        assert_eq!(s.check("nope", 0).await.unwrap(), KeyStatus::NotFound);
        assert!(s.insert(&a.key, "dup", None, None, 0).await.is_err());
        assert!(s.add("neg", Some(-1), None, 0).await.is_err());
        s.close().await;
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        assert!(seen.insert(generate_key().unwrap()));
    }
}

#[tokio::test]
async fn expiry_edges() {
    for db in databases().await {
        let s = KeyStore::open(&db.url).await.unwrap();
        let exp = 1_700_000_000;
        let k = s.add("e", None, Some(exp), 0).await.unwrap().key;
        assert_eq!(s.check(&k, exp - 1).await.unwrap(), KeyStatus::Ok);
        assert_eq!(s.check(&k, exp).await.unwrap(), KeyStatus::Expired);
        assert_eq!(s.check(&k, exp + 1).await.unwrap(), KeyStatus::Expired);
        assert_eq!(s.reserve(&k, exp).await.unwrap(), KeyStatus::Expired);
        assert_eq!(s.get(&k).await.unwrap().unwrap().used, 0);
        assert_eq!(s.reserve(&k, exp - 1).await.unwrap(), KeyStatus::Ok);
        assert_eq!(s.get(&k).await.unwrap().unwrap().used, 1);
        // disabled wins over expired; expired wins over quota
        let q = s.add("q", Some(0), Some(exp), 0).await.unwrap().key;
        assert_eq!(
            s.check(&q, exp - 1).await.unwrap(),
            KeyStatus::QuotaExceeded
        );
        assert_eq!(s.check(&q, exp).await.unwrap(), KeyStatus::Expired);
        s.set_enabled(&q, false).await.unwrap();
        assert_eq!(s.check(&q, exp).await.unwrap(), KeyStatus::Disabled);
        s.close().await;
    }
}

#[test]
fn expires_argument_forms() {
    // A bare date: valid through that day (UTC), expires at the next midnight UTC.
    let d = parse_expires("2025-06-01").unwrap();
    assert_eq!(d, 1_748_822_400); // 2025-06-02T00:00:00Z
    assert_eq!(parse_expires("2025-12-31").unwrap(), 1_767_225_600); // 2026-01-01T00:00:00Z
    assert_eq!(
        parse_expires("2025-06-01T00:00:00Z").unwrap(),
        1_748_736_000
    );
    assert_eq!(
        parse_expires("2025-06-01T08:00:00+08:00").unwrap(),
        1_748_736_000
    );
    assert_eq!(parse_expires("2025-06-01 00:00:00").unwrap(), 1_748_736_000);
    assert!(parse_expires("tomorrow").is_err());
    assert!(parse_expires("2025-02-30").is_err());
}

#[tokio::test]
async fn reservations_are_exact_under_concurrency() {
    for db in databases().await {
        let s = KeyStore::open(&db.url).await.unwrap();
        let k = s.add("c", Some(25), None, 0).await.unwrap().key;
        let mut tasks = Vec::new();
        for _ in 0..120 {
            let s = s.clone();
            let k = k.clone();
            tasks.push(tokio::spawn(async move { s.reserve(&k, 1).await.unwrap() }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                KeyStatus::Ok => ok += 1,
                KeyStatus::QuotaExceeded => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(ok, 25, "{}", db.url);
        assert_eq!(s.get(&k).await.unwrap().unwrap().used, 25);
        // releases make room again, never below zero
        s.release(&k).await.unwrap();
        assert_eq!(s.reserve(&k, 1).await.unwrap(), KeyStatus::Ok);
        assert_eq!(s.reserve(&k, 1).await.unwrap(), KeyStatus::QuotaExceeded);
        let z = s.add("z", None, None, 0).await.unwrap().key;
        s.release(&z).await.unwrap();
        assert_eq!(s.get(&z).await.unwrap().unwrap().used, 0);
        s.close().await;
    }
}

#[tokio::test]
async fn two_handles_share_one_quota() {
    // Two "instances" (separate pools) on the same database.
    for db in databases().await {
        let s1 = KeyStore::open(&db.url).await.unwrap();
        let s2 = KeyStore::open(&db.url).await.unwrap();
        let k = s1.add("shared", Some(30), None, 0).await.unwrap().key;
        let mut tasks = Vec::new();
        for i in 0..100 {
            let s = if i % 2 == 0 { s1.clone() } else { s2.clone() };
            let k = k.clone();
            tasks.push(tokio::spawn(async move {
                s.reserve(&k, 1).await.unwrap() == KeyStatus::Ok
            }));
        }
        let mut ok = 0;
        for t in tasks {
            ok += usize::from(t.await.unwrap());
        }
        assert_eq!(ok, 30);
        s1.close().await;
        s2.close().await;
    }
}

#[tokio::test]
async fn initial_key_only_when_empty() {
    for db in databases().await {
        let s = KeyStore::open(&db.url).await.unwrap();
        let k = s.ensure_initial_key(5).await.unwrap().unwrap();
        assert_eq!(k.name, "default");
        assert_eq!(k.quota, None);
        assert!(s.ensure_initial_key(6).await.unwrap().is_none());
        assert_eq!(s.count().await.unwrap(), 1);
        s.close().await;
    }
}

async fn keys_cmd(db: &str, args: &[&str]) -> anyhow::Result<String> {
    use clap::Parser;
    #[derive(Parser)]
    struct W {
        #[command(flatten)]
        k: KeysArgs,
    }
    let mut argv = vec!["keys", "--database", db];
    argv.extend_from_slice(args);
    let w = W::try_parse_from(argv)?;
    let mut out = Vec::new();
    keys_command_to(&w.k, &mut out).await?;
    Ok(String::from_utf8(out).unwrap())
}

#[tokio::test]
async fn keys_commands() {
    for db in databases().await {
        let key = keys_cmd(
            &db.url,
            &[
                "add",
                "--name",
                "acme",
                "--quota",
                "3",
                "--expires",
                "2999-01-31",
            ],
        )
        .await
        .unwrap();
        let key = key.trim().to_string();
        assert_eq!(key.len(), 32);
        let list = keys_cmd(&db.url, &["list"]).await.unwrap();
        assert!(
            list.contains(&key)
                && list.contains("acme")
                && list.contains("2999-02-01 00:00:00 UTC"),
            "{list}"
        );
        let usage = keys_cmd(&db.url, &["usage", &key]).await.unwrap();
        assert!(
            usage.contains("used:       0") && usage.contains("remaining:  3"),
            "{usage}"
        );
        keys_cmd(&db.url, &["disable", &key]).await.unwrap();
        let usage = keys_cmd(&db.url, &["usage", &key]).await.unwrap();
        assert!(usage.contains("state:      disabled"), "{usage}");
        keys_cmd(&db.url, &["enable", &key]).await.unwrap();
        keys_cmd(&db.url, &["set-quota", &key, "unlimited"])
            .await
            .unwrap();
        keys_cmd(&db.url, &["set-expires", &key, "never"])
            .await
            .unwrap();
        let usage = keys_cmd(&db.url, &["usage", &key]).await.unwrap();
        assert!(
            usage.contains("state:      active")
                && usage.contains("quota:      unlimited")
                && usage.contains("expires_at: never"),
            "{usage}"
        );
        assert!(keys_cmd(&db.url, &["disable", "nope"]).await.is_err());
        assert!(
            keys_cmd(&db.url, &["add", "--name", "x", "--expires", "soon"])
                .await
                .is_err()
        );
        let unlimited = keys_cmd(&db.url, &["add", "--name", "u"]).await.unwrap();
        let list = keys_cmd(&db.url, &["list"]).await.unwrap();
        assert!(
            list.contains(unlimited.trim()) && list.contains("unlimited"),
            "{list}"
        );
    }
}
