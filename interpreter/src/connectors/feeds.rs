//! `feeds`: the `intel` and `sandbox` connectors on local threat-intelligence feeds.
//!
//! Three feed formats are read:
//! - STIX 2.1 bundles (`.json`): `indicator` objects whose `pattern` compares `url:value`,
//!   `domain-name:value`, `ipv4-addr:value`, `ipv6-addr:value`, `email-addr:value` or
//!   `file:hashes.*`; the verdict comes from `indicator_types` / `labels` and
//!   `confidence`; `indicates` relationships add the malware's name to the tags;
//!   revoked or expired indicators are skipped.
//! - CSV exports shaped like URLhaus's (`.csv`): `#` comment lines, then
//!   `id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter`.
//! - Plain lists (anything else): one indicator per line, `#` comments, with the verdict
//!   configured for the feed.
//!
//! Feeds are loaded when the connector is built (so a broken feed is reported at once)
//! and reloaded when a file changes.

use std::collections::HashMap;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::SystemTime;

use regex::Regex;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::args::{ArgReader, now_secs, parse_time};
use super::config::{Config, json_kind};
use super::fsutil::{read_optional, write_atomic};
use super::indicator::{self, Cidr, Kind, Url};
use super::{Args, ConnectorError, Native};

/// `Verdict`, ordered as in the language: unknown < benign < suspicious < malicious.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Verdict {
    Unknown,
    Benign,
    Suspicious,
    Malicious,
}

impl Verdict {
    fn parse(text: &str) -> Option<Verdict> {
        Some(match text {
            "unknown" => Verdict::Unknown,
            "benign" => Verdict::Benign,
            "suspicious" => Verdict::Suspicious,
            "malicious" => Verdict::Malicious,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Verdict::Unknown => "unknown",
            Verdict::Benign => "benign",
            Verdict::Suspicious => "suspicious",
            Verdict::Malicious => "malicious",
        }
    }
}

/// What one feed says about one indicator.
#[derive(Clone, Debug)]
struct Hit {
    verdict: Verdict,
    score: Option<i64>,
    source: String,
    tags: Vec<String>,
}

#[derive(Default)]
struct Index {
    exact: HashMap<(Kind, String), Vec<Hit>>,
    networks: Vec<(Cidr, Hit)>,
    /// Hits of listed URLs, by the URL's host: a domain hosting listed URLs is suspicious.
    url_hosts: HashMap<String, Vec<Hit>>,
}

impl Index {
    fn add(&mut self, kind: Kind, value: String, hit: Hit) {
        match kind {
            Kind::Cidr => {
                if let Some(c) = Cidr::parse(&value) {
                    self.networks.push((c, hit));
                }
            }
            Kind::Url => {
                if let Some(u) = Url::parse(&value) {
                    self.url_hosts.entry(u.host).or_default().push(hit.clone());
                }
                self.exact.entry((kind, value)).or_default().push(hit);
            }
            _ => self.exact.entry((kind, value)).or_default().push(hit),
        }
    }

    fn exact(&self, kind: Kind, value: &str) -> impl Iterator<Item = &Hit> {
        self.exact.get(&(kind, value.to_owned())).into_iter().flatten()
    }

    fn ip(&self, addr: IpAddr) -> Vec<&Hit> {
        let mut hits: Vec<&Hit> = self.exact(Kind::Ip, &addr.to_string()).collect();
        hits.extend(self.networks.iter().filter(|(c, _)| c.contains(addr)).map(|(_, h)| h));
        hits
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Stix,
    UrlhausCsv,
    List,
}

struct FeedSpec {
    name: String,
    path: PathBuf,
    format: Format,
    verdict: Option<Verdict>,
    score: Option<i64>,
    tags: Vec<String>,
    kind: Option<Kind>,
}

struct Loaded {
    stamps: Vec<Option<SystemTime>>,
    index: Arc<Index>,
}

/// The feeds of one connector, and how lookups match.
struct FeedSet {
    connector: String,
    specs: Vec<FeedSpec>,
    match_url_domain: bool,
    match_subdomains: bool,
    loaded: Mutex<Option<Loaded>>,
}

const FEED_KEYS: &[&str] = &["name", "path", "format", "verdict", "score", "tags", "kind"];

impl FeedSet {
    fn from_config(cfg: &Config<'_>) -> Result<Self, String> {
        let mut specs = Vec::new();
        for (i, item) in cfg.array("feeds")?.iter().enumerate() {
            specs.push(feed_spec(cfg, i, item)?);
        }
        let set = FeedSet {
            connector: cfg.name.to_owned(),
            specs,
            match_url_domain: cfg.bool("match_url_domain", true)?,
            match_subdomains: cfg.bool("match_subdomains", true)?,
            loaded: Mutex::new(None),
        };
        set.index().map_err(|e| format!("connectors.{}: {}", cfg.name, e.message))?;
        Ok(set)
    }

    /// The current index, reloaded when any feed file changed.
    fn index(&self) -> Result<Arc<Index>, ConnectorError> {
        let stamps: Vec<Option<SystemTime>> =
            self.specs.iter().map(|s| fs::metadata(&s.path).and_then(|m| m.modified()).ok()).collect();
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(l) = loaded.as_ref().filter(|l| l.stamps == stamps) {
            return Ok(Arc::clone(&l.index));
        }
        let mut index = Index::default();
        for spec in &self.specs {
            let text = read_optional(&spec.path)?.ok_or_else(|| {
                ConnectorError::unavailable(format!(
                    "feed `{}`: {} does not exist",
                    spec.name,
                    spec.path.display()
                ))
            })?;
            match spec.format {
                Format::Stix => load_stix(spec, &text, &mut index)?,
                Format::UrlhausCsv => load_urlhaus(spec, &text, &mut index),
                Format::List => load_list(spec, &text, &mut index),
            }
        }
        let index = Arc::new(index);
        *loaded = Some(Loaded { stamps, index: Arc::clone(&index) });
        Ok(index)
    }

    fn domain_hits<'a>(&self, index: &'a Index, domain: &str) -> Vec<&'a Hit> {
        let candidates = if self.match_subdomains {
            indicator::domain_and_parents(domain)
        } else {
            vec![domain.to_owned()]
        };
        candidates.iter().flat_map(|d| index.exact(Kind::Domain, d)).collect()
    }

    fn url(&self, u: &Url) -> Result<Value, ConnectorError> {
        let index = self.index()?;
        let mut hits: Vec<&Hit> = index.exact(Kind::Url, &u.to_string()).collect();
        if self.match_url_domain {
            match u.host_ip() {
                Some(ip) => hits.extend(index.ip(ip)),
                None => hits.extend(self.domain_hits(&index, &u.host)),
            }
        }
        Ok(self.reputation(hits, Vec::new()))
    }

    fn domain(&self, d: &str) -> Result<Value, ConnectorError> {
        let index = self.index()?;
        let hits = self.domain_hits(&index, d);
        // A host serving listed URLs is suspicious, not malicious: it may be a shared or
        // compromised site.
        let hosted: Vec<Hit> = index
            .url_hosts
            .get(d)
            .into_iter()
            .flatten()
            .map(|h| Hit { verdict: h.verdict.min(Verdict::Suspicious), ..h.clone() })
            .collect();
        Ok(self.reputation(hits, hosted))
    }

    fn ip(&self, addr: IpAddr) -> Result<Value, ConnectorError> {
        let index = self.index()?;
        let hosted: Vec<Hit> = index
            .url_hosts
            .get(&addr.to_string())
            .into_iter()
            .flatten()
            .map(|h| Hit { verdict: h.verdict.min(Verdict::Suspicious), ..h.clone() })
            .collect();
        Ok(self.reputation(index.ip(addr), hosted))
    }

    fn hash(&self, h: &str) -> Result<Value, ConnectorError> {
        let index = self.index()?;
        Ok(self.reputation(index.exact(Kind::Hash, h).collect(), Vec::new()))
    }

    fn email(&self, address: &str) -> Result<Value, ConnectorError> {
        let index = self.index()?;
        let mut hits: Vec<&Hit> = index.exact(Kind::Email, address).collect();
        if let Some((_, domain)) = address.rsplit_once('@') {
            hits.extend(self.domain_hits(&index, domain));
        }
        Ok(self.reputation(hits, Vec::new()))
    }

    /// Combine hits into a `Reputation`: the worst verdict, the highest score, every
    /// source and tag once, in feed order.
    fn reputation(&self, hits: Vec<&Hit>, owned: Vec<Hit>) -> Value {
        let all: Vec<&Hit> = hits.into_iter().chain(owned.iter()).collect();
        let verdict = all.iter().map(|h| h.verdict).max().unwrap_or(Verdict::Unknown);
        let score = all.iter().filter_map(|h| h.score).max();
        let mut sources: Vec<&str> = Vec::new();
        let mut tags: Vec<&str> = Vec::new();
        for h in &all {
            if !sources.contains(&h.source.as_str()) {
                sources.push(&h.source);
            }
            for t in &h.tags {
                if !tags.contains(&t.as_str()) {
                    tags.push(t);
                }
            }
        }
        let source = if sources.is_empty() { self.connector.clone() } else { sources.join(", ") };
        json!({ "verdict": verdict.as_str(), "score": score, "source": source, "tags": tags })
    }
}

fn feed_spec(cfg: &Config<'_>, i: usize, item: &Value) -> Result<FeedSpec, String> {
    let at = format!("connectors.{}.feeds[{i}]", cfg.name);
    let empty = Map::new();
    let (path_text, table) = match item {
        Value::String(p) => (p.as_str(), &empty),
        Value::Object(t) => match t.get("path") {
            Some(Value::String(p)) => (p.as_str(), t),
            Some(other) => return Err(format!("{at}.path must be a string, found {}", json_kind(other))),
            None => {
                return Err(format!(
                    "{at} has no `path`; give the feed file, e.g. path = \"feeds/urlhaus.csv\""
                ));
            }
        },
        other => {
            return Err(format!("{at} must be a path or a table with `path`, found {}", json_kind(other)));
        }
    };
    for key in table.keys() {
        if !FEED_KEYS.contains(&key.as_str()) {
            return Err(format!("{at}: unknown key `{key}`; known keys: {}", FEED_KEYS.join(", ")));
        }
    }
    let str_key = |key: &str| -> Result<Option<&str>, String> {
        match table.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!("{at}.{key} must be a string, found {}", json_kind(other))),
        }
    };
    let path = cfg.resolve(path_text);
    if !path.is_file() {
        return Err(format!("{at}.path: {} does not exist or is not a file", path.display()));
    }
    let format = match str_key("format")? {
        Some("stix") => Format::Stix,
        Some("urlhaus" | "csv") => Format::UrlhausCsv,
        Some("list") => Format::List,
        Some(other) => {
            return Err(format!("{at}.format must be \"stix\", \"urlhaus\" or \"list\", found \"{other}\""));
        }
        None => match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("json") => Format::Stix,
            Some("csv") => Format::UrlhausCsv,
            _ => Format::List,
        },
    };
    let verdict = match str_key("verdict")? {
        None => None,
        Some(v) => Some(Verdict::parse(v).ok_or_else(|| {
            format!("{at}.verdict must be one of unknown, benign, suspicious, malicious; found \"{v}\"")
        })?),
    };
    let score = match table.get("score") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64().filter(|n| (0..=100).contains(n)) {
            Some(n) => Some(n),
            None => return Err(format!("{at}.score must be an integer from 0 to 100")),
        },
    };
    let tags = match table.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|t| {
                t.as_str().map(str::to_owned).ok_or_else(|| format!("{at}.tags must be a list of strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(format!("{at}.tags must be a list of strings, found {}", json_kind(other)));
        }
    };
    let kind = match str_key("kind")? {
        None => None,
        Some(k) => Some(Kind::from_name(k).ok_or_else(|| {
            format!("{at}.kind must be one of url, domain, ip, cidr, email, hash; found \"{k}\"")
        })?),
    };
    let name = match str_key("name")? {
        Some(n) => n.to_owned(),
        None => {
            path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| path_text.to_owned())
        }
    };
    Ok(FeedSpec { name, path, format, verdict, score, tags, kind })
}

// --- STIX 2.1 --------------------------------------------------------------------------

static STIX_COMPARISON: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"([a-z0-9-]+):([A-Za-z0-9_.'"-]+)\s*(?:=|ISSUBSET)\s*'((?:[^'\\]|\\.)*)'"#).ok()
});

fn load_stix(spec: &FeedSpec, text: &str, index: &mut Index) -> Result<(), ConnectorError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| {
        ConnectorError::unavailable(format!("feed `{}`: {} is not JSON: {e}", spec.name, spec.path.display()))
    })?;
    let objects: Vec<&Value> = match &doc {
        Value::Array(items) => items.iter().collect(),
        Value::Object(map) => match map.get("objects") {
            Some(Value::Array(items)) => items.iter().collect(),
            _ => vec![&doc],
        },
        _ => Vec::new(),
    };
    let kind_of = |o: &Value| o.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
    // Names of the malware, tools and actors an indicator `indicates`.
    let names: HashMap<&str, &str> = objects
        .iter()
        .filter(|o| {
            matches!(kind_of(o).as_str(), "malware" | "tool" | "threat-actor" | "intrusion-set" | "campaign")
        })
        .filter_map(|o| Some((o.get("id")?.as_str()?, o.get("name")?.as_str()?)))
        .collect();
    let mut indicated: HashMap<&str, Vec<String>> = HashMap::new();
    for rel in objects.iter().filter(|o| kind_of(o) == "relationship") {
        let is_indicates = rel.get("relationship_type").and_then(Value::as_str) == Some("indicates");
        let source = rel.get("source_ref").and_then(Value::as_str);
        let target = rel.get("target_ref").and_then(Value::as_str).and_then(|t| names.get(t));
        if let (true, Some(source), Some(target)) = (is_indicates, source, target) {
            indicated.entry(source).or_default().push((*target).to_owned());
        }
    }
    let Some(re) = STIX_COMPARISON.as_ref() else {
        return Ok(());
    };
    let now = now_secs();
    for ind in objects.iter().filter(|o| kind_of(o) == "indicator") {
        if ind.get("revoked").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        let expired =
            ind.get("valid_until").and_then(Value::as_str).and_then(parse_time).is_some_and(|t| t < now);
        if expired {
            continue;
        }
        let Some(pattern) = ind.get("pattern").and_then(Value::as_str) else { continue };
        let strings = |key: &str| -> Vec<String> {
            ind.get(key)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let types: Vec<String> = strings("indicator_types").into_iter().chain(strings("labels")).collect();
        let confidence = ind.get("confidence").and_then(Value::as_i64);
        let verdict = spec.verdict.unwrap_or_else(|| stix_verdict(&types, confidence));
        let mut tags: Vec<String> = strings("labels");
        if let Some(id) = ind.get("id").and_then(Value::as_str) {
            tags.extend(indicated.get(id).cloned().unwrap_or_default());
        }
        tags.extend(spec.tags.iter().cloned());
        let hit = Hit { verdict, score: spec.score.or(confidence), source: spec.name.clone(), tags };
        for cap in re.captures_iter(pattern) {
            let (Some(object), Some(path), Some(value)) = (cap.get(1), cap.get(2), cap.get(3)) else {
                continue;
            };
            let value = value.as_str().replace("\\'", "'").replace("\\\\", "\\");
            let kind = match (object.as_str(), path.as_str()) {
                ("url", "value") => Kind::Url,
                ("domain-name", "value") => Kind::Domain,
                ("ipv4-addr" | "ipv6-addr", "value") if value.contains('/') => Kind::Cidr,
                ("ipv4-addr" | "ipv6-addr", "value") => Kind::Ip,
                ("email-addr", "value") | ("email-message", "from_ref.value" | "sender_ref.value") => {
                    Kind::Email
                }
                ("file", p) if p.starts_with("hashes.") => Kind::Hash,
                _ => continue,
            };
            if let Some(v) = indicator::normalize(kind, &value) {
                index.add(kind, v, hit.clone());
            }
        }
    }
    Ok(())
}

/// `benign` and `anomalous-activity` say so; otherwise an indicator marks malicious
/// activity, unless its confidence is below 50.
fn stix_verdict(types: &[String], confidence: Option<i64>) -> Verdict {
    let has = |t: &str| types.iter().any(|x| x.eq_ignore_ascii_case(t));
    if has("benign") {
        Verdict::Benign
    } else if has("anomalous-activity") || has("suspicious") || confidence.is_some_and(|c| c < 50) {
        Verdict::Suspicious
    } else {
        Verdict::Malicious
    }
}

// --- URLhaus-style CSV ------------------------------------------------------------------

fn load_urlhaus(spec: &FeedSpec, text: &str, index: &mut Index) {
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols = split_csv_line(line);
        let Some(Some(u)) = cols.get(2).map(|u| indicator::normalize_url(u)) else { continue };
        let mut tags: Vec<String> = Vec::new();
        if let Some(threat) = cols.get(5).filter(|t| !t.is_empty() && *t != "None") {
            tags.push(threat.clone());
        }
        if let Some(t) = cols.get(6) {
            tags.extend(
                t.split(',').map(str::trim).filter(|t| !t.is_empty() && *t != "None").map(str::to_owned),
            );
        }
        if cols.get(3).is_some_and(|s| s == "offline") {
            tags.push("offline".into());
        }
        tags.extend(spec.tags.iter().cloned());
        let hit = Hit {
            verdict: spec.verdict.unwrap_or(Verdict::Malicious),
            score: spec.score,
            source: spec.name.clone(),
            tags,
        };
        index.add(Kind::Url, u, hit);
    }
}

/// Split one CSV line: fields may be quoted, with `""` for a quote inside.
fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

// --- plain lists ------------------------------------------------------------------------

fn load_list(spec: &FeedSpec, text: &str, index: &mut Index) {
    for line in text.lines() {
        let content = line.split(" #").next().unwrap_or("").trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let Some(token) = content.split_whitespace().next() else { continue };
        let found = match spec.kind {
            Some(kind) => indicator::normalize(kind, token).map(|v| (kind, v)),
            None => indicator::classify(token),
        };
        if let Some((kind, value)) = found {
            let hit = Hit {
                verdict: spec.verdict.unwrap_or(Verdict::Malicious),
                score: spec.score,
                source: spec.name.clone(),
                tags: spec.tags.clone(),
            };
            index.add(kind, value, hit);
        }
    }
}

// --- intel ------------------------------------------------------------------------------

/// `intel`: reputation lookups across the configured feeds.
pub(crate) struct Intel {
    feeds: FeedSet,
}

const INTEL_KEYS: &[&str] = &["feeds", "match_url_domain", "match_subdomains"];
const INTEL_ACTIONS: &[&str] =
    &["url_reputation", "domain_reputation", "ip_reputation", "hash_reputation", "email_reputation"];

impl Intel {
    pub fn from_config(cfg: &Config<'_>) -> Result<Self, String> {
        cfg.expect_keys("feeds", INTEL_KEYS)?;
        Ok(Intel { feeds: FeedSet::from_config(cfg)? })
    }
}

fn normalized(r: &ArgReader<'_>, name: &str, kind: Kind, what: &str) -> Result<String, ConnectorError> {
    let raw = r.str(name)?;
    indicator::normalize(kind, raw).ok_or_else(|| r.invalid(name, format_args!("is not {what}: `{raw}`")))
}

fn parse_url_arg(r: &ArgReader<'_>, name: &str) -> Result<Url, ConnectorError> {
    let raw = r.str(name)?;
    Url::parse(raw).ok_or_else(|| r.invalid(name, format_args!("is not a URL: `{raw}`")))
}

impl Native for Intel {
    fn call_blocking(&self, action: &str, args: &Args) -> Result<Value, ConnectorError> {
        let r = ArgReader::new(&self.feeds.connector, action, args);
        match action {
            "url_reputation" => self.feeds.url(&parse_url_arg(&r, "u")?),
            "domain_reputation" => self.feeds.domain(&normalized(&r, "d", Kind::Domain, "a domain name")?),
            "ip_reputation" => {
                let raw = r.str("addr")?;
                let ip = indicator::normalize_ip(raw)
                    .ok_or_else(|| r.invalid("addr", format_args!("is not an IP address: `{raw}`")))?;
                self.feeds.ip(ip)
            }
            "hash_reputation" => {
                self.feeds.hash(&normalized(&r, "h", Kind::Hash, "an MD5, SHA-1 or SHA-256 hash")?)
            }
            "email_reputation" => {
                self.feeds.email(&normalized(&r, "address", Kind::Email, "an email address")?)
            }
            _ => Err(ConnectorError::unknown_action(&self.feeds.connector, action, INTEL_ACTIONS)),
        }
    }
}

// --- sandbox ----------------------------------------------------------------------------

/// `sandbox`: recorded analysis reports where there is one for the sample, otherwise a
/// report derived from the feeds; every report handed out is kept in the cache
/// directory so `get_report` finds it again.
pub(crate) struct Sandbox {
    feeds: FeedSet,
    reports: PathBuf,
    cache: PathBuf,
}

const SANDBOX_KEYS: &[&str] = &["feeds", "match_url_domain", "match_subdomains", "reports", "cache"];
const SANDBOX_ACTIONS: &[&str] = &["detonate_url", "detonate_file", "get_report"];

impl Sandbox {
    pub fn from_config(cfg: &Config<'_>) -> Result<Self, String> {
        cfg.expect_keys("feeds", SANDBOX_KEYS)?;
        Ok(Sandbox {
            feeds: FeedSet::from_config(cfg)?,
            reports: cfg.path("reports", "sandbox")?,
            cache: cfg.path("cache", ".parry/sandbox")?,
        })
    }

    /// Every recorded report, from the reports directory then the cache.
    fn recorded(&self) -> Result<Vec<Value>, ConnectorError> {
        let mut out = Vec::new();
        for dir in [&self.reports, &self.cache] {
            let Ok(entries) = fs::read_dir(dir) else { continue };
            let mut paths: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect();
            paths.sort();
            for path in paths {
                if let Some(report) = read_report(&path)? {
                    out.push(report);
                }
            }
        }
        Ok(out)
    }

    fn detonate(
        &self,
        target: String,
        reputation: Value,
        network: (Vec<String>, Vec<String>),
    ) -> Result<Value, ConnectorError> {
        let recorded = self
            .recorded()?
            .into_iter()
            .find(|rep| rep.get("target").and_then(Value::as_str).is_some_and(|t| same_target(t, &target)));
        if let Some(report) = recorded {
            return Ok(report);
        }
        let id = format!("sb-{}", &hex(&Sha256::digest(target.as_bytes()))[..16]);
        let report = json!({
            "id": id,
            "target": target,
            "status": "finished",
            "verdict": reputation.get("verdict").cloned().unwrap_or(json!("unknown")),
            "score": reputation.get("score").cloned().unwrap_or(Value::Null),
            "signatures": reputation.get("tags").cloned().unwrap_or(json!([])),
            "contacted_domains": network.0,
            "contacted_ips": network.1,
        });
        let text = serde_json::to_string_pretty(&report).unwrap_or_default();
        write_atomic(&self.cache.join(format!("{id}.json")), text.as_bytes())?;
        Ok(report)
    }
}

fn same_target(recorded: &str, target: &str) -> bool {
    recorded.eq_ignore_ascii_case(target) || indicator::normalize_url(recorded).is_some_and(|u| u == target)
}

fn read_report(path: &Path) -> Result<Option<Value>, ConnectorError> {
    let Some(text) = read_optional(path)? else { return Ok(None) };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
        return Err(ConnectorError::new(
            "invalid_state",
            format!("sandbox report {} is not a JSON object; fix or remove it", path.display()),
            false,
        ));
    };
    let get = |k: &str, d: Value| map.get(k).filter(|v| !v.is_null()).cloned().unwrap_or(d);
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Ok(Some(json!({
        "id": get("id", json!(stem)),
        "target": get("target", json!("")),
        "status": get("status", json!("finished")),
        "verdict": get("verdict", json!("unknown")),
        "score": get("score", Value::Null),
        "signatures": get("signatures", json!([])),
        "contacted_domains": get("contacted_domains", json!([])),
        "contacted_ips": get("contacted_ips", json!([])),
    })))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Native for Sandbox {
    fn call_blocking(&self, action: &str, args: &Args) -> Result<Value, ConnectorError> {
        let r = ArgReader::new(&self.feeds.connector, action, args);
        match action {
            "detonate_url" => {
                let u = parse_url_arg(&r, "u")?;
                r.duration_secs("timeout", 300)?;
                let reputation = self.feeds.url(&u)?;
                let network = match u.host_ip() {
                    Some(ip) => (Vec::new(), vec![ip.to_string()]),
                    None => (vec![u.host.clone()], Vec::new()),
                };
                self.detonate(u.to_string(), reputation, network)
            }
            "detonate_file" => {
                let hash = normalized(&r, "sha256", Kind::Hash, "a SHA-256 hash")?;
                r.opt_str("name")?;
                r.duration_secs("timeout", 300)?;
                let reputation = self.feeds.hash(&hash)?;
                self.detonate(hash, reputation, (Vec::new(), Vec::new()))
            }
            "get_report" => {
                let id = r.str("id")?;
                self.recorded()?
                    .into_iter()
                    .find(|rep| rep.get("id").and_then(Value::as_str) == Some(id))
                    .ok_or_else(|| ConnectorError::not_found(format!("{}: no report `{id}`", r.context())))
            }
            _ => Err(ConnectorError::unknown_action(&self.feeds.connector, action, SANDBOX_ACTIONS)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const STIX: &str = r#"{
      "type": "bundle", "id": "bundle--1",
      "objects": [
        { "type": "indicator", "spec_version": "2.1", "id": "indicator--a",
          "pattern": "[url:value = 'http://login.evil.example/o365']", "pattern_type": "stix",
          "indicator_types": ["malicious-activity"], "labels": ["phishing"], "confidence": 90,
          "valid_from": "2026-01-01T00:00:00Z" },
        { "type": "indicator", "spec_version": "2.1", "id": "indicator--b",
          "pattern": "[domain-name:value = 'evil.example'] OR [ipv4-addr:value = '203.0.113.0/24']",
          "pattern_type": "stix", "indicator_types": ["anomalous-activity"], "valid_from": "2026-01-01T00:00:00Z" },
        { "type": "indicator", "spec_version": "2.1", "id": "indicator--c",
          "pattern": "[file:hashes.'SHA-256' = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']",
          "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z" },
        { "type": "indicator", "spec_version": "2.1", "id": "indicator--d", "revoked": true,
          "pattern": "[email-addr:value = 'revoked@evil.example']", "pattern_type": "stix",
          "valid_from": "2026-01-01T00:00:00Z" },
        { "type": "indicator", "spec_version": "2.1", "id": "indicator--e",
          "pattern": "[email-addr:value = 'old@evil.example']", "pattern_type": "stix",
          "valid_from": "2020-01-01T00:00:00Z", "valid_until": "2021-01-01T00:00:00Z" },
        { "type": "malware", "spec_version": "2.1", "id": "malware--m", "name": "QakBot", "is_family": true },
        { "type": "relationship", "spec_version": "2.1", "id": "relationship--r",
          "relationship_type": "indicates", "source_ref": "indicator--c", "target_ref": "malware--m" }
      ]
    }"#;

    const URLHAUS: &str = "################################################################\n\
# abuse.ch URLhaus Database Dump (CSV - recent URLs)                #\n\
# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n\
\"3220316\",\"2026-11-26 12:43:06\",\"http://198.51.100.14:41337/Mozi.m\",\"online\",\"2026-11-26 12:43:06\",\"malware_download\",\"32-bit,elf,mips,Mozi\",\"https://urlhaus.abuse.ch/url/3220316/\",\"geenensp\"\n\
\"3220317\",\"2026-11-26 12:44:06\",\"https://cdn.shared.example/payload.zip\",\"offline\",\"\",\"malware_download\",\"zip\",\"https://urlhaus.abuse.ch/url/3220317/\",\"anonymous\"\n";

    const LIST: &str =
        "# internal blocklist\nbad-sender@phish.example\n192.0.2.66 # scanner\nphish.example\n";

    fn setup(extra: Value) -> (tempfile::TempDir, Value) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("feeds")).unwrap();
        fs::write(dir.path().join("feeds/bundle.json"), STIX).unwrap();
        fs::write(dir.path().join("feeds/urlhaus.csv"), URLHAUS).unwrap();
        fs::write(dir.path().join("feeds/internal.txt"), LIST).unwrap();
        let mut conf = json!({
            "feeds": [
                {"name": "CTI bundle", "path": "feeds/bundle.json"},
                {"name": "URLhaus", "path": "feeds/urlhaus.csv"},
                {"path": "feeds/internal.txt", "verdict": "malicious", "score": 80, "tags": ["internal"]},
            ]
        });
        if let (Value::Object(c), Value::Object(e)) = (&mut conf, extra) {
            c.extend(e);
        }
        (dir, conf)
    }

    fn intel(dir: &Path, conf: &Value) -> Intel {
        Intel::from_config(&Config::new("intel", conf, dir).unwrap()).unwrap()
    }

    fn ask(i: &Intel, action: &str, key: &str, value: &str) -> Value {
        let mut a = Args::new();
        a.insert(key.into(), json!(value));
        i.call_blocking(action, &a).unwrap()
    }

    #[test]
    fn stix_urlhaus_and_lists_are_combined() {
        let (dir, conf) = setup(json!({}));
        let i = intel(dir.path(), &conf);

        let r = ask(&i, "url_reputation", "u", "hxxp://login.evil[.]example/o365");
        assert_eq!(r["verdict"], "malicious");
        assert_eq!(r["score"], 90);
        assert_eq!(r["source"], "CTI bundle");
        assert_eq!(r["tags"], json!(["phishing"]));

        // Another URL on the domain: the domain indicator is anomalous-activity.
        let r = ask(&i, "url_reputation", "u", "https://www.evil.example/");
        assert_eq!(r["verdict"], "suspicious");

        let r = ask(&i, "url_reputation", "u", "http://198.51.100.14:41337/Mozi.m");
        assert_eq!(r["verdict"], "malicious");
        assert_eq!(r["source"], "URLhaus");
        assert_eq!(r["tags"], json!(["malware_download", "32-bit", "elf", "mips", "Mozi"]));

        let r = ask(&i, "domain_reputation", "d", "cdn.shared.example");
        assert_eq!(r["verdict"], "suspicious", "a host serving a listed URL");
        assert!(r["tags"].as_array().unwrap().contains(&json!("offline")));

        let r = ask(&i, "ip_reputation", "addr", "203.0.113.77");
        assert_eq!(r["verdict"], "suspicious");
        let r = ask(&i, "ip_reputation", "addr", "192.0.2.66");
        assert_eq!((r["verdict"].as_str(), r["score"].as_i64()), (Some("malicious"), Some(80)));
        assert_eq!(r["source"], "internal");
        let r = ask(&i, "ip_reputation", "addr", "198.51.100.14");
        assert_eq!(r["verdict"], "suspicious", "an address serving a listed URL");

        let r = ask(&i, "hash_reputation", "h", &"A".repeat(64));
        assert_eq!(r["verdict"], "malicious");
        assert_eq!(r["tags"], json!(["QakBot"]));

        let r = ask(&i, "email_reputation", "address", "bad-sender@phish.example");
        assert_eq!(r["verdict"], "malicious");
        let r = ask(&i, "email_reputation", "address", "someone@sub.phish.example");
        assert_eq!(r["verdict"], "malicious", "by the sender's parent domain");
        let r = ask(&i, "email_reputation", "address", "revoked@evil.example");
        assert_eq!(r["verdict"], "suspicious", "the revoked indicator is ignored; evil.example is anomalous");
        let r = ask(&i, "email_reputation", "address", "old@nowhere.example");
        assert_eq!(r, json!({"verdict": "unknown", "score": null, "source": "intel", "tags": []}));
    }

    #[test]
    fn matching_by_domain_can_be_turned_off() {
        let (dir, conf) = setup(json!({"match_url_domain": false, "match_subdomains": false}));
        let i = intel(dir.path(), &conf);
        assert_eq!(ask(&i, "url_reputation", "u", "https://www.evil.example/")["verdict"], "unknown");
        assert_eq!(ask(&i, "domain_reputation", "d", "www.phish.example")["verdict"], "unknown");
        assert_eq!(ask(&i, "domain_reputation", "d", "phish.example")["verdict"], "malicious");
    }

    #[test]
    fn feeds_reload_when_they_change() {
        let (dir, conf) = setup(json!({}));
        let i = intel(dir.path(), &conf);
        assert_eq!(ask(&i, "domain_reputation", "d", "new.example")["verdict"], "unknown");
        let path = dir.path().join("feeds/internal.txt");
        fs::write(&path, format!("{LIST}new.example\n")).unwrap();
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        fs::File::options().write(true).open(&path).unwrap().set_modified(later).unwrap();
        assert_eq!(ask(&i, "domain_reputation", "d", "new.example")["verdict"], "malicious");
    }

    #[test]
    fn bad_configuration_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let err = |conf: Value| {
            Intel::from_config(&Config::new("intel", &conf, dir.path()).unwrap()).err().unwrap()
        };
        assert!(err(json!({"feeds": ["missing.csv"]})).contains("feeds[0].path"));
        fs::write(dir.path().join("f.txt"), "x.example\n").unwrap();
        assert!(err(json!({"feeds": [{"path": "f.txt", "verdict": "evil"}]})).contains("feeds[0].verdict"));
        assert!(err(json!({"feeds": [{"path": "f.txt", "colour": "red"}]})).contains("unknown key `colour`"));
        assert!(err(json!({"feeds": [{"file": "f.txt"}]})).contains("has no `path`"));
        fs::write(dir.path().join("broken.json"), "{not json").unwrap();
        assert!(err(json!({"feeds": ["broken.json"]})).contains("is not JSON"));
        let i = intel(dir.path(), &json!({"feeds": ["f.txt"]}));
        let e = i
            .call_blocking("ip_reputation", &json!({"addr": "nope"}).as_object().unwrap().clone())
            .unwrap_err();
        assert_eq!(e.kind, "invalid_argument");
    }

    #[test]
    fn sandbox_uses_recorded_reports_then_the_feeds() {
        let (dir, mut conf) = setup(json!({}));
        fs::create_dir_all(dir.path().join("sandbox")).unwrap();
        fs::write(
            dir.path().join("sandbox/r1.json"),
            r#"{"id": "joe-1", "target": "http://login.evil.example/o365", "verdict": "malicious",
                "score": 97, "signatures": ["credential-harvesting"], "contacted_domains": ["evil.example"]}"#,
        )
        .unwrap();
        if let Value::Object(c) = &mut conf {
            c.insert("reports".into(), json!("sandbox"));
        }
        let sb = Sandbox::from_config(&Config::new("sandbox", &conf, dir.path()).unwrap()).unwrap();
        let call = |action: &str, v: Value| sb.call_blocking(action, v.as_object().unwrap());

        let r =
            call("detonate_url", json!({"u": "hxxp://login.evil[.]example/o365", "timeout": "2m"})).unwrap();
        assert_eq!(r["id"], "joe-1");
        assert_eq!(r["signatures"], json!(["credential-harvesting"]));
        assert_eq!(r["contacted_ips"], json!([]));

        let r = call("detonate_file", json!({"sha256": "a".repeat(64), "name": "invoice.exe"})).unwrap();
        assert_eq!(r["verdict"], "malicious");
        assert_eq!(r["signatures"], json!(["QakBot"]));
        let id = r["id"].as_str().unwrap().to_owned();
        assert_eq!(call("get_report", json!({"id": id})).unwrap(), r);

        let r = call("detonate_url", json!({"u": "https://unknown.example/"})).unwrap();
        assert_eq!(
            (r["verdict"].as_str(), r["contacted_domains"][0].as_str()),
            (Some("unknown"), Some("unknown.example"))
        );
        assert_eq!(call("get_report", json!({"id": "nope"})).unwrap_err().kind, "not_found");
        assert_eq!(
            call("detonate_url", json!({"u": "x", "timeout": "soon"})).unwrap_err().kind,
            "invalid_argument"
        );
    }
}
