//! Who the client is: the peer address, or the right-most untrusted `X-Forwarded-For` hop
//! when the peer is a trusted proxy; and the key its rate limits are kept under.

use std::net::IpAddr;

use hyper::header::{HeaderMap, HeaderName};

use crate::cidr::{canonical, mask, Cidr};

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client's address. `X-Forwarded-For` is believed only when the peer is trusted;
/// then hops are read from the right (the nearest proxy's word first) and the first one
/// that is not a trusted proxy is the client. A hop that does not parse ends the walk:
/// nothing to its left can be trusted.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = canonical(peer);
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let mut client = peer;
    let hops = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .rev()
        .flat_map(|value| value.to_str().unwrap_or("").rsplit(','));
    for hop in hops {
        let Some(ip) = parse_hop(hop) else {
            break;
        };
        client = ip;
        if !is_trusted(ip, trusted) {
            break;
        }
    }
    client
}

/// Whether `peer` is one of the trusted proxies.
pub fn is_trusted(peer: IpAddr, trusted: &[Cidr]) -> bool {
    trusted.iter().any(|cidr| cidr.contains(peer))
}

/// The resolved client, put in each request's extensions for handlers that count per
/// client (the rate limits get it directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// One hop: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<std::net::SocketAddr>()
        .ok()
        .map(|sa| canonical(sa.ip()))
}

/// The client `service::handle` named for `req`. Every request is named there, so the
/// fallback (all such requests sharing one address) is never taken.
pub fn addr_of(req: &crate::http::Request) -> IpAddr {
    req.extensions()
        .get::<ClientAddr>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.0)
}

/// The limit key of the client of `req`: its address, or its /64 for IPv6.
pub fn key_of(req: &crate::http::Request) -> IpAddr {
    limit_key(addr_of(req))
}

/// The rate-limit key: IPv4 as is; IPv6 by its /64, which one subscriber usually owns
/// whole (otherwise each of 2^64 addresses would get its own bucket).
pub fn limit_key(client: IpAddr) -> IpAddr {
    match canonical(client) {
        IpAddr::V6(_) => mask(client, 64),
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cidr::parse_trusted;
    use hyper::header::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn xff(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let headers = xff(&["203.0.113.9"]);
        assert_eq!(
            resolve(ip("198.51.100.1"), &headers, &[]),
            ip("198.51.100.1")
        );
        let trusted = parse_trusted("10.0.0.1").unwrap();
        assert_eq!(
            resolve(ip("198.51.100.1"), &headers, &trusted),
            ip("198.51.100.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let trusted = parse_trusted("127.0.0.1, 10.9.0.0/16").unwrap();
        let peer = ip("127.0.0.1");
        // The client may put anything on the left; only what our proxies added counts.
        let headers = xff(&["6.6.6.6, 1.1.1.1", "2.2.2.2, 10.9.1.1"]);
        assert_eq!(resolve(peer, &headers, &trusted), ip("2.2.2.2"));
        assert_eq!(
            resolve(peer, &xff(&["[2001:db8::7]:443"]), &trusted),
            ip("2001:db8::7")
        );
        // Only trusted hops: the farthest of them is the best we know.
        assert_eq!(resolve(peer, &xff(&["10.9.0.5"]), &trusted), ip("10.9.0.5"));
        // Garbage stops the walk at the last good hop.
        assert_eq!(
            resolve(peer, &xff(&["1.1.1.1, garbage, 10.9.0.5"]), &trusted),
            ip("10.9.0.5")
        );
        assert_eq!(resolve(peer, &xff(&["garbage"]), &trusted), peer);
        assert_eq!(resolve(peer, &HeaderMap::new(), &trusted), peer);
    }

    #[test]
    fn ipv6_clients_share_a_key_per_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            limit_key(ip("2001:db8:1:2:ffff::9")),
            limit_key(ip("2001:db8:1:2::1"))
        );
        assert_ne!(
            limit_key(ip("2001:db8:1:3::1")),
            limit_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(limit_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(limit_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }

    proptest::proptest! {
        #![proptest_config(crate::fuzz_config())]

        /// Any X-Forwarded-For: no panic; from an untrusted peer it changes nothing; from a
        /// trusted one the answer is the peer or an address the header named.
        #[test]
        fn forwarded_for_never_misleads(value in "[0-9a-f.:, \\[\\]]{0,60}|.{0,60}") {
            let Ok(header) = HeaderValue::from_str(&value) else { return Ok(()) };
            let mut headers = HeaderMap::new();
            headers.insert(X_FORWARDED_FOR, header);
            let peer = ip("192.0.2.10");
            proptest::prop_assert_eq!(resolve(peer, &headers, &[]), peer);
            let trusted = parse_trusted("192.0.2.0/24").unwrap();
            let client = resolve(peer, &headers, &trusted);
            let named = value.split(',').filter_map(parse_hop).any(|hop| hop == client);
            proptest::prop_assert!(client == peer || named);
        }
    }
}
