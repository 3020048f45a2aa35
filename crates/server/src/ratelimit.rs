//! Per-client-IP token buckets with bounded memory.
//!
//! Each client (an IPv4 address, or an IPv6 /64 prefix — one host usually owns a whole /64)
//! has a bucket of `burst` tokens refilled at `rate` tokens per second; a request takes one
//! token or is refused with the time until the next token. Memory is bounded: at most
//! `max_clients` buckets exist. A bucket that has refilled completely carries no information
//! and is dropped by [`RateLimiter::sweep`] (run periodically by the server); if the table is
//! still full when a new client arrives, idle-longest buckets in that shard are evicted.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Outcome of [`RateLimiter::check`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    Allow,
    /// Refused; a token will be available after this long.
    Deny(Duration),
}

#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
    shards: Vec<Mutex<HashMap<IpAddr, Bucket>>>,
}

/// The key a client is counted under.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

impl RateLimiter {
    /// `rate` tokens per second (<= 0 disables limiting), bucket size `burst` (at least 1),
    /// at most `max_clients` tracked clients.
    pub fn new(rate: f64, burst: u32, max_clients: usize) -> Self {
        RateLimiter {
            rate,
            burst: f64::from(burst.max(1)),
            per_shard: (max_clients / SHARDS).max(1),
            hasher: Default::default(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.rate > 0.0
    }

    fn shard(&self, ip: &IpAddr) -> &Mutex<HashMap<IpAddr, Bucket>> {
        &self.shards[(self.hasher.hash_one(ip) as usize) % SHARDS]
    }

    fn refill(&self, b: &Bucket, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(b.last).as_secs_f64();
        (b.tokens + dt * self.rate).min(self.burst)
    }

    /// Take one token for `ip` at time `now`.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Decision {
        if !self.enabled() {
            return Decision::Allow;
        }
        let key = client_key(ip);
        let mut map = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(&key) && map.len() >= self.per_shard {
            self.evict(&mut map, now);
        }
        let b = map.entry(key).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let tokens = self.refill(b, now);
        if tokens >= 1.0 {
            *b = Bucket {
                tokens: tokens - 1.0,
                last: now,
            };
            Decision::Allow
        } else {
            *b = Bucket { tokens, last: now };
            Decision::Deny(Duration::from_secs_f64((1.0 - tokens) / self.rate))
        }
    }

    fn evict(&self, map: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        map.retain(|_, b| self.refill(b, now) < self.burst);
        if map.len() < self.per_shard {
            return;
        }
        // Still full of active clients: drop the quarter idle longest.
        let mut lasts: Vec<Instant> = map.values().map(|b| b.last).collect();
        let k = (lasts.len() / 4).max(1);
        let (_, cut, _) = lasts.select_nth_unstable(k - 1);
        let cut = *cut;
        map.retain(|_, b| b.last > cut);
    }

    /// Drop buckets that have refilled completely (idle clients).
    pub fn sweep(&self, now: Instant) {
        for s in &self.shards {
            let mut map = s.lock().unwrap_or_else(|p| p.into_inner());
            map.retain(|_, b| self.refill(b, now) < self.burst);
            if map.capacity() > 64 && map.capacity() > 4 * map.len() {
                map.shrink_to_fit();
            }
        }
    }

    /// Number of clients tracked now.
    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_and_denies() {
        let rl = RateLimiter::new(5.0, 2, 1000);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(rl.check(ip, t0), Decision::Allow);
        assert_eq!(rl.check(ip, t0), Decision::Allow);
        match rl.check(ip, t0) {
            Decision::Deny(d) => assert!((d.as_secs_f64() - 0.2).abs() < 1e-6),
            d => panic!("{d:?}"),
        }
        assert_eq!(
            rl.check(ip, t0 + Duration::from_millis(200)),
            Decision::Allow
        );
        // another client is independent
        assert_eq!(rl.check("10.0.0.2".parse().unwrap(), t0), Decision::Allow);
    }

    #[test]
    fn memory_is_bounded() {
        let rl = RateLimiter::new(1.0, 5, 160);
        let t0 = Instant::now();
        for i in 0..10_000u32 {
            let ip = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            rl.check(ip, t0);
            assert!(rl.tracked() <= 160, "{}", rl.tracked());
        }
        rl.sweep(t0 + Duration::from_secs(10));
        assert_eq!(rl.tracked(), 0);
    }

    #[test]
    fn ipv6_counts_per_64() {
        let rl = RateLimiter::new(1.0, 1, 100);
        let t0 = Instant::now();
        assert_eq!(
            rl.check("2001:db8::1".parse().unwrap(), t0),
            Decision::Allow
        );
        assert!(matches!(
            rl.check("2001:db8::2".parse().unwrap(), t0),
            Decision::Deny(_)
        ));
        assert_eq!(
            rl.check("2001:db8:0:1::1".parse().unwrap(), t0),
            Decision::Allow
        );
    }

    #[test]
    fn disabled_allows_all() {
        let rl = RateLimiter::new(0.0, 1, 10);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..100 {
            assert_eq!(rl.check(ip, Instant::now()), Decision::Allow);
        }
        assert_eq!(rl.tracked(), 0);
    }
}
