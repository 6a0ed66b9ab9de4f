//! The network address of the person a request is for (DESIGN §3, §5.8):
//! what the per-IP limit counts.

use std::net::{IpAddr, Ipv6Addr};

/// An end user's IPv4 or IPv6 address, as a client forwards it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndUserAddress(IpAddr);

impl EndUserAddress {
    /// A literal IPv4 or IPv6 address (no port, no zone, no list); `None`
    /// otherwise. IPv4-mapped IPv6 addresses are their IPv4 address.
    pub fn parse(text: &str) -> Option<Self> {
        let ip: IpAddr = text.trim().parse().ok()?;
        Some(Self(ip.to_canonical()))
    }

    /// What the per-IP limit keys on: the IPv4 address, or the IPv6 /64 its
    /// address is in (one subscriber's network: a device picks new addresses
    /// within it at will).
    pub fn limit_subject(&self) -> String {
        match self.0 {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                format!("{}/64", Ipv6Addr::from(network))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(text: &str) -> Option<String> {
        EndUserAddress::parse(text).map(|a| a.limit_subject())
    }

    #[test]
    fn rule_5_8_ipv4_counts_per_address_and_ipv6_per_64() {
        assert_eq!(subject(" 203.0.113.7 ").as_deref(), Some("203.0.113.7"));
        assert_eq!(
            subject("2001:db8:aa:bb:1:2:3:4").as_deref(),
            Some("2001:db8:aa:bb::/64")
        );
        assert_eq!(
            subject("2001:db8:aa:bb:ffff::9"),
            subject("2001:db8:aa:bb::1"),
            "one /64, one subject"
        );
        assert_ne!(subject("2001:db8:aa:bc::1"), subject("2001:db8:aa:bb::1"));
        assert_eq!(
            subject("::ffff:203.0.113.7").as_deref(),
            Some("203.0.113.7")
        );
    }

    #[test]
    fn rule_5_8_only_literal_addresses_are_end_user_addresses() {
        for bad in [
            "",
            "203.0.113.7:443",
            "203.0.113.7, 198.51.100.1",
            "[2001:db8::1]",
            "fe80::1%eth0",
            "203.0.113",
            "localhost",
            "2001:db8::/64",
        ] {
            assert_eq!(EndUserAddress::parse(bad), None, "{bad:?}");
        }
    }
}
