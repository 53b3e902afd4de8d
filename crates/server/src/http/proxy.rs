//! Behind a reverse proxy: who the client is, and which address they opened.
//!
//! A proxy in front of Banter (nginx, Caddy, a load balancer) connects from its own address and
//! passes the client's in `X-Forwarded-For`, the scheme in `X-Forwarded-Proto` and the host in
//! `X-Forwarded-Host`. Those headers are believed only from `TRUSTED_PROXIES`: from anyone else
//! they are the client's word, and ignored. The client's address is the right-most
//! `X-Forwarded-For` entry that is not itself a trusted proxy (entries further left were
//! written by the client and prove nothing).

use std::net::{IpAddr, SocketAddr};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::HeaderMap,
    middleware::Next,
    response::Response,
};

/// An address or network (`10.0.0.0/8`, `::1`) proxies may connect from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Net {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("{s:?} is not an IP address or network"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{s:?}: bad prefix length"))?,
        };
        // An IPv4-mapped IPv6 network is the IPv4 network it maps (addresses are compared so).
        if let IpAddr::V6(v6) = addr {
            if let Some(v4) = v6.to_ipv4_mapped() {
                let prefix = prefix
                    .checked_sub(96)
                    .ok_or_else(|| format!("{s:?}: an IPv4-mapped network needs a prefix of 96 or more"))?;
                return Ok(Self { addr: IpAddr::V4(v4), prefix });
            }
        }
        Ok(Self { addr, prefix })
    }
}

impl Net {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32u8),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => (u128::from(u32::from(v4)), 32),
                None => (u128::from(v6), 128),
            },
        };
        let ((net, net_len), (ip, ip_len)) = (bits(self.addr), bits(ip));
        if net_len != ip_len {
            return false;
        }
        let Some(host_bits) = net_len.checked_sub(self.prefix) else { return false };
        let mask = u128::MAX.checked_shl(u32::from(host_bits)).unwrap_or(0);
        net & mask == ip & mask
    }
}

/// Where a request came from, as far as can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client's address (the proxy's own, if it sent no usable `X-Forwarded-For`).
    pub ip: IpAddr,
    /// The origin the client opened (`https://chat.example.com`), when a trusted proxy said so
    /// with `X-Forwarded-Proto` and `X-Forwarded-Host`.
    pub forwarded_origin: Option<String>,
    /// Straight from this machine: a loopback peer that sent no forwarding header (so not a
    /// proxy passing on someone else's request). Not limited per address.
    pub local: bool,
}

/// Works out the client's address from the peer and, if the peer is a trusted proxy, its
/// forwarding headers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[Net]) -> ClientAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    let forwarding = ["x-forwarded-for", "x-real-ip", "forwarded"].iter().any(|h| headers.contains_key(*h));
    let local = peer.is_loopback() && !forwarding;
    if !is_trusted(peer) {
        return ClientAddr { ip: peer, forwarded_origin: None, local };
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    // Every X-Forwarded-For header, in order, as one list; from the right, skip our proxies.
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut ip = peer;
    for entry in forwarded.iter().rev() {
        match entry.parse::<IpAddr>().or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip())) {
            Ok(hop) if is_trusted(hop) => ip = hop,
            Ok(hop) => {
                ip = hop;
                break;
            }
            // Garbage: nothing to its left can be trusted either.
            Err(_) => break,
        }
    }
    let proto = header("x-forwarded-proto").and_then(|p| p.split(',').next()).map(str::trim);
    let host = header("x-forwarded-host").and_then(|h| h.split(',').next()).map(str::trim);
    let forwarded_origin = match (proto, host) {
        (Some(proto @ ("http" | "https")), Some(host)) if !host.is_empty() => Some(format!("{proto}://{host}")),
        _ => None,
    };
    ClientAddr { ip, forwarded_origin, local }
}

/// Puts the request's [`ClientAddr`] in its extensions, for handlers and logs.
pub async fn client_addr(State(trusted): State<std::sync::Arc<[Net]>>, mut req: Request, next: Next) -> Response {
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(addr)| addr.ip());
    let client = resolve(peer, req.headers(), &trusted);
    tracing::Span::current().record("client", tracing::field::display(client.ip));
    req.extensions_mut().insert(client);
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<Net> {
        list.iter().map(|n| n.parse().expect("net")).collect()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"), v.parse().expect("value"));
        }
        h
    }

    #[test]
    fn networks_match_addresses() {
        let n: Net = "10.0.0.0/8".parse().expect("net");
        assert!(n.contains("10.1.2.3".parse().expect("ip")));
        assert!(!n.contains("11.0.0.1".parse().expect("ip")));
        assert!(n.contains("::ffff:10.0.0.1".parse().expect("ip")), "IPv4-mapped IPv6");
        let one: Net = "::1".parse().expect("net");
        assert!(one.contains("::1".parse().expect("ip")) && !one.contains("::2".parse().expect("ip")));
        let all: Net = "0.0.0.0/0".parse().expect("net");
        assert!(all.contains("203.0.113.9".parse().expect("ip")));
        // IPv4-mapped networks are their IPv4 networks; never "everything".
        let mapped: Net = "::ffff:10.0.0.0/104".parse().expect("net");
        assert!(mapped.contains("10.9.9.9".parse().expect("ip")));
        assert!(!mapped.contains("192.168.0.1".parse().expect("ip")));
        let host: Net = "::ffff:127.0.0.1".parse().expect("net");
        assert!(host.contains("127.0.0.1".parse().expect("ip")) && !host.contains("127.0.0.2".parse().expect("ip")));
        for bad in ["10.0.0.0/33", "nonsense", "::1/129", "10.0.0.1/", "::ffff:10.0.0.0/64"] {
            assert!(bad.parse::<Net>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let trusted = nets(&["127.0.0.1", "10.0.0.0/8"]);
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1, 203.0.113.7"),
            ("x-forwarded-for", "10.0.0.5"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "chat.example.com"),
        ]);
        // From a trusted proxy: the right-most address that is not one of ours.
        let c = resolve("127.0.0.1".parse().expect("ip"), &h, &trusted);
        assert_eq!(c.ip, "203.0.113.7".parse::<IpAddr>().expect("ip"), "1.1.1.1 was the client's own claim");
        assert_eq!(c.forwarded_origin.as_deref(), Some("https://chat.example.com"));
        // From anyone else: the headers are ignored.
        let c = resolve("198.51.100.1".parse().expect("ip"), &h, &trusted);
        assert_eq!(c, ClientAddr { ip: "198.51.100.1".parse().expect("ip"), forwarded_origin: None, local: false });
        // Straight from this machine, or a local proxy passing a request on.
        assert!(resolve("127.0.0.1".parse().expect("ip"), &HeaderMap::new(), &[]).local);
        assert!(!resolve("127.0.0.1".parse().expect("ip"), &h, &[]).local);
        assert!(!resolve("127.0.0.1".parse().expect("ip"), &h, &trusted).local);
        // Garbage stops the walk; a proxy that sent nothing is the client as far as we know.
        let c = resolve("127.0.0.1".parse().expect("ip"), &headers(&[("x-forwarded-for", "junk, 10.0.0.9")]), &trusted);
        assert_eq!(c.ip, "10.0.0.9".parse::<IpAddr>().expect("ip"));
        let c = resolve("127.0.0.1".parse().expect("ip"), &HeaderMap::new(), &trusted);
        assert_eq!(c.ip, "127.0.0.1".parse::<IpAddr>().expect("ip"));
        // Nothing trusted by default.
        let c = resolve("127.0.0.1".parse().expect("ip"), &h, &[]);
        assert_eq!(c.ip, "127.0.0.1".parse::<IpAddr>().expect("ip"));
    }
}
