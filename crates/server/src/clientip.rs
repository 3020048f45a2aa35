//! Which IP address a request comes from.
//!
//! The socket peer, unless the peer is a configured trusted proxy: then the right-most
//! address of `X-Forwarded-For` that is not itself a trusted proxy (proxies append the
//! address they received the connection from, so everything left of that may be forged by
//! the client), or `X-Real-IP` when there is no `X-Forwarded-For`.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

#[derive(Debug, Clone, Default)]
pub struct ClientIpResolver {
    trusted: Vec<IpNet>,
}

/// Parse `1.2.3.4`, `10.0.0.0/8`, `::1` or `fd00::/8`.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<IpNet>() {
        return Ok(n.trunc());
    }
    s.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("not an IP address or CIDR network: {s:?}"))
}

impl ClientIpResolver {
    pub fn new(trusted: Vec<IpNet>) -> Self {
        ClientIpResolver { trusted }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        let chain: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(parse_forwarded_ip)
            .collect();
        if !chain.is_empty() {
            for ip in chain.iter().rev() {
                if !self.is_trusted(*ip) {
                    return *ip;
                }
            }
            return chain[0];
        }
        headers
            .get("x-real-ip")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_forwarded_ip)
            .unwrap_or(peer)
    }
}

fn parse_forwarded_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    // "1.2.3.4:5678" or "[::1]:5678"
    s.parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, v.parse().unwrap());
        }
        m
    }

    #[test]
    fn untrusted_peer_is_client() {
        let r = ClientIpResolver::new(vec![parse_net("127.0.0.1").unwrap()]);
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let hm = h(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(r.resolve(peer, &hm), peer);
    }

    #[test]
    fn trusted_proxy_chain() {
        let r = ClientIpResolver::new(vec![
            parse_net("127.0.0.0/8").unwrap(),
            parse_net("10.0.0.0/8").unwrap(),
        ]);
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let hm = h(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.1.2.3")]);
        assert_eq!(
            r.resolve(peer, &hm),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        let hm = h(&[("x-real-ip", "198.51.100.8")]);
        assert_eq!(
            r.resolve(peer, &hm),
            "198.51.100.8".parse::<IpAddr>().unwrap()
        );
        assert_eq!(r.resolve(peer, &HeaderMap::new()), peer);
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        let hm = h(&[("x-forwarded-for", "198.51.100.9")]);
        assert_eq!(
            r.resolve(mapped, &hm),
            "198.51.100.9".parse::<IpAddr>().unwrap()
        );
    }
}
