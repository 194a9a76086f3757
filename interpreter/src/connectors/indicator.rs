//! Indicators as the embedded connectors compare them: refanged, then normalised
//! (lowercase domains and schemes, canonical IP text, default ports dropped).

use std::net::IpAddr;

/// Undo the usual defanging: `hxxp://`, `[.]`, `(.)`, `[dot]`, `[:]`, `[at]`, ...
pub fn refang(text: &str) -> String {
    const PAIRS: &[(&str, &str)] = &[
        ("[://]", "://"),
        ("[:]", ":"),
        ("[.]", "."),
        ("(.)", "."),
        ("{.}", "."),
        ("[dot]", "."),
        ("(dot)", "."),
        ("\\.", "."),
        ("[at]", "@"),
        ("(at)", "@"),
        ("[@]", "@"),
        ("[/]", "/"),
    ];
    let mut out = text.trim().to_owned();
    for (from, to) in PAIRS {
        if out.to_ascii_lowercase().contains(from) {
            out = replace_ignore_case(&out, from, to);
        }
    }
    for (from, to) in [("hxxps://", "https://"), ("hxxp://", "http://"), ("fxp://", "ftp://")] {
        if out.to_ascii_lowercase().starts_with(from) {
            out = format!("{to}{}", out.get(from.len()..).unwrap_or(""));
        }
    }
    out
}

fn replace_ignore_case(text: &str, from: &str, to: &str) -> String {
    // `from` is ASCII, so lowercasing keeps byte offsets aligned.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, _) in lower.match_indices(from) {
        out.push_str(text.get(last..i).unwrap_or(""));
        out.push_str(to);
        last = i + from.len();
    }
    out.push_str(text.get(last..).unwrap_or(""));
    out
}

/// Strip the wrappers indicators are often quoted in: `<...>`, quotes, `mailto:`.
fn unwrap_text(text: &str) -> String {
    let refanged = refang(text);
    let t = refanged.trim().trim_matches(|c| c == '<' || c == '>' || c == '"' || c == '\'');
    let t = t.strip_prefix("mailto:").unwrap_or(t);
    t.trim().to_owned()
}

pub fn normalize_domain(text: &str) -> Option<String> {
    let d = unwrap_text(text).to_lowercase();
    let d = d.trim_end_matches('.');
    let valid = !d.is_empty()
        && d.len() <= 253
        && d.contains('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        });
    valid.then(|| d.to_owned())
}

/// The domain and each parent domain that still has a dot:
/// `a.b.example.org` → `a.b.example.org`, `b.example.org`, `example.org`.
pub fn domain_and_parents(domain: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = domain;
    while rest.contains('.') {
        out.push(rest.to_owned());
        match rest.split_once('.') {
            Some((_, parent)) => rest = parent,
            None => break,
        }
    }
    out
}

pub fn normalize_ip(text: &str) -> Option<IpAddr> {
    let t = unwrap_text(text);
    let t = t.trim_start_matches('[').trim_end_matches(']');
    t.parse().ok()
}

/// An address block such as `198.51.100.0/24` or `2001:db8::/32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Option<Cidr> {
        let t = unwrap_text(text);
        let (addr, prefix) = t.split_once('/')?;
        let addr: IpAddr = addr.trim().parse().ok()?;
        let prefix: u8 = prefix.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then(|| Cidr { network: mask(addr, prefix), prefix })
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        addr.is_ipv4() == self.network.is_ipv4() && mask(addr, self.prefix) == self.network
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

fn mask(addr: IpAddr, prefix: u8) -> IpAddr {
    match addr {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            IpAddr::V6((bits & m).into())
        }
    }
}

pub fn normalize_email(text: &str) -> Option<String> {
    let e = unwrap_text(text).to_lowercase();
    let (local, domain) = e.rsplit_once('@')?;
    (!local.is_empty() && !local.contains(char::is_whitespace) && normalize_domain(domain).is_some())
        .then(|| e.clone())
}

pub fn normalize_hash(text: &str) -> Option<String> {
    let h = text.trim().to_ascii_lowercase();
    (matches!(h.len(), 32 | 40 | 64 | 128) && h.chars().all(|c| c.is_ascii_hexdigit())).then_some(h)
}

/// A URL split into the parts that matter for matching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub scheme: String,
    /// Lowercase host name or IP text (IPv6 without brackets).
    pub host: String,
    pub port: Option<u16>,
    /// Path and query, at least `/`; the fragment is dropped.
    pub rest: String,
}

impl Url {
    /// Parse a URL, refanged; a URL without a scheme is taken as `http://`.
    pub fn parse(text: &str) -> Option<Url> {
        let t = unwrap_text(text);
        let (scheme, after) = match t.split_once("://") {
            Some((s, a))
                if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
            {
                (s.to_ascii_lowercase(), a)
            }
            Some(_) => return None,
            None => ("http".to_owned(), t.as_str()),
        };
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let authority = after.get(..end)?;
        let mut rest = after.get(end..)?.to_owned();
        if let Some(hash) = rest.find('#') {
            rest.truncate(hash);
        }
        if !rest.starts_with('/') {
            rest.insert(0, '/');
        }
        // `http://trusted.example@evil.example/` goes to evil.example.
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
        let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
            let (h, after_bracket) = v6.split_once(']')?;
            let port = match after_bracket.strip_prefix(':') {
                Some(p) => Some(p.parse().ok()?),
                None if after_bracket.is_empty() => None,
                None => return None,
            };
            (h.to_ascii_lowercase(), port)
        } else {
            match host_port.rsplit_once(':') {
                Some((h, p)) => (h.to_lowercase(), Some(p.parse().ok()?)),
                None => (host_port.to_lowercase(), None),
            }
        };
        let host = host.trim_end_matches('.').to_owned();
        let host_ok = normalize_domain(&host).is_some() || host.parse::<IpAddr>().is_ok();
        if !host_ok {
            return None;
        }
        let default_port = match scheme.as_str() {
            "http" => Some(80),
            "https" => Some(443),
            "ftp" => Some(21),
            _ => None,
        };
        let port = port.filter(|p| Some(*p) != default_port);
        Some(Url { scheme, host, port, rest })
    }

    pub fn host_ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        match self.port {
            Some(port) => write!(f, "{}://{host}:{port}{}", self.scheme, self.rest),
            None => write!(f, "{}://{host}{}", self.scheme, self.rest),
        }
    }
}

pub fn normalize_url(text: &str) -> Option<String> {
    Url::parse(text).map(|u| u.to_string())
}

/// What kind of indicator a bare line of a plain-list feed is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Url,
    Domain,
    Ip,
    Cidr,
    Email,
    Hash,
}

impl Kind {
    pub fn from_name(name: &str) -> Option<Kind> {
        Some(match name {
            "url" => Kind::Url,
            "domain" => Kind::Domain,
            "ip" => Kind::Ip,
            "cidr" => Kind::Cidr,
            "email" => Kind::Email,
            "hash" => Kind::Hash,
            _ => return None,
        })
    }
}

/// Classify and normalise one indicator written without a type.
pub fn classify(text: &str) -> Option<(Kind, String)> {
    let t = unwrap_text(text);
    if t.is_empty() {
        return None;
    }
    if let Some(h) = normalize_hash(&t) {
        return Some((Kind::Hash, h));
    }
    if let Some(ip) = normalize_ip(&t) {
        return Some((Kind::Ip, ip.to_string()));
    }
    if let Some(c) = Cidr::parse(&t) {
        return Some((Kind::Cidr, c.to_string()));
    }
    if t.contains("://") || t.contains('/') {
        return normalize_url(&t).map(|u| (Kind::Url, u));
    }
    if t.contains('@') {
        return normalize_email(&t).map(|e| (Kind::Email, e));
    }
    normalize_domain(&t).map(|d| (Kind::Domain, d))
}

/// Normalise an indicator of a known kind.
pub fn normalize(kind: Kind, text: &str) -> Option<String> {
    match kind {
        Kind::Url => normalize_url(text),
        Kind::Domain => normalize_domain(text),
        Kind::Ip => normalize_ip(text).map(|ip| ip.to_string()),
        Kind::Cidr => Cidr::parse(text).map(|c| c.to_string()),
        Kind::Email => normalize_email(text),
        Kind::Hash => normalize_hash(text),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn refangs() {
        assert_eq!(refang("hxxps://evil[.]example/x"), "https://evil.example/x");
        assert_eq!(refang("HXXP://a(.)b[DOT]c"), "http://a.b.c");
        assert_eq!(refang("bob[at]evil[.]example"), "bob@evil.example");
        assert_eq!(refang("10[.]0[.]0[.]1"), "10.0.0.1");
    }

    #[test]
    fn urls_normalise() {
        assert_eq!(normalize_url("HTTP://Evil.Example:80").unwrap(), "http://evil.example/");
        assert_eq!(
            normalize_url("hxxps://login.evil[.]example:8443/a/B?q=1#frag").unwrap(),
            "https://login.evil.example:8443/a/B?q=1"
        );
        let u = Url::parse("http://paypal.com@evil.example/login").unwrap();
        assert_eq!(u.host, "evil.example");
        assert_eq!(Url::parse("http://[2001:db8::1]:8080/").unwrap().host, "2001:db8::1");
        assert_eq!(normalize_url("evil.example/path").unwrap(), "http://evil.example/path");
        assert!(Url::parse("http://not a host/").is_none());
        assert!(Url::parse("http://x:notaport/").is_none());
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("198.51.100.77/24").unwrap();
        assert_eq!(c.to_string(), "198.51.100.0/24");
        assert!(c.contains("198.51.100.3".parse().unwrap()));
        assert!(!c.contains("198.51.101.3".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("2001:db8::/32").unwrap().contains("2001:db8:1::5".parse().unwrap()));
    }

    #[test]
    fn classifies_plain_lines() {
        assert_eq!(classify("Evil.Example.").unwrap(), (Kind::Domain, "evil.example".into()));
        assert_eq!(classify("203.0.113.9").unwrap(), (Kind::Ip, "203.0.113.9".into()));
        assert_eq!(classify("203.0.113.0/24").unwrap().0, Kind::Cidr);
        assert_eq!(classify("hxxp://bad[.]example/x").unwrap().0, Kind::Url);
        assert_eq!(classify("Payroll@Evil.example").unwrap(), (Kind::Email, "payroll@evil.example".into()));
        assert_eq!(classify(&"A".repeat(64)).unwrap(), (Kind::Hash, "a".repeat(64)));
        assert_eq!(classify("not an indicator"), None);
        assert_eq!(
            domain_and_parents("a.b.example.org"),
            vec!["a.b.example.org", "b.example.org", "example.org"]
        );
    }
}
