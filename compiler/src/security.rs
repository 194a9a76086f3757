//! Validation of the security types (`ip cidr domain url email hash host user`).
//!
//! The same rules serve the compiler (a string literal where a security type is expected must
//! be valid, else `invalid-literal`) and the interpreter (`ip(s)` and friends, alert decoding).
//! Each error is a sentence that names the offending text and says what is wrong with it.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The names of the security types, in the order the language reference lists them.
pub const SECURITY_TYPES: &[&str] = &["ip", "cidr", "domain", "url", "email", "hash", "host", "user"];

/// Whether `name` is one of [`SECURITY_TYPES`].
pub fn is_security_type(name: &str) -> bool {
    SECURITY_TYPES.contains(&name)
}

/// Checks that `s` is a valid value of the security type `type_name`.
///
/// The error explains the problem in user words, e.g.
/// ``"`999.1.2.3` is not an IPv4 address: 999 is above 255"``.
pub fn validate(type_name: &str, s: &str) -> Result<(), String> {
    match crate::ir::SecurityKind::from_name(type_name) {
        Some(kind) => validate_kind(kind, s),
        None => Err(format!(
            "`{type_name}` is not a security type (expected one of: {})",
            SECURITY_TYPES.join(", ")
        )),
    }
}

/// [`validate`] for a security type known by kind rather than by name.
pub fn validate_kind(kind: crate::ir::SecurityKind, s: &str) -> Result<(), String> {
    use crate::ir::SecurityKind;
    match kind {
        SecurityKind::Ip => validate_ip(s),
        SecurityKind::Cidr => validate_cidr(s),
        SecurityKind::Domain => validate_domain(s),
        SecurityKind::Url => validate_url(s),
        SecurityKind::Email => validate_email(s),
        SecurityKind::Hash => validate_hash(s).map(|_| ()),
        SecurityKind::Host => validate_host(s),
        SecurityKind::User => validate_user(s),
    }
}

/// "`TEXT` is not a NOUN", the start of every validation message: written only when a
/// message is (validating a valid value builds no text).
struct NotA<'a> {
    text: &'a str,
    noun: &'static str,
}

impl std::fmt::Display for NotA<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is not {}", shown(self.text), self.noun)
    }
}

/// Shows user text inside an error message: quoted in backticks, shortened when very long,
/// with control characters escaped so the message stays on one line.
fn shown(s: &str) -> String {
    const MAX: usize = 80;
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == MAX {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    format!("`{out}`")
}

/// Describes a character for an error message (`a space`, `` `_` ``, `U+00E9 `é``).
fn describe_char(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        '\t' => "a tab".to_string(),
        '\n' | '\r' => "a line break".to_string(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

// ---------------------------------------------------------------------------------------------
// ip

/// `ip`: an IPv4 address in dotted-decimal form or an IPv6 address (any textual form that the
/// standard library accepts, including compressed `::` and embedded IPv4).
pub fn validate_ip(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("an empty string is not an IP address".to_string());
    }
    if s.contains(':') {
        return validate_ipv6(s);
    }
    validate_ipv4(s)
}

/// Checks an IPv4 address and explains the first problem found.
pub fn validate_ipv4(s: &str) -> Result<(), String> {
    if looks_like_ip(s) && s.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    let what = NotA { text: s, noun: "an IPv4 address" };
    if let Some(c) = s.chars().find(|c| !c.is_ascii_digit() && *c != '.') {
        return Err(format!(
            "{what}: it contains {}, but an IPv4 address has only digits and dots",
            describe_char(c)
        ));
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return Err(format!(
            "{what}: it has {} part{}, but an IPv4 address has 4 numbers separated by dots",
            parts.len(),
            if parts.len() == 1 { "" } else { "s" }
        ));
    }
    for part in &parts {
        if part.is_empty() {
            return Err(format!("{what}: one of its 4 numbers is empty"));
        }
        if part.len() > 1 && part.starts_with('0') {
            let trimmed = part.trim_start_matches('0');
            let fixed = if trimmed.is_empty() { "0" } else { trimmed };
            return Err(format!("{what}: `{part}` has a leading zero (write `{fixed}`)"));
        }
        match part.parse::<u64>() {
            Ok(n) if n > 255 => return Err(format!("{what}: {n} is above 255")),
            Ok(_) => {}
            Err(_) => return Err(format!("{what}: `{part}` is above 255")),
        }
    }
    Err(what.to_string())
}

/// Checks an IPv6 address and explains the problem found.
pub fn validate_ipv6(s: &str) -> Result<(), String> {
    if s.parse::<Ipv6Addr>().is_ok() {
        return Ok(());
    }
    let what = NotA { text: s, noun: "an IPv6 address" };
    if s.starts_with('[') || s.ends_with(']') {
        return Err(format!("{what}: write it without the square brackets"));
    }
    if s.contains('%') {
        return Err(format!("{what}: zone identifiers (`%eth0`) are not supported"));
    }
    if s.contains('/') {
        return Err(format!("{what}: it has a `/prefix`; use the `cidr` type for networks"));
    }
    if let Some(c) = s.chars().find(|c| !c.is_ascii_hexdigit() && *c != ':' && *c != '.') {
        return Err(format!(
            "{what}: it contains {}, but an IPv6 address has only hex digits and colons",
            describe_char(c)
        ));
    }
    if s.matches("::").count() > 1 {
        return Err(format!("{what}: `::` may appear only once"));
    }
    if let Some(group) = s.split(':').find(|g| g.len() > 4 && !g.contains('.')) {
        return Err(format!("{what}: the group `{group}` has more than 4 hex digits"));
    }
    let groups = s.split(':').filter(|g| !g.is_empty()).count();
    if !s.contains("::") && groups != 8 {
        return Err(format!(
            "{what}: it has {groups} groups, but a full IPv6 address has 8 (use `::` to \
             abbreviate zeros)"
        ));
    }
    if groups > 8 {
        return Err(format!("{what}: it has more than 8 groups"));
    }
    Err(format!("{what}: it is not a valid IPv6 form"))
}

// ---------------------------------------------------------------------------------------------
// cidr

/// `cidr`: `ADDRESS/PREFIX` with an IPv4 prefix in `0..=32` or an IPv6 prefix in `0..=128`.
/// Host bits may be set (`10.1.2.3/8` means the network `10.0.0.0/8`), as in most firewall
/// configurations.
pub fn validate_cidr(s: &str) -> Result<(), String> {
    let what = NotA { text: s, noun: "a CIDR network" };
    let Some((addr, prefix)) = s.split_once('/') else {
        return Err(format!(
            "{what}: it has no `/prefix` (write e.g. `10.0.0.0/8`; a single address is an `ip`)"
        ));
    };
    let v6 = addr.contains(':');
    let check = if v6 { validate_ipv6(addr) } else { validate_ipv4(addr) };
    check.map_err(|e| format!("{what}: {e}"))?;
    let max = if v6 { 128 } else { 32 };
    if prefix.is_empty() {
        return Err(format!("{what}: the prefix length after `/` is missing"));
    }
    if !prefix.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("{what}: the prefix length `{prefix}` is not a number"));
    }
    match prefix.parse::<u32>() {
        Ok(n) if n <= max => Ok(()),
        _ => Err(format!(
            "{what}: the prefix length {prefix} is above {max}, the maximum for {}",
            if v6 { "IPv6" } else { "IPv4" }
        )),
    }
}

/// Parses a valid CIDR into its address and prefix length.
pub fn parse_cidr(s: &str) -> Result<(std::net::IpAddr, u8), String> {
    validate_cidr(s)?;
    let (addr, prefix) = s.split_once('/').ok_or_else(|| format!("{} is not a CIDR network", shown(s)))?;
    let addr =
        addr.parse::<std::net::IpAddr>().map_err(|e| format!("{} is not a CIDR network: {e}", shown(s)))?;
    let prefix = prefix.parse::<u8>().map_err(|e| format!("{} is not a CIDR network: {e}", shown(s)))?;
    Ok((addr, prefix))
}

// ---------------------------------------------------------------------------------------------
// domain and host

/// Why one DNS label is invalid, if it is.
fn label_problem(label: &str) -> Option<String> {
    if label.is_empty() {
        return Some("it has an empty label (two dots in a row, or a dot at an end)".to_string());
    }
    if label.len() > 63 {
        return Some(format!(
            "the label `{}…` is {} characters long; the maximum is 63",
            label.chars().take(20).collect::<String>(),
            label.len()
        ));
    }
    if let Some(c) = label.chars().find(|c| !c.is_ascii_alphanumeric() && *c != '-') {
        if !c.is_ascii() {
            let suggestion = label_to_ascii(label)
                .filter(|l| label_problem(l).is_none())
                .unwrap_or_else(|| "xn--…".to_string());
            return Some(format!(
                "it contains {}; write internationalized names in punycode (`{suggestion}`)",
                describe_char(c)
            ));
        }
        return Some(format!(
            "it contains {}, but labels have only letters, digits and hyphens",
            describe_char(c)
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Some(format!("the label `{label}` starts or ends with a hyphen"));
    }
    None
}

/// `domain`: a fully qualified DNS name: labels of letters, digits and hyphens (RFC 1123),
/// at least one dot, a top-level label that is alphabetic or punycode (`xn--…`), at most 253
/// characters.
pub fn validate_domain(s: &str) -> Result<(), String> {
    domain_problem(s).map_or(Ok(()), |p| Err(format!("{} is not a domain name: {p}", shown(s))))
}

/// Whether `s` could be an IP address at all: IPv4 is digits and dots, IPv6 has a `:`. Names
/// are told from addresses without the cost of parsing them as one.
fn looks_like_ip(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || b == b'.') || s.contains(':')
}

fn domain_problem(s: &str) -> Option<String> {
    if plain_domain(s) { None } else { domain_problem_explained(s) }
}

/// [`domain_problem`] for a name [`plain_domain`] did not accept: every check in turn, for
/// the message of the first that fails.
fn domain_problem_explained(s: &str) -> Option<String> {
    if s.is_empty() {
        return Some("it is empty".to_string());
    }
    if s.len() > 253 {
        return Some(format!("it is {} characters long; the maximum is 253", s.len()));
    }
    if s.contains("://") {
        return Some("it has a scheme; use the `url` type, or `domain_of(url)`".to_string());
    }
    if s.contains('@') {
        return Some("it contains `@`; use the `email` type, or `domain_of(email)`".to_string());
    }
    if looks_like_ip(s) && s.parse::<std::net::IpAddr>().is_ok() {
        return Some("it is an IP address; use the `ip` type".to_string());
    }
    if s.ends_with('.') && s.len() > 1 && !s.ends_with("..") {
        return Some("it ends with a dot; write it without the trailing dot".to_string());
    }
    if !s.contains('.') {
        return Some(
            "it has no dot; a domain needs at least two labels (a bare hostname is a `host`)".to_string(),
        );
    }
    for label in s.split('.') {
        if let Some(p) = label_problem(label) {
            return Some(p);
        }
    }
    let tld = s.rsplit('.').next().unwrap_or_default();
    let punycode = tld.len() > 4 && tld[..4].eq_ignore_ascii_case("xn--");
    if !punycode && (tld.len() < 2 || !tld.chars().all(|c| c.is_ascii_alphabetic())) {
        return Some(format!(
            "its top-level label `{tld}` must be at least two letters (or punycode `xn--…`)"
        ));
    }
    None
}

/// Whether `s` is a valid domain name, decided in one pass over its bytes. `false` for some
/// valid names (the rare ones: a punycode top-level label), so a `false` only means that
/// [`domain_problem`] must look; a `true` is what it would conclude, without its passes.
fn plain_domain(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    // The current label's length, whether it is all letters, and the dots so far.
    let (mut len, mut alpha, mut dots) = (0usize, true, 0usize);
    let mut last = b'.';
    for &b in s.as_bytes() {
        match b {
            b'.' => {
                // An empty label, or one that ends with `-`, or is too long.
                if len == 0 || len > 63 || last == b'-' {
                    return false;
                }
                (len, alpha, dots) = (0, true, dots + 1);
            }
            b'-' if len == 0 => return false,
            b'-' | b'0'..=b'9' => {
                len += 1;
                alpha = false;
            }
            b'a'..=b'z' | b'A'..=b'Z' => len += 1,
            _ => return false,
        }
        last = b;
    }
    // The top-level label: two letters or more.
    dots > 0 && alpha && (2..=63).contains(&len)
}

/// `host`: an IP address, a domain, or a single hostname label (`mailhost`, `WS-0042`).
pub fn validate_host(s: &str) -> Result<(), String> {
    let what = NotA { text: s, noun: "a host" };
    if s.is_empty() {
        return Err(format!("{what}: it is empty"));
    }
    if s.contains(':') {
        return validate_ipv6(s).map_err(|e| format!("{what}: {e}"));
    }
    if looks_like_ip(s) && s.parse::<Ipv4Addr>().is_ok() {
        return Ok(());
    }
    if !s.contains('.') {
        return label_problem(s).map_or(Ok(()), |p| Err(format!("{what}: {p}")));
    }
    if s.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_digit())) {
        return validate_ipv4(s).map_err(|e| format!("{what}: {e}"));
    }
    domain_problem(s).map_or(Ok(()), |p| Err(format!("{what}: {p}")))
}

/// Encodes one label with Punycode (RFC 3492), without the `xn--` prefix. `None` on overflow.
pub fn punycode_encode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    const TMIN: u32 = 1;
    const TMAX: u32 = 26;
    const SKEW: u32 = 38;
    const DAMP: u32 = 700;
    fn adapt(delta: u32, points: u32, first: bool) -> u32 {
        let mut delta = if first { delta / DAMP } else { delta / 2 };
        delta += delta / points.max(1);
        let mut k = 0;
        while delta > ((BASE - TMIN) * TMAX) / 2 {
            delta /= BASE - TMIN;
            k += BASE;
        }
        k + ((BASE - TMIN + 1) * delta) / (delta + SKEW)
    }
    fn digit(d: u32) -> char {
        let byte = if d < 26 { b'a' + d as u8 } else { b'0' + (d - 26) as u8 };
        char::from(byte)
    }
    let code_points: Vec<u32> = input.chars().map(u32::from).collect();
    let mut output: String = input.chars().filter(char::is_ascii).collect();
    let basic = u32::try_from(output.len()).ok()?;
    let total = u32::try_from(code_points.len()).ok()?;
    let mut handled = basic;
    if basic > 0 {
        output.push('-');
    }
    let (mut n, mut delta, mut bias) = (128u32, 0u32, 72u32);
    while handled < total {
        let m = code_points.iter().copied().filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in &code_points {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        TMIN
                    } else if k >= bias + TMAX {
                        TMAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    output.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                output.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some(output)
}

/// One label in its ASCII form: lower-cased, and `xn--` + Punycode when it is not ASCII.
fn label_to_ascii(label: &str) -> Option<String> {
    let lower = label.to_lowercase();
    if lower.is_ascii() { Some(lower) } else { punycode_encode(&lower).map(|p| format!("xn--{p}")) }
}

/// The ASCII (A-label) form of an internationalized name: each non-ASCII label lower-cased
/// and Punycode-encoded (`münchen.de` → `xn--mnchen-3ya.de`); ASCII labels are lower-cased.
/// Unicode normalization (NFC) and the full IDNA mapping are not applied: names already in
/// composed form, as mail clients send them, convert as a browser would.
pub fn domain_to_ascii(name: &str) -> Option<String> {
    let labels: Option<Vec<String>> = name.split('.').map(label_to_ascii).collect();
    labels.map(|l| l.join("."))
}

// ---------------------------------------------------------------------------------------------
// url

/// The schemes a `url` may have.
pub const URL_SCHEMES: &[&str] = &["http", "https", "ftp"];

/// `url`: `http`, `https` or `ftp`, `://`, an optional `user@`, a host (domain, hostname,
/// IPv4 or `[IPv6]`), an optional `:port`, then any path, query and fragment without
/// whitespace or control characters.
pub fn validate_url(s: &str) -> Result<(), String> {
    if plain_url(s) { Ok(()) } else { url_problem(s) }
}

/// Whether `s` is a URL of the usual shape, decided in one pass over its bytes: `http://` or
/// `https://`, a domain [`plain_domain`] accepts, then nothing, or `/`, `?` or `#` and
/// printable ASCII. A `true` is what [`validate_url`]'s checks would conclude, without them;
/// a `false` only means that they must look.
fn plain_url(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("https://").or_else(|| s.strip_prefix("http://")) else {
        return false;
    };
    let end = rest.bytes().position(|b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(rest.len());
    let (host, tail) = rest.split_at(end);
    plain_domain(host) && tail.bytes().all(|b| (0x21..0x7f).contains(&b))
}

/// [`validate_url`] for a URL [`plain_url`] did not accept: every check in turn.
fn url_problem(s: &str) -> Result<(), String> {
    let what = NotA { text: s, noun: "a URL" };
    if s.is_empty() {
        return Err(format!("{what}: it is empty"));
    }
    // Printable ASCII has no whitespace or control character: only other text is searched.
    if !s.bytes().all(|b| (0x21..0x7f).contains(&b))
        && let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("{what}: it contains {}", describe_char(c)));
    }
    // Byte searches: the general `str` searches cost more to set up than a URL takes to scan.
    let separator = s.as_bytes().windows(3).position(|w| w == b"://");
    let Some((scheme, rest)) = separator.and_then(|at| Some((s.get(..at)?, s.get(at + 3..)?))) else {
        return Err(format!("{what}: it has no scheme (write e.g. `https://{}`)", s.trim_start_matches('/')));
    };
    if !URL_SCHEMES.iter().any(|known| known.eq_ignore_ascii_case(scheme)) {
        let lower = scheme.to_ascii_lowercase();
        let hint = match lower.as_str() {
            "hxxp" | "hxxps" | "hxxp[s]" => " (it looks defanged: use `refang` first)",
            _ => "",
        };
        return Err(format!("{what}: the scheme `{scheme}` is not one of http, https, ftp{hint}"));
    }
    let end = rest.bytes().position(|b| matches!(b, b'/' | b'?' | b'#')).unwrap_or(rest.len());
    let authority = &rest[..end];
    let hostport = match authority.rsplit_once('@') {
        Some((_, hp)) => hp,
        None => authority,
    };
    if hostport.is_empty() {
        return Err(format!("{what}: it has no host after `{scheme}://`"));
    }
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let Some((v6, after)) = inner.split_once(']') else {
            return Err(format!("{what}: the `[` of its IPv6 host is not closed"));
        };
        validate_ipv6(v6).map_err(|e| format!("{what}: {e}"))?;
        match after {
            "" => (None, None),
            p if p.starts_with(':') => (None, Some(&p[1..])),
            _ => return Err(format!("{what}: unexpected text after the IPv6 host")),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(hostport), None),
        }
    };
    if let Some(host) = host {
        if host.is_empty() {
            return Err(format!("{what}: it has no host"));
        }
        if host.contains('[') || host.contains(']') {
            return Err(format!(
                "{what}: its host `{host}` contains brackets (it looks defanged: use `refang` first)"
            ));
        }
        validate_host(host).map_err(|e| format!("{what}: {e}"))?;
    }
    if let Some(port) = port {
        match port.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) && port.chars().all(|c| c.is_ascii_digit()) => {}
            _ => return Err(format!("{what}: the port `{port}` is not a number from 1 to 65535")),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// email

/// The bytes of an email address's local part: letters, digits, ``!#$%&'*+/=?^_`{|}~-`` and `.`.
static LOCAL_PART: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 128 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let special = b"!#$%&'*+/=?^_`{|}~-.";
    let mut i = 0;
    while i < special.len() {
        table[special[i] as usize] = true;
        i += 1;
    }
    table
};

/// `email`: `local@domain` where the local part is a dot-atom of at most 64 characters
/// (letters, digits and ``!#$%&'*+/=?^_`{|}~-``, dots not at either end nor doubled) and the
/// domain is a valid `domain`. At most 254 characters in all.
pub fn validate_email(s: &str) -> Result<(), String> {
    let what = NotA { text: s, noun: "an email address" };
    if s.len() > 254 {
        return Err(format!("{what}: it is {} characters long; the maximum is 254", s.len()));
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return Err(format!("{what}: it has no `@`"));
    };
    if local.is_empty() {
        return Err(format!("{what}: nothing comes before the `@`"));
    }
    if local.len() > 64 {
        return Err(format!("{what}: the part before `@` is longer than 64 characters"));
    }
    if !local.bytes().all(|b| LOCAL_PART[usize::from(b)])
        && let Some(c) = local.chars().find(|&c| !c.is_ascii() || !LOCAL_PART[c as usize])
    {
        return Err(format!("{what}: the part before `@` contains {}", describe_char(c)));
    }
    // Bytes, not a `str` search: its setup costs more than a local part takes to scan.
    if local.starts_with('.') || local.ends_with('.') || local.as_bytes().windows(2).any(|w| w == b"..") {
        return Err(format!("{what}: the part before `@` has a dot at an end or two dots in a row"));
    }
    if domain.is_empty() {
        return Err(format!("{what}: nothing comes after the `@`"));
    }
    domain_problem(domain).map_or(Ok(()), |p| Err(format!("{what}: its domain `{domain}` is invalid: {p}")))
}

// ---------------------------------------------------------------------------------------------
// hash

/// The bytes that are hex digits: one lookup per byte of a digest.
static HEX_DIGIT: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_hexdigit();
        b += 1;
    }
    table
};

/// The hash algorithm a hex digest length denotes.
pub fn hash_algorithm(hex_len: usize) -> Option<&'static str> {
    match hex_len {
        32 => Some("md5"),
        40 => Some("sha1"),
        64 => Some("sha256"),
        128 => Some("sha512"),
        _ => None,
    }
}

/// `hash`: a hex digest of 32 (MD5), 40 (SHA-1), 64 (SHA-256) or 128 (SHA-512) digits, in
/// either case. Returns the algorithm name.
pub fn validate_hash(s: &str) -> Result<&'static str, String> {
    let what = NotA { text: s, noun: "a hash" };
    if !s.bytes().all(|b| HEX_DIGIT[usize::from(b)])
        && let Some(c) = s.chars().find(|c| !c.is_ascii_hexdigit())
    {
        return Err(format!("{what}: it contains {}, which is not a hex digit", describe_char(c)));
    }
    hash_algorithm(s.len()).ok_or_else(|| {
        format!(
            "{what}: it has {} hex digits; expected 32 (MD5), 40 (SHA-1), 64 (SHA-256) or 128 \
             (SHA-512)",
            s.len()
        )
    })
}

// ---------------------------------------------------------------------------------------------
// user

/// `user`: an account name: not empty, at most 256 characters, no whitespace or control
/// characters. `DOMAIN\user` and `user@domain` forms are accepted as they are.
pub fn validate_user(s: &str) -> Result<(), String> {
    let what = NotA { text: s, noun: "a user name" };
    if s.is_empty() {
        return Err(format!("{what}: it is empty"));
    }
    if s.chars().count() > 256 {
        return Err(format!("{what}: it is longer than 256 characters"));
    }
    if let Some(c) = s.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{what}: it contains {}", describe_char(c)));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn ok(t: &str, s: &str) {
        assert!(validate(t, s).is_ok(), "{t} {s:?} should be valid: {:?}", validate(t, s));
    }

    fn bad(t: &str, s: &str) -> String {
        match validate(t, s) {
            Ok(()) => panic!("{t} {s:?} should be invalid"),
            Err(e) => e,
        }
    }

    #[test]
    fn ip_valid() {
        for s in [
            "0.0.0.0",
            "10.0.0.1",
            "192.168.1.254",
            "255.255.255.255",
            "8.8.8.8",
            "::",
            "::1",
            "2001:db8::1",
            "fe80::1ff:fe23:4567:890a",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "::ffff:192.0.2.128",
            "64:ff9b::192.0.2.33",
        ] {
            ok("ip", s);
        }
    }

    #[test]
    fn ip_invalid_with_reasons() {
        assert_eq!(bad("ip", "999.1.2.3"), "`999.1.2.3` is not an IPv4 address: 999 is above 255");
        assert!(bad("ip", "1.2.3").contains("has 3 parts"));
        assert!(bad("ip", "1.2.3.4.5").contains("has 5 parts"));
        assert!(bad("ip", "1.2..4").contains("empty"));
        assert!(bad("ip", "01.2.3.4").contains("leading zero"));
        assert!(bad("ip", "1.2.3.a").contains("`a`"));
        assert!(bad("ip", "").contains("empty"));
        assert!(bad("ip", "1.2.3.99999999999999999999").contains("above 255"));
        assert!(bad("ip", "2001:db8::1::2").contains("`::` may appear only once"));
        assert!(bad("ip", "2001:db8:12345::1").contains("more than 4 hex digits"));
        assert!(bad("ip", "[::1]").contains("square brackets"));
        assert!(bad("ip", "fe80::1%eth0").contains("zone"));
        assert!(bad("ip", "2001:db8::/32").contains("cidr"));
        assert!(bad("ip", "1:2:3:4:5:6:7").contains("7 groups"));
        assert!(bad("ip", "gggg::1").contains("`g`"));
        assert!(bad("ip", "evil.example.com").contains("`e`"));
    }

    #[test]
    fn cidr() {
        for s in [
            "10.0.0.0/8",
            "192.168.0.0/16",
            "0.0.0.0/0",
            "1.2.3.4/32",
            "2001:db8::/32",
            "::/0",
            "::1/128",
            "10.1.2.3/8",
        ] {
            ok("cidr", s);
        }
        assert!(bad("cidr", "10.0.0.0").contains("no `/prefix`"));
        assert!(bad("cidr", "10.0.0.0/33").contains("above 32"));
        assert!(bad("cidr", "2001:db8::/129").contains("above 128"));
        assert!(bad("cidr", "10.0.0.0/").contains("missing"));
        assert!(bad("cidr", "10.0.0.0/x").contains("not a number"));
        assert!(bad("cidr", "300.0.0.0/8").contains("300 is above 255"));
        assert!(bad("cidr", "10.0.0.0/-1").contains("not a number"));
        assert!(bad("cidr", "10.0.0.0/99999999999").contains("above 32"));
        let (addr, prefix) = parse_cidr("10.1.0.0/16").unwrap();
        assert_eq!(addr.to_string(), "10.1.0.0");
        assert_eq!(prefix, 16);
    }

    /// The one-pass test accepts only names the full checks accept, and every one of them
    /// this alphabet makes (it has no punycode).
    #[test]
    fn plain_domain_agrees_with_every_check() {
        let alphabet: &[u8] = b"aZ9-x0bQ.@:_";
        let mut rng = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1d);
        let mut next = move || rng.u64(..);
        let (mut fast, mut valid) = (0, 0);
        for _ in 0..200_000 {
            // One to four labels of letters, digits and hyphens, with now and then another
            // character; or any text of the alphabet.
            let mut name = String::new();
            if next() % 4 == 0 {
                let len = (next() % 24) as usize;
                name = (0..len)
                    .map(|_| char::from(alphabet[(next() % alphabet.len() as u64) as usize]))
                    .collect();
            } else {
                for i in 0..1 + next() % 4 {
                    if i > 0 {
                        name.push('.');
                    }
                    for _ in 0..next() % 6 {
                        name.push(char::from(alphabet[(next() % 8) as usize]));
                    }
                }
            }
            // Long labels and names, near the limits of 63 and 253.
            match next() % 16 {
                0 => name.insert_str(0, &"a".repeat(60 + (next() % 6) as usize)),
                1 => name = format!("{}.com", "ab.".repeat(80 + (next() % 5) as usize)),
                2 => name.push('\u{e9}'),
                _ => {}
            }
            let explained = domain_problem_explained(&name);
            if plain_domain(&name) {
                assert_eq!(explained, None, "{name:?} passed the one-pass test only");
                fast += 1;
            }
            if explained.is_none() {
                valid += 1;
            }
        }
        assert!(valid > 1_000 && fast == valid, "{fast} of {valid} valid names took the one pass");
    }

    #[test]
    fn validating_by_kind_is_validating_by_name() {
        let samples = [
            "192.0.2.1",
            "10.0.0.0/8",
            "evil.example",
            "http://evil.example/a",
            "a@evil.example",
            "d41d8cd98f00b204e9800998ecf8427e",
            "WS-0042",
            "CORP\\alice",
            "",
            "not valid at all",
        ];
        for kind in crate::ir::SecurityKind::ALL {
            for s in samples {
                assert_eq!(validate_kind(kind, s), validate(kind.name(), s), "{kind:?} {s:?}");
            }
        }
    }

    #[test]
    fn plain_url_agrees_with_every_check() {
        let hosts = [
            "evil.example",
            "a-b.co",
            "x.y.z.io",
            "localhost",
            "192.0.2.1",
            "[::1]",
            "ex..com",
            "-a.com",
            "a.c0m",
            "user@evil.example",
            "evil.example:8080",
            "xn--e1afmkfd.xn--p1ai",
            "EVIL.Example",
        ];
        let schemes = ["http://", "https://", "HTTP://", "ftp://", "hxxp://", "http:/", ""];
        let tails = ["", "/", "/a?b=1#c", "?q", "#f", "/a b", "/\u{e9}", "/%20", ":", "/\t"];
        let (mut fast, mut valid) = (0, 0);
        for scheme in schemes {
            for host in hosts {
                for tail in tails {
                    let url = format!("{scheme}{host}{tail}");
                    let full = url_problem(&url);
                    if plain_url(&url) {
                        assert_eq!(full, Ok(()), "{url:?} passed the one-pass test only");
                        fast += 1;
                    }
                    if full.is_ok() {
                        valid += 1;
                    }
                    assert_eq!(validate_url(&url).is_ok(), full.is_ok(), "{url:?}");
                }
            }
        }
        assert!(fast > 20 && valid > fast, "{fast} of {valid} valid URLs took the one pass");
    }

    /// The local-part table holds exactly the bytes the character test allows.
    #[test]
    fn local_part_table_matches_the_rule() {
        for b in 0..=255u8 {
            let c = char::from(b);
            let allowed = b.is_ascii() && (c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-.".contains(c));
            assert_eq!(LOCAL_PART[usize::from(b)], allowed, "byte {b:#x}");
        }
    }

    #[test]
    fn domain() {
        for s in [
            "example.com",
            "mail.example.co.uk",
            "a.io",
            "xn--80ak6aa92e.com",
            "example.xn--p1ai",
            "login-microsoftonline.com.evil.example",
            "123.example",
            "EXAMPLE.COM",
            "x1.y2.z3.info",
        ] {
            ok("domain", s);
        }
        assert!(bad("domain", "localhost").contains("no dot"));
        assert!(bad("domain", "example..com").contains("empty label"));
        assert!(bad("domain", ".example.com").contains("empty label"));
        assert!(bad("domain", "example.com.").contains("trailing dot"));
        assert!(bad("domain", "-bad.example.com").contains("hyphen"));
        assert!(bad("domain", "bad-.example.com").contains("hyphen"));
        assert!(bad("domain", "under_score.example.com").contains("`_`"));
        assert!(bad("domain", "exämple.com").contains("punycode"));
        assert!(bad("domain", "example.c").contains("top-level"));
        assert!(bad("domain", "example.123").contains("top-level"));
        assert!(bad("domain", "1.2.3.4").contains("`ip`"));
        assert!(bad("domain", "https://example.com").contains("`url`"));
        assert!(bad("domain", "bob@example.com").contains("`email`"));
        assert!(bad("domain", "evil[.]example.com").contains("`[`"));
        assert!(bad("domain", "").contains("empty"));
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(bad("domain", &long_label).contains("maximum is 63"));
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        assert!(bad("domain", &long_name).contains("maximum is 253"));
        let max_label = format!("{}.com", "a".repeat(63));
        ok("domain", &max_label);
    }

    #[test]
    fn punycode_vectors() {
        assert_eq!(punycode_encode("münchen").as_deref(), Some("mnchen-3ya"));
        assert_eq!(punycode_encode("bücher").as_deref(), Some("bcher-kva"));
        assert_eq!(punycode_encode("пример").as_deref(), Some("e1afmkfd"));
        assert_eq!(punycode_encode("рф").as_deref(), Some("p1ai"));
        assert_eq!(punycode_encode("例え").as_deref(), Some("r8jz45g"));
        assert_eq!(domain_to_ascii("München.DE").as_deref(), Some("xn--mnchen-3ya.de"));
        assert_eq!(domain_to_ascii("пример.рф").as_deref(), Some("xn--e1afmkfd.xn--p1ai"));
        // A Cyrillic `а` in a look-alike of paypal.com.
        let homograph = domain_to_ascii("p\u{430}ypal.com").unwrap();
        assert!(homograph.starts_with("xn--") && homograph.ends_with(".com"), "{homograph}");
        ok("domain", &homograph);
        assert!(bad("domain", "münchen.de").contains("`xn--mnchen-3ya`"));
    }

    #[test]
    fn host() {
        for s in ["mailhost", "WS-0042", "example.com", "10.0.0.5", "::1", "fe80::1", "a"] {
            ok("host", s);
        }
        assert!(bad("host", "").contains("empty"));
        assert!(bad("host", "my host").contains("a space"));
        assert!(bad("host", "10.0.0.256").contains("256 is above 255"));
        assert!(bad("host", "-x").contains("hyphen"));
        assert!(bad("host", "a..b").contains("empty label"));
    }

    #[test]
    fn url() {
        for s in [
            "http://example.com",
            "https://example.com/",
            "HTTPS://Example.COM/Path?q=1#frag",
            "https://login.evil.example/microsoft/auth.php?session=abc&id=1",
            "http://10.0.0.1:8080/admin",
            "http://[2001:db8::1]:8443/x",
            "http://[::1]/",
            "ftp://files.example.org/pub/file.zip",
            "https://user:pass@example.com/",
            "http://localhost:3000",
            "https://example.com/%E2%9C%93",
            "https://bit.ly/3xYz",
        ] {
            ok("url", s);
        }
        assert!(bad("url", "example.com").contains("no scheme"));
        assert!(bad("url", "hxxp://evil.example").contains("refang"));
        assert!(bad("url", "javascript://alert(1)").contains("not one of http"));
        assert!(bad("url", "mailto:bob@example.com").contains("no scheme"));
        assert!(bad("url", "https://").contains("no host"));
        assert!(bad("url", "https:///path").contains("no host"));
        assert!(bad("url", "https://exa mple.com").contains("a space"));
        assert!(bad("url", "http://example.com:0/").contains("port"));
        assert!(bad("url", "http://example.com:99999/").contains("port"));
        assert!(bad("url", "http://example.com:abc/").contains("port"));
        assert!(bad("url", "http://evil[.]example/").contains("defanged"));
        assert!(bad("url", "http://[::1/").contains("not closed"));
        assert!(bad("url", "http://999.1.1.1/").contains("999 is above 255"));
        assert!(bad("url", "").contains("empty"));
    }

    #[test]
    fn email() {
        for s in [
            "bob@example.com",
            "first.last@mail.example.co.uk",
            "user+tag@example.org",
            "o'brien@example.ie",
            "a@b.io",
            "Security-Team@Example.COM",
        ] {
            ok("email", s);
        }
        assert!(bad("email", "bob").contains("no `@`"));
        assert!(bad("email", "@example.com").contains("before the `@`"));
        assert!(bad("email", "bob@").contains("after the `@`"));
        assert!(bad("email", "bob@localhost").contains("no dot"));
        assert!(bad("email", "bo b@example.com").contains("a space"));
        assert!(bad("email", "jos\u{e9}@example.com").contains("before `@` contains `\u{e9}`"));
        assert!(bad("email", ".bob@example.com").contains("dot"));
        assert!(bad("email", "bob..x@example.com").contains("dot"));
        assert!(bad("email", "bob@exa_mple.com").contains("`_`"));
        assert!(bad("email", &format!("{}@example.com", "a".repeat(65))).contains("64"));
    }

    #[test]
    fn hash() {
        ok("hash", "d41d8cd98f00b204e9800998ecf8427e");
        ok("hash", "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        ok("hash", "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855");
        ok("hash", &"ab".repeat(64));
        assert_eq!(validate_hash("d41d8cd98f00b204e9800998ecf8427e"), Ok("md5"));
        assert_eq!(validate_hash(&"0".repeat(64)), Ok("sha256"));
        assert!(bad("hash", "abc").contains("3 hex digits"));
        assert!(bad("hash", "").contains("0 hex digits"));
        assert!(bad("hash", "g41d8cd98f00b204e9800998ecf8427e").contains("`g`"));
        assert!(bad("hash", &"a".repeat(63)).contains("63 hex digits"));
    }

    #[test]
    fn user() {
        for s in ["alice", "CORP\\alice", "alice@corp.example", "svc_backup$", "j.doe"] {
            ok("user", s);
        }
        assert!(bad("user", "").contains("empty"));
        assert!(bad("user", "alice smith").contains("a space"));
        assert!(bad("user", "alice\n").contains("line break"));
        assert!(bad("user", "a\u{7}").contains("control character"));
        assert!(bad("user", &"x".repeat(257)).contains("256"));
    }

    #[test]
    fn unknown_type_and_list() {
        assert!(bad("mac", "x").contains("not a security type"));
        for t in SECURITY_TYPES {
            assert!(is_security_type(t));
        }
        assert!(!is_security_type("string"));
    }

    #[test]
    fn messages_are_single_line_and_short() {
        let e = bad("domain", &format!("a\nb{}", "c".repeat(500)));
        assert!(!e.contains('\n'));
        assert!(e.len() < 400);
    }
}
