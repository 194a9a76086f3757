//! `blocklist`: the `proxy` and `firewall` connectors on blocklist text files, the format
//! proxies and firewalls import (Squid ACL files, Palo Alto external dynamic lists):
//! one entry per line, `#` comments. Each entry the connector adds carries a comment
//! saying when and why; hand-written lines and comments are kept as they are.

#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;

use serde_json::Value;

use super::args::{ArgReader, now_rfc3339};
use super::config::Config;
use super::fsutil::{file_lock, hold, process_lock, read_optional, write_atomic};
use super::indicator::{self, Cidr, Kind, Url};
use super::{Args, ConnectorError, Native};

/// One blocklist file.
pub(crate) struct Blocklist {
    pub path: PathBuf,
}

impl Blocklist {
    /// The normalised entries of the file, with the kind each parses as.
    pub fn entries(&self) -> Result<Vec<(Kind, String)>, ConnectorError> {
        let text = read_optional(&self.path)?.unwrap_or_default();
        Ok(text.lines().filter_map(entry_of_line).collect())
    }

    /// Add `entry` unless present. Returns whether the file changed.
    pub fn add(&self, kind: Kind, entry: &str, comment: Option<&str>) -> Result<bool, ConnectorError> {
        let lock = file_lock(&self.path);
        let _guard = hold(&lock);
        let _os_lock = process_lock(&self.path);
        let mut text = read_optional(&self.path)?.unwrap_or_default();
        if text.lines().filter_map(entry_of_line).any(|(k, e)| k == kind && e == entry) {
            return Ok(false);
        }
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        let why = comment.map(one_line).filter(|c| !c.is_empty());
        let why = why.map(|c| format!(": {c}")).unwrap_or_default();
        text.push_str(&format!("{entry}  # blocked {}{why}\n", now_rfc3339()));
        write_atomic(&self.path, text.as_bytes())?;
        Ok(true)
    }

    /// Remove every line holding `entry`. Returns whether the file changed.
    pub fn remove(&self, kind: Kind, entry: &str) -> Result<bool, ConnectorError> {
        let lock = file_lock(&self.path);
        let _guard = hold(&lock);
        let _os_lock = process_lock(&self.path);
        let Some(text) = read_optional(&self.path)? else {
            return Ok(false);
        };
        let mut kept = String::with_capacity(text.len());
        let mut changed = false;
        for line in text.lines() {
            if entry_of_line(line).is_some_and(|(k, e)| k == kind && e == entry) {
                changed = true;
            } else {
                kept.push_str(line);
                kept.push('\n');
            }
        }
        if changed {
            write_atomic(&self.path, kept.as_bytes())?;
        }
        Ok(changed)
    }
}

fn entry_of_line(line: &str) -> Option<(Kind, String)> {
    let content = line.split('#').next().unwrap_or("").trim();
    let token = content.split_whitespace().next()?;
    indicator::classify(token)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn arg_indicator(r: &ArgReader<'_>, name: &str, kind: Kind, what: &str) -> Result<String, ConnectorError> {
    let raw = r.str(name)?;
    indicator::normalize(kind, raw).ok_or_else(|| r.invalid(name, format_args!("is not {what}: `{raw}`")))
}

/// `proxy`: blocks URLs and domains.
pub(crate) struct Proxy {
    name: String,
    urls: Blocklist,
    domains: Blocklist,
}

impl Proxy {
    pub fn from_config(cfg: &Config<'_>) -> Result<Self, String> {
        cfg.expect_keys("blocklist", &["urls", "domains"])?;
        Ok(Proxy {
            name: cfg.name.to_owned(),
            urls: Blocklist { path: cfg.path("urls", ".parry/blocklists/proxy-urls.txt")? },
            domains: Blocklist { path: cfg.path("domains", ".parry/blocklists/proxy-domains.txt")? },
        })
    }
}

const PROXY_ACTIONS: &[&str] = &["block_url", "unblock_url", "block_domain", "unblock_domain", "is_blocked"];

impl Native for Proxy {
    fn call_blocking(&self, action: &str, args: &Args) -> Result<Value, ConnectorError> {
        let r = ArgReader::new(&self.name, action, args);
        match action {
            "block_url" => {
                let u = arg_indicator(&r, "u", Kind::Url, "a URL")?;
                self.urls.add(Kind::Url, &u, r.opt_str("comment")?)?;
            }
            "unblock_url" => {
                let u = arg_indicator(&r, "u", Kind::Url, "a URL")?;
                self.urls.remove(Kind::Url, &u)?;
            }
            "block_domain" => {
                let d = arg_indicator(&r, "d", Kind::Domain, "a domain name")?;
                self.domains.add(Kind::Domain, &d, r.opt_str("comment")?)?;
            }
            "unblock_domain" => {
                let d = arg_indicator(&r, "d", Kind::Domain, "a domain name")?;
                self.domains.remove(Kind::Domain, &d)?;
            }
            "is_blocked" => {
                let raw = r.str("u")?;
                let u =
                    Url::parse(raw).ok_or_else(|| r.invalid("u", format_args!("is not a URL: `{raw}`")))?;
                let text = u.to_string();
                if self.urls.entries()?.iter().any(|(k, e)| *k == Kind::Url && *e == text) {
                    return Ok(Value::Bool(true));
                }
                let hosts = indicator::domain_and_parents(&u.host);
                let blocked =
                    self.domains.entries()?.iter().any(|(k, e)| *k == Kind::Domain && hosts.contains(e));
                return Ok(Value::Bool(blocked));
            }
            _ => return Err(ConnectorError::unknown_action(&self.name, action, PROXY_ACTIONS)),
        }
        Ok(Value::Null)
    }
}

/// `firewall`: blocks addresses and networks, in one file.
pub(crate) struct Firewall {
    name: String,
    list: Blocklist,
}

impl Firewall {
    pub fn from_config(cfg: &Config<'_>) -> Result<Self, String> {
        cfg.expect_keys("blocklist", &["file"])?;
        Ok(Firewall {
            name: cfg.name.to_owned(),
            list: Blocklist { path: cfg.path("file", ".parry/blocklists/firewall.txt")? },
        })
    }
}

#[cfg(test)]
impl Firewall {
    fn path(&self) -> &Path {
        &self.list.path
    }
}

const FIREWALL_ACTIONS: &[&str] = &["block_ip", "unblock_ip", "block_cidr", "unblock_cidr", "is_blocked"];

impl Native for Firewall {
    fn call_blocking(&self, action: &str, args: &Args) -> Result<Value, ConnectorError> {
        let r = ArgReader::new(&self.name, action, args);
        match action {
            "block_ip" => {
                let ip = arg_indicator(&r, "addr", Kind::Ip, "an IP address")?;
                self.list.add(Kind::Ip, &ip, r.opt_str("comment")?)?;
            }
            "unblock_ip" => {
                let ip = arg_indicator(&r, "addr", Kind::Ip, "an IP address")?;
                self.list.remove(Kind::Ip, &ip)?;
            }
            "block_cidr" => {
                let net = arg_indicator(&r, "net", Kind::Cidr, "a network such as 198.51.100.0/24")?;
                self.list.add(Kind::Cidr, &net, r.opt_str("comment")?)?;
            }
            "unblock_cidr" => {
                let net = arg_indicator(&r, "net", Kind::Cidr, "a network such as 198.51.100.0/24")?;
                self.list.remove(Kind::Cidr, &net)?;
            }
            "is_blocked" => {
                let raw = r.str("addr")?;
                let ip = indicator::normalize_ip(raw)
                    .ok_or_else(|| r.invalid("addr", format_args!("is not an IP address: `{raw}`")))?;
                let text = ip.to_string();
                let blocked = self.list.entries()?.iter().any(|(k, e)| match k {
                    Kind::Ip => *e == text,
                    Kind::Cidr => Cidr::parse(e).is_some_and(|c| c.contains(ip)),
                    _ => false,
                });
                return Ok(Value::Bool(blocked));
            }
            _ => return Err(ConnectorError::unknown_action(&self.name, action, FIREWALL_ACTIONS)),
        }
        Ok(Value::Null)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;

    fn args(v: Value) -> Args {
        v.as_object().unwrap().clone()
    }

    fn cfg<'a>(name: &'a str, v: &Value, root: &'a Path) -> Config<'a> {
        Config::new(name, v, root).unwrap()
    }

    #[test]
    fn firewall_block_is_idempotent_and_unblock_removes() {
        let dir = tempfile::tempdir().unwrap();
        let conf = json!({"file": "lists/fw.txt"});
        let fw = Firewall::from_config(&cfg("firewall", &conf, dir.path())).unwrap();
        assert_eq!(fw.path(), dir.path().join("lists/fw.txt"));
        fs::create_dir_all(dir.path().join("lists")).unwrap();
        fs::write(fw.path(), "# managed by the SOC\n198.51.100.0/24 # scanners\n").unwrap();

        let a = args(json!({"addr": "203.0.113.7", "comment": "brute force\nagainst vpn"}));
        fw.call_blocking("block_ip", &a).unwrap();
        fw.call_blocking("block_ip", &a).unwrap();
        let text = fs::read_to_string(fw.path()).unwrap();
        assert_eq!(text.matches("203.0.113.7").count(), 1, "{text}");
        assert!(text.contains(": brute force against vpn"), "{text}");
        assert!(text.starts_with("# managed by the SOC\n198.51.100.0/24 # scanners\n"));

        let probe = |ip: &str| fw.call_blocking("is_blocked", &args(json!({"addr": ip}))).unwrap();
        assert_eq!(probe("203.0.113.7"), json!(true));
        assert_eq!(probe("198.51.100.99"), json!(true), "inside a blocked network");
        assert_eq!(probe("192.0.2.1"), json!(false));

        fw.call_blocking("unblock_ip", &a).unwrap();
        assert_eq!(probe("203.0.113.7"), json!(false));
        assert!(fs::read_to_string(fw.path()).unwrap().contains("198.51.100.0/24 # scanners"));

        fw.call_blocking("block_cidr", &args(json!({"net": "192.0.2.9/24"}))).unwrap();
        assert_eq!(probe("192.0.2.1"), json!(true));
        fw.call_blocking("unblock_cidr", &args(json!({"net": "192.0.2.0/24"}))).unwrap();
        assert_eq!(probe("192.0.2.1"), json!(false));

        let err = fw.call_blocking("block_ip", &args(json!({"addr": "300.1.1.1"}))).unwrap_err();
        assert_eq!(err.kind, "invalid_argument");
        assert!(err.message.contains("`addr` is not an IP address"), "{}", err.message);
    }

    #[test]
    fn proxy_blocks_urls_and_domains() {
        let dir = tempfile::tempdir().unwrap();
        let proxy = Proxy::from_config(&cfg("proxy", &json!({}), dir.path())).unwrap();
        let probe = |u: &str| proxy.call_blocking("is_blocked", &args(json!({"u": u}))).unwrap();

        proxy.call_blocking("block_url", &args(json!({"u": "hxxp://evil[.]example/login"}))).unwrap();
        assert_eq!(probe("http://EVIL.example/login"), json!(true));
        assert_eq!(probe("http://evil.example/other"), json!(false));

        proxy.call_blocking("block_domain", &args(json!({"d": "bad.example"}))).unwrap();
        assert_eq!(probe("https://cdn.bad.example/x.js"), json!(true));
        assert_eq!(probe("https://notbad.example/"), json!(false));

        proxy.call_blocking("unblock_domain", &args(json!({"d": "BAD.example"}))).unwrap();
        proxy.call_blocking("unblock_url", &args(json!({"u": "http://evil.example/login"}))).unwrap();
        assert_eq!(probe("https://cdn.bad.example/x.js"), json!(false));
        assert_eq!(probe("http://evil.example/login"), json!(false));
        assert!(dir.path().join(".parry/blocklists/proxy-urls.txt").exists());

        let err = proxy.call_blocking("unblock_everything", &Args::new()).unwrap_err();
        assert_eq!(err.kind, "unknown_action");
    }

    #[test]
    fn unknown_config_keys_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let err = Firewall::from_config(&cfg("firewall", &json!({"fil": "x"}), dir.path())).err().unwrap();
        assert!(err.contains("unknown key `fil`"), "{err}");
    }
}
