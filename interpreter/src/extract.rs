//! Indicator extraction from free text (mail bodies, HTML parts, tickets): URLs, domains,
//! IP addresses, email addresses and file hashes, plus `defang` / `refang`.
//!
//! The text is first normalised: HTML character references are decoded (`&amp;` → `&`) and
//! defanged notations are refanged (`hxxps://`, `evil[.]example`, `evil(.)example`, `[@]`,
//! `[:]//`). Results are refanged, validated with the security-type rules, de-duplicated
//! (case-insensitively for domains and emails) and returned in first-seen order.
//!
//! Decisions:
//! - A URL ends at whitespace, `<`, `>`, a quote or a backtick; trailing `.,;:!?` and
//!   unbalanced closing brackets are stripped. URL-encoded URLs carried in a query parameter
//!   (Safe Links, URL Defense and similar wrappers) are extracted as well, after the wrapper.
//! - Domains come from URL hosts, email domains and bare names in the remaining text. A bare
//!   two-label name whose last label is a common file extension (`invoice.pdf`) is not taken
//!   as a domain, nor is one whose last label is capitalised (`Thanks.Regards`); the same
//!   names inside a URL or an address are.
//! - Email addresses and hashes inside a URL are not extracted (a URL's userinfo or tracking
//!   token is not an indicator of its own).
//! - A URL whose host is written in Unicode (`https://pаypal.com/`, with a Cyrillic `а`) is
//!   returned with the host in punycode (`https://xn--pypal-4ve.com/`), as browsers show it.
//! - IPv4 addresses inside longer dotted runs (`1.2.3.4.5`) or written after `v` (`v1.2.3.4`)
//!   are version numbers, not addresses. IPv6 candidates must parse as IPv6 and are returned
//!   in canonical (compressed, lower-case) form.
//! - Hashes are hex runs of exactly 32, 40, 64 or 128 digits bounded by non-alphanumeric
//!   characters, not made of decimal digits only; returned in lower case.

use parry_compiler::security;
use regex::Regex;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::LazyLock;

/// Builds a regex from a pattern fixed in this file; a pattern that does not compile would be
/// a bug caught by the tests, and yields a regex that matches nothing rather than a panic.
fn fixed(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|_| never_matches())
}

fn never_matches() -> Regex {
    // `[^\s\S]` matches no character; this pattern always compiles.
    Regex::new(r"[^\s\S]").unwrap_or_else(|_| never_matches())
}

static ENTITY: LazyLock<Regex> =
    LazyLock::new(|| fixed(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});"));

/// Refang substitutions, applied in order.
static REFANG_RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    vec![
        (fixed(r"(?i)\bh(?:xx|\*\*)ps(?:\[?:\]?//|\[://\]|://)"), "https://"),
        (fixed(r"(?i)\bh(?:xx|\*\*)p(?:\[?:\]?//|\[://\]|://)"), "http://"),
        (fixed(r"(?i)\bhxxps\b"), "https"),
        (fixed(r"(?i)\bhxxp\b"), "http"),
        (fixed(r"(?i)\bfxp(?:\[?:\]?//|\[://\]|://)"), "ftp://"),
        (fixed(r"\[://\]|\[:\]//|\(:\)//|\[:/\]/"), "://"),
        (fixed(r"\[:\]"), ":"),
        (fixed(r"(?i)\[\s*(?:\.|dot)\s*\]|\(\s*(?:\.|dot)\s*\)|\{\s*(?:\.|dot)\s*\}|\\\."), "."),
        (fixed(r"(?i)\[\s*(?:@|at)\s*\]|\(\s*(?:@|at)\s*\)|\{\s*(?:@|at)\s*\}"), "@"),
        (fixed(r"\[/\]"), "/"),
    ]
});

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    fixed(
        r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+",
    )
});

static DOMAIN: LazyLock<Regex> = LazyLock::new(|| {
    fixed(r"(?i)\b(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9\-]{1,59})\b")
});

static IPV4: LazyLock<Regex> = LazyLock::new(|| fixed(r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b"));

static IPV6: LazyLock<Regex> = LazyLock::new(|| fixed(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*"));

static HEX: LazyLock<Regex> = LazyLock::new(|| fixed(r"[0-9A-Fa-f]{32,128}"));

/// Extensions that, as the last label of a bare two-label name, mean a file, not a domain.
const FILE_EXTENSIONS: &[&str] = &[
    "7z", "apk", "asp", "aspx", "bak", "bat", "bin", "cab", "cfg", "cmd", "conf", "css", "csv", "dat", "db",
    "dll", "dmg", "doc", "docm", "docx", "eml", "exe", "gif", "gz", "hta", "htm", "html", "ico", "img",
    "ini", "iso", "jar", "jpeg", "jpg", "js", "json", "jsp", "lnk", "log", "md", "msg", "msi", "one", "pdf",
    "php", "png", "pps", "ppt", "pptm", "pptx", "ps1", "py", "rar", "rtf", "scr", "sh", "svg", "sys", "tar",
    "tgz", "tif", "tiff", "tmp", "txt", "vbe", "vbs", "wav", "webp", "wsf", "xls", "xlsb", "xlsm", "xlsx",
    "xml", "yaml", "yml", "zip",
];

/// Decodes HTML character references (named ones common in mail, decimal and hex).
pub fn decode_html_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_string();
    }
    ENTITY
        .replace_all(text, |caps: &regex::Captures<'_>| {
            let whole = caps.get(0).map_or("", |m| m.as_str());
            let name = caps.get(1).map_or("", |m| m.as_str());
            let decoded = if let Some(num) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                u32::from_str_radix(num, 16).ok().and_then(char::from_u32)
            } else if let Some(num) = name.strip_prefix('#') {
                num.parse::<u32>().ok().and_then(char::from_u32)
            } else {
                match name {
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "quot" => Some('"'),
                    "apos" => Some('\''),
                    "nbsp" => Some(' '),
                    "sol" => Some('/'),
                    "colon" => Some(':'),
                    "period" => Some('.'),
                    "commat" => Some('@'),
                    "equals" => Some('='),
                    "quest" => Some('?'),
                    "num" => Some('#'),
                    "percnt" => Some('%'),
                    _ => None,
                }
            };
            decoded.map_or_else(|| whole.to_string(), |c| c.to_string())
        })
        .into_owned()
}

/// Undoes common defanging: `hxxp(s)://`, `h**p://`, `fxp://`, `[:]//`, `[://]`, `[.]`,
/// `(.)`, `{.}`, `[dot]`, `\.`, `[@]`, `(@)`, `[at]`, `[/]`.
pub fn refang(text: &str) -> String {
    let mut out = text.to_string();
    if !may_be_defanged(text) {
        return out;
    }
    for (re, replacement) in REFANG_RULES.iter() {
        if re.is_match(&out) {
            out = re.replace_all(&out, *replacement).into_owned();
        }
    }
    out
}

/// Whether any of [`REFANG_RULES`] can match `text`: each needs a bracket, a backslash, or
/// `hxx`, `h**` or `fxp` (in any case). Most text has none, and is spared ten searches.
fn may_be_defanged(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().any(|b| matches!(b, b'[' | b'(' | b'{' | b'\\'))
        || bytes.windows(3).any(|w| match w[0] {
            b'h' | b'H' => w[1..].eq_ignore_ascii_case(b"xx") || &w[1..] == b"**",
            b'f' | b'F' => w[1..].eq_ignore_ascii_case(b"xp"),
            _ => false,
        })
}

/// Makes an indicator safe to show or paste: `http` → `hxxp`, `https` → `hxxps`,
/// `ftp` → `fxp`, dots of the host (or of a domain or IPv4 address) → `[.]`, and `@` of an
/// email address → `[@]`. Defanging defanged text changes nothing.
pub fn defang(text: &str) -> String {
    let text = refang(text);
    if let Some((scheme, rest)) = text.split_once("://") {
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => "hxxp".to_string(),
            "https" => "hxxps".to_string(),
            "ftp" => "fxp".to_string(),
            _ => scheme.to_string(),
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let authority = match authority.rsplit_once('@') {
            Some((user, host)) => format!("{user}[@]{}", host.replace('.', "[.]")),
            None => authority.replace('.', "[.]"),
        };
        return format!("{scheme}://{authority}{tail}");
    }
    if let Some((local, domain)) = text.rsplit_once('@') {
        return format!("{local}[@]{}", domain.replace('.', "[.]"));
    }
    text.replace('.', "[.]")
}

/// Text prepared for extraction: entities decoded and defanging undone.
fn normalise(text: &str) -> String {
    refang(&decode_html_entities(text))
}

/// Collects values with their positions and returns them de-duplicated in first-seen order.
struct Found {
    items: Vec<(usize, String, String)>,
}

impl Found {
    fn new() -> Found {
        Found { items: Vec::new() }
    }

    /// `key` decides duplicates; `value` is what is returned.
    fn add(&mut self, at: usize, key: String, value: String) {
        self.items.push((at, key, value));
    }

    fn finish(mut self) -> Vec<String> {
        self.items.sort_by_key(|(at, _, _)| *at);
        // Which items come first with their key (the keys are borrowed, not copied).
        let mut seen = rustc_hash::FxHashSet::default();
        let keep: Vec<bool> = self.items.iter().map(|(_, key, _)| seen.insert(key.as_str())).collect();
        self.items.into_iter().zip(keep).filter_map(|((_, _, value), keep)| keep.then_some(value)).collect()
    }
}

/// Where each URL candidate's scheme starts, with where its `://` ends: `http://`,
/// `https://` or `ftp://` in any ASCII case, at the start of a word. These are the matches of
/// the regex `(?i)\b(?:https?|ftp)://`, found from each `://` by looking back, which costs a
/// few instructions where the regex engine's setup for every match cost about a thousand.
/// (Unlike that regex, the long s `ſ`, which Unicode case folding equates with `s`, is not
/// read as an `s`: no URL has it in its scheme.)
fn url_starts(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    text.match_indices("://").filter_map(move |(colon, _)| {
        let before = text.as_bytes().get(..colon)?;
        let ends_with = |scheme: &[u8]| {
            let tail = before.len().checked_sub(scheme.len()).and_then(|at| before.get(at..));
            tail.is_some_and(|tail| tail.eq_ignore_ascii_case(scheme))
        };
        let scheme = [&b"https"[..], b"http", b"ftp"].into_iter().find(|scheme| ends_with(scheme))?;
        let start = colon - scheme.len();
        // `\b`: the scheme must not continue a word (`xhttp://` is not a URL's start).
        let previous = text.get(..start)?.chars().next_back();
        if previous.is_some_and(regex_syntax::is_word_character) {
            return None;
        }
        Some((start, colon + 3))
    })
}

/// The length of the URL candidate that `rest` starts: up to the first character that
/// [`ends_url`], tested a byte at a time while the text is ASCII.
fn url_len(rest: &str) -> usize {
    let bytes = rest.as_bytes();
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte.is_ascii() {
            if ascii_ends_url(byte) {
                return at;
            }
            at += 1;
        } else {
            let Some(c) = rest.get(at..).and_then(|tail| tail.chars().next()) else { break };
            if ends_url(c) {
                return at;
            }
            at += c.len_utf8();
        }
    }
    bytes.len()
}

/// Whether an ASCII byte ends a URL: a space, a control character, a quote, a backtick, an
/// angle bracket, a brace, `\\`, `^` or `|`.
fn ascii_ends_url(byte: u8) -> bool {
    byte <= b' '
        || byte == 0x7f
        || matches!(byte, b'<' | b'>' | b'"' | b'\'' | b'`' | b'\\' | b'^' | b'|' | b'{' | b'}')
}

/// Characters that end a URL: those of [`ascii_ends_url`], other white space and control
/// characters, and the typographic quotes and CJK punctuation that mail puts around links.
fn ends_url(c: char) -> bool {
    if let Ok(byte) = u8::try_from(c)
        && byte.is_ascii()
    {
        return ascii_ends_url(byte);
    }
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '“' | '”'
                | '‘'
                | '’'
                | '«'
                | '»'
                | '‹'
                | '›'
                | '。'
                | '、'
                | '，'
                | '（'
                | '）'
                | '「'
                | '」'
                | '【'
                | '】'
        )
}

/// A URL whose host is written in Unicode, with the host in its ASCII (punycode) form.
fn with_ascii_host(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, hp)) => (Some(u), hp),
        None => (None, authority),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (hostport, None),
    };
    if host.is_ascii() {
        return None;
    }
    let host = security::domain_to_ascii(host)?;
    let mut out = format!("{scheme}://");
    if let Some(u) = userinfo {
        out.push_str(u);
        out.push('@');
    }
    out.push_str(&host);
    if let Some(p) = port {
        out.push(':');
        out.push_str(p);
    }
    out.push_str(tail);
    Some(out)
}

/// Strips trailing punctuation that belongs to the sentence, keeping balanced brackets
/// (`https://en.wikipedia.org/wiki/Foo_(bar)`).
fn trim_url(url: &str) -> &str {
    // The brackets counted in one pass over the bytes (ASCII, so never inside a character).
    let (mut open_round, mut close_round, mut open_square, mut close_square) =
        (0usize, 0usize, 0usize, 0usize);
    for b in url.bytes() {
        match b {
            b'(' => open_round += 1,
            b')' => close_round += 1,
            b'[' => open_square += 1,
            b']' => close_square += 1,
            _ => {}
        }
    }
    let mut end = url.len();
    while let Some(last) = url[..end].chars().next_back() {
        let strip = match last {
            '.' | ',' | ';' | ':' | '!' | '?' | '*' => true,
            ')' if open_round < close_round => {
                close_round -= 1;
                true
            }
            ']' if open_square < close_square => {
                close_square -= 1;
                true
            }
            _ => false,
        };
        if !strip {
            break;
        }
        end -= last.len_utf8();
    }
    &url[..end]
}

/// One URL found in normalised text, with its byte range.
struct UrlMatch {
    start: usize,
    end: usize,
    url: String,
}

/// How many URLs nested inside one other URL (redirect parameters) are looked at; bounds the
/// work on hostile text such as `http://` repeated.
const MAX_NESTED_URLS: usize = 8;

fn find_urls(text: &str) -> Vec<UrlMatch> {
    let mut out: Vec<UrlMatch> = Vec::new();
    let mut outer_end = 0;
    let mut nested = 0;
    for (start, scheme_end) in url_starts(text) {
        if start < outer_end {
            nested += 1;
            if nested > MAX_NESTED_URLS {
                continue;
            }
        } else {
            nested = 0;
        }
        let raw_end = scheme_end + text.get(scheme_end..).map_or(0, url_len);
        if start >= outer_end {
            outer_end = raw_end;
        }
        let candidate = trim_url(&text[start..raw_end]);
        let url = if security::validate_url(candidate).is_ok() {
            Some(candidate.to_string())
        } else {
            with_ascii_host(candidate).filter(|u| security::validate_url(u).is_ok())
        };
        if let Some(url) = url {
            out.push(UrlMatch { start, end: start + candidate.len(), url });
        }
    }
    out
}

/// Decodes `%XX` escapes; invalid escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// URLs carried URL-encoded in the query of a wrapper URL (`?url=https%3A%2F%2F...`).
fn wrapped_urls(url: &str) -> Vec<String> {
    let Some((_, query)) = url.split_once('?') else { return Vec::new() };
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').map(|(_, v)| v))
        .filter(|v| {
            let lower = v.to_ascii_lowercase();
            lower.starts_with("http%3a%2f%2f") || lower.starts_with("https%3a%2f%2f")
        })
        .map(percent_decode)
        .map(|inner| trim_url(&inner).to_string())
        .filter(|inner| security::validate_url(inner).is_ok())
        .collect()
}

/// Blanks byte ranges (URLs) out of a text, keeping positions and UTF-8 validity.
fn blank_out(text: &str, ranges: &[(usize, usize)]) -> String {
    let mut masked = vec![false; text.len()];
    for (start, end) in ranges {
        if let Some(slots) = masked.get_mut(*start..(*end).min(text.len())) {
            slots.iter_mut().for_each(|m| *m = true);
        }
    }
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.char_indices() {
        if masked.get(i).copied().unwrap_or(false) {
            out.extend(std::iter::repeat_n(' ', c.len_utf8()));
        } else {
            out.push(c);
        }
    }
    out
}

/// The host of a valid URL, without userinfo, port or brackets.
pub fn url_host(url: &str) -> Option<&str> {
    let (_, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if let Some(inner) = hostport.strip_prefix('[') {
        return inner.split_once(']').map(|(h, _)| h);
    }
    Some(hostport.rsplit_once(':').map_or(hostport, |(h, _)| h))
}

/// Every URL in `text` (see the module documentation).
pub fn extract_urls(text: &str) -> Vec<String> {
    let text = normalise(text);
    let mut found = Found::new();
    for m in find_urls(&text) {
        for inner in wrapped_urls(&m.url) {
            found.add(m.start + 1, inner.clone(), inner);
        }
        found.add(m.start, m.url.clone(), m.url);
    }
    found.finish()
}

fn email_matches(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for m in EMAIL.find_iter(text) {
        let raw = m.as_str().trim_start_matches(['.', '-']);
        let offset = m.as_str().len() - raw.len();
        if let Some((local, domain)) = raw.rsplit_once('@') {
            let email = format!("{local}@{}", domain.to_ascii_lowercase());
            if security::validate_email(&email).is_ok() {
                out.push((m.start() + offset, email));
            }
        }
    }
    out
}

/// Every email address in `text` (`mailto:` links included), domain in lower case.
pub fn extract_emails(text: &str) -> Vec<String> {
    let text = normalise(text);
    let ranges: Vec<(usize, usize)> = find_urls(&text).iter().map(|m| (m.start, m.end)).collect();
    let rest = blank_out(&text, &ranges);
    let mut found = Found::new();
    for (at, email) in email_matches(&rest) {
        found.add(at, email.to_ascii_lowercase(), email);
    }
    found.finish()
}

/// Every domain in `text`: URL hosts, email domains and bare names, in lower case.
pub fn extract_domains(text: &str) -> Vec<String> {
    let text = normalise(text);
    let mut found = Found::new();
    let add = |found: &mut Found, at: usize, d: &str| {
        let d = d.to_ascii_lowercase();
        if security::validate_domain(&d).is_ok() {
            found.add(at, d.clone(), d);
        }
    };
    let urls = find_urls(&text);
    for m in &urls {
        for inner in wrapped_urls(&m.url) {
            if let Some(host) = url_host(&inner) {
                add(&mut found, m.start + 1, host);
            }
        }
        if let Some(host) = url_host(&m.url) {
            add(&mut found, m.start, host);
        }
    }
    let ranges: Vec<(usize, usize)> = urls.iter().map(|m| (m.start, m.end)).collect();
    let rest = blank_out(&text, &ranges);
    let emails = email_matches(&rest);
    let mut email_ranges = Vec::new();
    for m in EMAIL.find_iter(&rest) {
        email_ranges.push((m.start(), m.end()));
    }
    for (at, email) in &emails {
        if let Some((_, domain)) = email.rsplit_once('@') {
            add(&mut found, *at, domain);
        }
    }
    let rest = blank_out(&rest, &email_ranges);
    for m in DOMAIN.find_iter(&rest) {
        let name = m.as_str();
        let before = rest[..m.start()].chars().last();
        let after = rest[m.end()..].chars().next();
        // Part of a longer token: `a_b.example`, `x.y.z-`, `1.2.3.4`-like runs, paths.
        if before.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '\\' | '@'))
            || after.is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '@'))
        {
            continue;
        }
        let labels: Vec<&str> = name.split('.').collect();
        let tld = labels.last().map(|l| l.to_ascii_lowercase()).unwrap_or_default();
        if labels.len() == 2 && FILE_EXTENSIONS.contains(&tld.as_str()) {
            continue;
        }
        // `Thanks.Regards`, `Mr.Smith`: two words joined by a missing space, not a domain.
        let titlecase = |l: &str| {
            l.chars().next().is_some_and(char::is_uppercase) && l.chars().skip(1).any(char::is_lowercase)
        };
        if labels.len() == 2 && labels.last().is_some_and(|l| titlecase(l)) {
            continue;
        }
        add(&mut found, m.start(), name);
    }
    found.finish()
}

/// Every IPv4 and IPv6 address in `text` (see the module documentation).
pub fn extract_ips(text: &str) -> Vec<String> {
    let text = normalise(text);
    let mut found = Found::new();
    for m in IPV4.find_iter(&text) {
        let before = text[..m.start()].chars().last();
        let mut after = text[m.end()..].chars();
        let next = after.next();
        let next2 = after.next();
        if before.is_some_and(|c| c == '.' || c.is_ascii_digit() || c == 'v' || c == 'V')
            || next.is_some_and(|c| c.is_ascii_digit())
            || (next == Some('.') && next2.is_some_and(|c| c.is_ascii_digit()))
        {
            continue;
        }
        if security::validate_ipv4(m.as_str()).is_ok() {
            found.add(m.start(), m.as_str().to_string(), m.as_str().to_string());
        }
    }
    for m in IPV6.find_iter(&text) {
        let before = text[..m.start()].chars().last();
        let after = text[m.end()..].chars().next();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            || after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let mut candidate = m.as_str();
        let mut parsed = candidate.parse::<Ipv6Addr>();
        if parsed.is_err() {
            candidate = candidate.trim_end_matches(['.', ':']);
            parsed = candidate.parse::<Ipv6Addr>();
        }
        let Ok(addr) = parsed else { continue };
        if candidate.matches(':').count() < 2 || !candidate.chars().any(|c| c.is_ascii_hexdigit()) {
            continue;
        }
        let canonical = IpAddr::V6(addr).to_string();
        found.add(m.start(), canonical.clone(), canonical);
    }
    found.finish()
}

/// Every MD5, SHA-1, SHA-256 or SHA-512 hex digest in `text`, in lower case.
pub fn extract_hashes(text: &str) -> Vec<String> {
    let text = normalise(text);
    let ranges: Vec<(usize, usize)> = find_urls(&text).iter().map(|m| (m.start, m.end)).collect();
    let rest = blank_out(&text, &ranges);
    let mut found = Found::new();
    for m in HEX.find_iter(&rest) {
        let before = rest[..m.start()].chars().last();
        let after = rest[m.end()..].chars().next();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            || after.is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let hex = m.as_str();
        if security::hash_algorithm(hex.len()).is_none() || hex.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let lower = hex.to_ascii_lowercase();
        found.add(m.start(), lower.clone(), lower);
    }
    found.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PHISH_HTML: &str = r#"From: "IT Service Desk" <helpdesk@micros0ft-support.example>
Reply-To: recovery[@]micros0ft-support[.]example
Subject: Action required: mailbox quota exceeded

<html><body>
<p>Dear user,</p>
<p>Your mailbox is almost full. <a href="https://login.micros0ft-support.example/owa/auth.php?user=bob&amp;id=77#top">Click here</a> to keep your messages.</p>
<p>Or copy this link: hxxps://login.micros0ft-support[.]example/owa/auth.php?user=bob&amp;id=77#top.</p>
<p>Tracking: <img src="http://198.51.100.23/pixel.gif?u=5f4dcc3b5aa765d61d8327deb882cf99"></p>
<p>Attachment: invoice.pdf (SHA256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855)</p>
<p>Questions? Write to <a href="mailto:support@micros0ft-support.example">support@micros0ft-support.example</a>.</p>
<p>Protected by https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fevil.example%2Fpay%3Fa%3D1&amp;data=05%7C01</p>
</body></html>"#;

    #[test]
    fn urls_from_phishing_html() {
        let urls = extract_urls(PHISH_HTML);
        assert_eq!(
            urls,
            vec![
                "https://login.micros0ft-support.example/owa/auth.php?user=bob&id=77#top",
                "http://198.51.100.23/pixel.gif?u=5f4dcc3b5aa765d61d8327deb882cf99",
                "https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fevil.example%2Fpay%3Fa%3D1&data=05%7C01",
                "https://evil.example/pay?a=1",
            ]
        );
    }

    #[test]
    fn domains_from_phishing_html() {
        let domains = extract_domains(PHISH_HTML);
        assert_eq!(
            domains,
            vec![
                "micros0ft-support.example",
                "login.micros0ft-support.example",
                "nam02.safelinks.protection.outlook.com",
                "evil.example",
            ]
        );
    }

    #[test]
    fn emails_from_phishing_html() {
        assert_eq!(
            extract_emails(PHISH_HTML),
            vec![
                "helpdesk@micros0ft-support.example",
                "recovery@micros0ft-support.example",
                "support@micros0ft-support.example"
            ]
        );
    }

    #[test]
    fn ips_and_hashes_from_phishing_html() {
        assert_eq!(extract_ips(PHISH_HTML), vec!["198.51.100.23"]);
        assert_eq!(
            extract_hashes(PHISH_HTML),
            vec!["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]
        );
    }

    #[test]
    fn defanged_forms() {
        let text = "Blocked hxxp://evil(.)example/a and hxxps[:]//bad[.]example[/]x, \
                    also HXXPS://Caps[.]example, and fxp://files{.}example/f. \
                    Domain: evil[dot]example. Mail: bob[at]evil(.)example";
        assert_eq!(
            extract_urls(text),
            vec![
                "http://evil.example/a",
                "https://bad.example/x",
                "https://Caps.example",
                "ftp://files.example/f",
            ]
        );
        assert_eq!(
            extract_domains(text),
            vec!["evil.example", "bad.example", "caps.example", "files.example"]
        );
        assert_eq!(extract_emails(text), vec!["bob@evil.example"]);
        assert_eq!(
            extract_ips("c2 at 203.0.113[.]7 and 203[.]0[.]113[.]8"),
            vec!["203.0.113.7", "203.0.113.8"]
        );
    }

    const FORWARDED_PLAIN: &str = "\
---------- Forwarded message ---------
From: Payroll Department <payroll@hr-portal-update.example>
Date: Mon, 23 Nov 2026 at 10:30
Subject: Salary adjustment 2026
Received: from mail.hr-portal-update.example (mail.hr-portal-update.example [203.0.113.5])
        by mx1.corp.example with ESMTPS id 4Cg9; Mon, 23 Nov 2026 10:30:12 +0000
X-Originating-IP: [2001:db8:85a3::8a2e:370:7334]

> Hello,
> Please review your new salary at <https://hr-portal-update.example/salary?emp=1043>.
> If the link does not work, paste hxxps://hr-portal-update[.]example/salary into your browser.
> The attached salary_2026.xlsm needs macros enabled.Regards,
> Payroll Team (payroll[at]hr-portal-update[.]example)
> [Review now](https://bit.ly/3Sal4ry)

SHA1 of the attachment: 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12
Reported by Jane via the Report Phish button, client 10.20.30.40, Outlook 16.0.17928.20114.
";

    #[test]
    fn forwarded_plain_text_report() {
        assert_eq!(
            extract_urls(FORWARDED_PLAIN),
            vec![
                "https://hr-portal-update.example/salary?emp=1043",
                "https://hr-portal-update.example/salary",
                "https://bit.ly/3Sal4ry",
            ]
        );
        assert_eq!(
            extract_domains(FORWARDED_PLAIN),
            vec!["hr-portal-update.example", "mail.hr-portal-update.example", "mx1.corp.example", "bit.ly"]
        );
        assert_eq!(extract_emails(FORWARDED_PLAIN), vec!["payroll@hr-portal-update.example"]);
        assert_eq!(
            extract_ips(FORWARDED_PLAIN),
            vec!["203.0.113.5", "2001:db8:85a3::8a2e:370:7334", "10.20.30.40"]
        );
        assert_eq!(extract_hashes(FORWARDED_PLAIN), vec!["2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"]);
    }

    #[test]
    fn unicode_hosts_become_punycode() {
        let text = "Verify at https://p\u{430}ypal.com/signin «https://münchen.example/a»";
        let urls = extract_urls(text);
        assert_eq!(urls.len(), 2, "{urls:?}");
        assert!(urls[0].starts_with("https://xn--") && urls[0].ends_with(".com/signin"), "{urls:?}");
        assert_eq!(urls[1], "https://xn--mnchen-3ya.example/a");
        let domains = extract_domains(text);
        assert_eq!(domains.len(), 2, "{domains:?}");
        assert_eq!(domains[1], "xn--mnchen-3ya.example");
    }

    #[test]
    fn trailing_punctuation_and_brackets() {
        let text = "See (https://example.com/path). Also <https://example.org/x>, \
                    \"https://example.net/q?a=1\", https://en.wikipedia.org/wiki/Foo_(bar)! \
                    and 'http://example.io/'; end https://example.com/path";
        assert_eq!(
            extract_urls(text),
            vec![
                "https://example.com/path",
                "https://example.org/x",
                "https://example.net/q?a=1",
                "https://en.wikipedia.org/wiki/Foo_(bar)",
                "http://example.io/",
            ]
        );
    }

    #[test]
    fn ip_edge_cases() {
        let text = "Meeting at 10:30, version 1.2.3.4.5 and v10.0.0.1, build 3.14.159.26535, \
                    src=192.168.1.10, dst 8.8.8.8. v6 2001:db8::1 and fe80::1ff:fe23:4567:890a, \
                    loopback ::1, mac 00:1a:2b:3c:4d:5e, time 12:34:56, std::vector, \
                    full 2001:0DB8:0000:0000:0000:0000:0000:0001. bad 999.1.1.1";
        assert_eq!(
            extract_ips(text),
            vec!["192.168.1.10", "8.8.8.8", "2001:db8::1", "fe80::1ff:fe23:4567:890a", "::1"]
        );
    }

    #[test]
    fn hash_edge_cases() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let sha1 = "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709";
        let text = format!(
            "md5 {md5}, sha1: {sha1}; again {md5}. too short {} too long {} in word x{md5} \
             digits {} guid 550e8400-e29b-41d4-a716-446655440000",
            &md5[..31],
            "a".repeat(33),
            "1".repeat(32)
        );
        assert_eq!(extract_hashes(&text), vec![md5.to_string(), sha1.to_ascii_lowercase()]);
    }

    #[test]
    fn emails_with_mailto_and_noise() {
        let text = "mailto:Alice.Smith+sec@Example.COM?subject=hi, <bob@example.org>, \
                    'carol@example.net', not-an-email@localhost, a@b, alice.smith+sec@example.com \
                    https://www.paypal.com@evil.example/login";
        assert_eq!(
            extract_emails(text),
            vec!["Alice.Smith+sec@example.com", "bob@example.org", "carol@example.net"]
        );
        assert_eq!(extract_domains("https://www.paypal.com@evil.example/login"), vec!["evil.example"]);
    }

    #[test]
    fn bare_domains_skip_files_and_versions() {
        let text = "Open invoice.pdf or report.docx from files.example.com; e.g. see \
                    update.zip.example.net and version 1.2.3 and a_b.example.com";
        assert_eq!(extract_domains(text), vec!["files.example.com", "update.zip.example.net"]);
    }

    #[test]
    fn html_entities() {
        assert_eq!(decode_html_entities("a&amp;b&lt;&#62;&#x41;&nbsp;&bogus;"), "a&b<>A &bogus;");
        assert_eq!(
            extract_urls("<a href=\"https&#58;&#47;&#47;evil.example&#47;x\">"),
            vec!["https://evil.example/x"]
        );
    }

    #[test]
    fn text_that_may_not_be_defanged_matches_no_refang_rule() {
        // Every short text over an alphabet of what the rules look for: where the quick test
        // says no rule can match, none does (and where one does, the quick test said so).
        const ALPHABET: &[u8] = b"hHxXpPfF*[](){}\\.:/@atdoS 1";
        let mut rng = fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15);
        let mut checked = 0;
        for _ in 0..20_000 {
            let seed = rng.u64(..);
            let len = (seed % 9) as usize;
            let text: String = (0..len)
                .map(|i| char::from(ALPHABET[((seed >> (6 + 6 * i)) % ALPHABET.len() as u64) as usize]))
                .collect();
            let matched = REFANG_RULES.iter().any(|(re, _)| re.is_match(&text));
            assert!(!matched || may_be_defanged(&text), "{text:?} matches a rule");
            checked += usize::from(!may_be_defanged(&text));
        }
        assert!(checked > 1_000, "only {checked} texts were plain");
        assert!(
            may_be_defanged("hXxPs://a") && may_be_defanged("evil\\.example") && may_be_defanged("FxP://x")
        );
        assert!(!may_be_defanged("Pay: http://evil.example/a https://b.example/c"));
    }

    #[test]
    fn defang_and_refang_round_trip() {
        assert_eq!(defang("https://evil.example/a.php"), "hxxps://evil[.]example/a.php");
        assert_eq!(defang("http://user@evil.example:8080/"), "hxxp://user[@]evil[.]example:8080/");
        assert_eq!(defang("ftp://files.example"), "fxp://files[.]example");
        assert_eq!(defang("bob@evil.example"), "bob[@]evil[.]example");
        assert_eq!(defang("evil.example"), "evil[.]example");
        assert_eq!(defang("203.0.113.7"), "203[.]0[.]113[.]7");
        assert_eq!(defang(&defang("https://evil.example")), "hxxps://evil[.]example");
        for s in ["https://evil.example/a.php?x=1", "bob@evil.example", "203.0.113.7", "ftp://f.example/"] {
            assert_eq!(refang(&defang(s)), s);
        }
        assert_eq!(refang("hxxp://a[.]b (.) c"), "http://a.b . c");
        assert_eq!(refang("h**ps://x.example"), "https://x.example");
        assert_eq!(refang("evil\\.example"), "evil.example");
    }

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("https://u:p@Example.com:8443/x"), Some("Example.com"));
        assert_eq!(url_host("http://[2001:db8::1]:80/"), Some("2001:db8::1"));
        assert_eq!(url_host("http://10.0.0.1?x"), Some("10.0.0.1"));
        assert_eq!(url_host("nope"), None);
    }

    #[test]
    fn nothing_panics_on_odd_input() {
        let inputs = [
            String::new(),
            "%".to_string(),
            "https://x.example/?u=http%3A%2F%2F%".to_string(),
            "é".repeat(1000),
            "http://".repeat(1000),
            ":".repeat(5000),
            "a.".repeat(5000),
            "&#xFFFFFF;&#99999999;".to_string(),
            "\u{0}\u{1}@\u{2}.\u{3}".to_string(),
        ];
        for s in &inputs {
            let _ =
                (extract_urls(s), extract_domains(s), extract_ips(s), extract_emails(s), extract_hashes(s));
            let _ = (defang(s), refang(s));
        }
    }

    #[test]
    fn hostile_input_stays_fast() {
        let started = std::time::Instant::now();
        let big = format!("{}{}", "http://".repeat(50_000), "a.example/ ".repeat(20_000));
        let _ = extract_urls(&big);
        let _ = extract_domains(&big);
        let _ = extract_emails(&big);
        let _ = extract_hashes(&big);
        let parens = format!("https://x.example/{}", ")".repeat(50_000));
        assert_eq!(extract_urls(&parens), vec!["https://x.example/"]);
        assert!(started.elapsed().as_secs() < 20, "took {:?}", started.elapsed());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("https%3A%2F%2Fa.example%2F"), "https://a.example/");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%"), "%");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod scan_tests {
    use super::*;

    /// The regex the scheme scanner stands in for.
    fn regex_starts(text: &str) -> Vec<(usize, usize)> {
        static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?i)\b(?:https?|ftp)://").unwrap());
        RE.find_iter(text).map(|m| (m.start(), m.end())).collect()
    }

    #[test]
    fn scheme_scan_matches_the_regex() {
        // Pieces that make schemes, near-schemes, word boundaries and multi-byte text.
        const PIECES: &[&str] = &[
            "http", "HTTPS", "hTtPs", "ftp", "FTP", "s", "x", "_", "1", "é", "ж", "\u{300}", ":", "/", "://",
            " ", ".", "-", "[", "\u{a0}", "日本", "\n",
        ];
        let mut rng = fastrand::Rng::with_seed(0x5EED_05C4_E3E5);
        for _ in 0..20_000 {
            let n = rng.usize(1..14);
            let text: String = (0..n).map(|_| PIECES[rng.usize(..PIECES.len())]).collect();
            assert_eq!(url_starts(&text).collect::<Vec<_>>(), regex_starts(&text), "{text:?}");
        }
        for text in
            ["", "://", "http://", "xhttp://a", "é http://a", "éhttp://a", "_ftp://a", "https://x https://y"]
        {
            assert_eq!(url_starts(text).collect::<Vec<_>>(), regex_starts(text), "{text:?}");
        }
    }

    #[test]
    fn ascii_end_test_is_the_url_end_set() {
        for byte in 0..=127u8 {
            let c = char::from(byte);
            let expected = c.is_whitespace() || c.is_control() || "<>\"'`\\^|{}".contains(c);
            assert_eq!(ascii_ends_url(byte), expected, "{byte:#x}");
            assert_eq!(ends_url(c), expected, "{byte:#x}");
        }
        assert_eq!(url_len("a.example/x y"), 11);
        assert_eq!(url_len("a.example/ü»b"), 12);
        assert_eq!(url_len("a.example/ü"), 12);
        assert_eq!(url_len(""), 0);
    }
}
