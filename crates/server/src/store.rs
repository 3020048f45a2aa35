//! App keys and quotas in SQLite or PostgreSQL, through one code path (`sqlx::Any`).
//!
//! Table `wenzi_keys` (portable types only, identical DDL on both databases):
//!
//! | column     | type            | meaning                                              |
//! |------------|-----------------|------------------------------------------------------|
//! | key        | TEXT PRIMARY KEY| 32 lowercase hex chars from the OS CSPRNG            |
//! | name       | TEXT            | free text                                            |
//! | created    | BIGINT          | Unix seconds (UTC)                                   |
//! | expires_at | BIGINT NULL     | Unix seconds (UTC); expired when `expires_at <= now` |
//! | quota      | BIGINT NULL     | total successful requests allowed; NULL = unlimited  |
//! | used       | BIGINT          | successful requests so far                           |
//! | enabled    | BIGINT          | 1 = enabled, 0 = disabled                            |
//!
//! Counting is exact under concurrency and across server instances sharing one database:
//! a request reserves one unit with a single conditional `UPDATE ... RETURNING` before
//! recognition, and gives it back (`used = used - 1`) when the answer is not 100.

use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

/// Longest appkey the server looks up; longer ones are answered 504 without a query.
pub const MAX_KEY_LEN: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

/// One app key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub key: String,
    pub name: String,
    pub created: i64,
    pub expires_at: Option<i64>,
    pub quota: Option<i64>,
    pub used: i64,
    pub enabled: bool,
}

impl KeyRecord {
    /// Classify the key at time `now` (Unix seconds).
    pub fn status(&self, now: i64) -> KeyStatus {
        if !self.enabled {
            KeyStatus::Disabled
        } else if self.expires_at.is_some_and(|e| e <= now) {
            KeyStatus::Expired
        } else if self.quota.is_some_and(|q| self.used >= q) {
            KeyStatus::QuotaExceeded
        } else {
            KeyStatus::Ok
        }
    }
}

/// What a key lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStatus {
    Ok,
    NotFound,
    Disabled,
    Expired,
    QuotaExceeded,
}

/// Handle to the key database. Cheap to clone.
#[derive(Clone, Debug)]
pub struct KeyStore {
    pool: AnyPool,
    kind: DbKind,
}

static DRIVERS: Once = Once::new();

/// Turn `--database` into a sqlx URL: `postgres://...`/`postgresql://...` and `sqlite:...`
/// are used as they are; anything else is a SQLite file path, created if missing.
pub fn database_url(database: &str) -> (String, DbKind) {
    let lower = database.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        (database.to_string(), DbKind::Postgres)
    } else if lower.starts_with("sqlite:") {
        (database.to_string(), DbKind::Sqlite)
    } else {
        (format!("sqlite://{database}?mode=rwc"), DbKind::Sqlite)
    }
}

const SELECT_COLS: &str = "key, name, created, expires_at, quota, used, enabled";

fn row_to_record(row: &AnyRow) -> Result<KeyRecord> {
    Ok(KeyRecord {
        key: row.try_get("key")?,
        name: row.try_get("name")?,
        created: row.try_get("created")?,
        expires_at: row.try_get("expires_at")?,
        quota: row.try_get("quota")?,
        used: row.try_get("used")?,
        enabled: row.try_get::<i64, _>("enabled")? != 0,
    })
}

impl KeyStore {
    /// Connect (creating the SQLite file if needed) and create the table if missing.
    pub async fn open(database: &str) -> Result<Self> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let (url, kind) = database_url(database);
        let max = match kind {
            DbKind::Sqlite => 4,
            DbKind::Postgres => 16,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if kind == DbKind::Sqlite {
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let store = KeyStore { pool, kind };
        store.migrate().await?;
        Ok(store)
    }

    pub fn kind(&self) -> DbKind {
        self.kind
    }

    async fn migrate(&self) -> Result<()> {
        if self.kind == DbKind::Sqlite {
            // Readers do not block the writer; persistent in the file.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&self.pool)
                .await?;
        }
        let ddl = "CREATE TABLE IF NOT EXISTS wenzi_keys (
            key TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            created BIGINT NOT NULL,
            expires_at BIGINT,
            quota BIGINT,
            used BIGINT NOT NULL DEFAULT 0,
            enabled BIGINT NOT NULL DEFAULT 1
        )";
        // Two instances starting at once on PostgreSQL can race on CREATE TABLE IF NOT EXISTS
        // (unique violation in the catalog); the loser simply retries.
        let mut last = None;
        for _ in 0..5 {
            match sqlx::query(ddl).execute(&self.pool).await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Err(last.expect("loop ran").into())
    }

    /// Is the database reachable?
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Option<KeyRecord>> {
        if key.len() > MAX_KEY_LEN {
            return Ok(None);
        }
        let sql = format!("SELECT {SELECT_COLS} FROM wenzi_keys WHERE key = $1");
        let row = sqlx::query(&sql)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_record).transpose()
    }

    /// Read-only check of a key at time `now` (Unix seconds).
    pub async fn check(&self, key: &str, now: i64) -> Result<KeyStatus> {
        Ok(match self.get(key).await? {
            None => KeyStatus::NotFound,
            Some(rec) => rec.status(now),
        })
    }

    /// Atomically reserve one request of the key's quota. Returns `Ok` when reserved;
    /// otherwise why not (and nothing was reserved).
    pub async fn reserve(&self, key: &str, now: i64) -> Result<KeyStatus> {
        if key.len() > MAX_KEY_LEN {
            return Ok(KeyStatus::NotFound);
        }
        let row = sqlx::query(
            "UPDATE wenzi_keys SET used = used + 1
             WHERE key = $1 AND enabled = 1
               AND (quota IS NULL OR used < quota)
               AND (expires_at IS NULL OR expires_at > $2)
             RETURNING used",
        )
        .bind(key)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if row.is_some() {
            return Ok(KeyStatus::Ok);
        }
        // Not reserved: say why. If the key looks fine now, the last unit was taken
        // between the two statements.
        Ok(match self.check(key, now).await? {
            KeyStatus::Ok => KeyStatus::QuotaExceeded,
            other => other,
        })
    }

    /// Give back one reserved unit (the request was not answered 100).
    pub async fn release(&self, key: &str) -> Result<()> {
        sqlx::query("UPDATE wenzi_keys SET used = used - 1 WHERE key = $1 AND used > 0")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Create a key with a fresh random value.
    pub async fn add(
        &self,
        name: &str,
        quota: Option<i64>,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<KeyRecord> {
        let key = generate_key()?;
        self.insert(&key, name, quota, expires_at, now).await
    }

    /// Insert a key with a given value (tests, imports).
    pub async fn insert(
        &self,
        key: &str,
        name: &str,
        quota: Option<i64>,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<KeyRecord> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(StoreError::Invalid(format!(
                "a key must have 1..={MAX_KEY_LEN} characters"
            )));
        }
        if quota.is_some_and(|q| q < 0) {
            return Err(StoreError::Invalid("quota must be >= 0".into()));
        }
        sqlx::query(
            "INSERT INTO wenzi_keys (key, name, created, expires_at, quota, used, enabled)
             VALUES ($1, $2, $3, $4, $5, 0, 1)",
        )
        .bind(key)
        .bind(name)
        .bind(now)
        .bind(expires_at)
        .bind(quota)
        .execute(&self.pool)
        .await?;
        Ok(KeyRecord {
            key: key.to_string(),
            name: name.to_string(),
            created: now,
            expires_at,
            quota,
            used: 0,
            enabled: true,
        })
    }

    pub async fn list(&self) -> Result<Vec<KeyRecord>> {
        let sql = format!("SELECT {SELECT_COLS} FROM wenzi_keys ORDER BY created, key");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(row_to_record).collect()
    }

    pub async fn count(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM wenzi_keys")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")?)
    }

    /// Enable or disable a key; false if there is no such key.
    pub async fn set_enabled(&self, key: &str, enabled: bool) -> Result<bool> {
        let r = sqlx::query("UPDATE wenzi_keys SET enabled = $1 WHERE key = $2")
            .bind(i64::from(enabled))
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Set (or clear) the quota; false if there is no such key.
    pub async fn set_quota(&self, key: &str, quota: Option<i64>) -> Result<bool> {
        let r = sqlx::query("UPDATE wenzi_keys SET quota = $1 WHERE key = $2")
            .bind(quota)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// Set (or clear) the expiry; false if there is no such key.
    pub async fn set_expires(&self, key: &str, expires_at: Option<i64>) -> Result<bool> {
        let r = sqlx::query("UPDATE wenzi_keys SET expires_at = $1 WHERE key = $2")
            .bind(expires_at)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    /// If the table is empty, create one unlimited key named "default" and return it.
    pub async fn ensure_initial_key(&self, now: i64) -> Result<Option<KeyRecord>> {
        if self.count().await? > 0 {
            return Ok(None);
        }
        let key = generate_key()?;
        // Guarded so that two instances racing on an empty database usually create one key;
        // in the rare case both insert, both keys are valid and printed by their instance.
        let r = sqlx::query(
            "INSERT INTO wenzi_keys (key, name, created, expires_at, quota, used, enabled)
             SELECT $1, $2, $3, NULL, NULL, 0, 1
             WHERE NOT EXISTS (SELECT 1 FROM wenzi_keys)",
        )
        .bind(&key)
        .bind("default")
        .bind(now)
        .execute(&self.pool)
        .await?;
        if r.rows_affected() == 0 {
            return Ok(None);
        }
        self.get(&key).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// 32 lowercase hex characters (128 bits) from the operating system's CSPRNG.
pub fn generate_key() -> Result<String> {
    let mut buf = [0u8; 16];
    getrandom::getrandom(&mut buf)
        .map_err(|e| StoreError::Invalid(format!("OS random generator failed: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// Current time in Unix seconds.
pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Parse `--expires`: a bare date `YYYY-MM-DD` means the key is valid through that whole day
/// (UTC) and expires at the following midnight UTC; a full timestamp (`2025-12-31T18:00:00Z`,
/// `2025-12-31T18:00:00+08:00`, or `2025-12-31 18:00:00`, which is taken as UTC) is the exact
/// expiry instant. Returns Unix seconds.
pub fn parse_expires(s: &str) -> Result<i64> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let next = d
            .succ_opt()
            .ok_or_else(|| StoreError::Invalid(format!("date out of range: {s}")))?;
        return Ok(next
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp());
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp());
    }
    for fmt in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc().timestamp());
        }
    }
    Err(StoreError::Invalid(format!(
        "cannot read expiry {s:?}: use YYYY-MM-DD (valid through that day, UTC) or an RFC 3339 timestamp"
    )))
}

/// Format Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_ts(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| t.to_string())
}
