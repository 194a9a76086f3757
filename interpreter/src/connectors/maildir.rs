//! `maildir`: the `mail` connector on a Maildir tree, `ROOT/<mailbox address>/{cur,new,tmp}`,
//! with messages parsed as RFC 5322 / MIME by `mail-parser`.
//!
//! - A message's `id` is its Message-ID header (without `<>`), else its file name's
//!   unique part; every copy of a message shares it.
//! - `received` is the delivery time: the file's modification time, as Dovecot keeps it.
//! - `quarantine` moves a copy to `ROOT/.quarantine/<mailbox>/<cur|new>/` under the same
//!   file name with one `rename`, so it is atomic; `release` moves it back; `purge`
//!   deletes it, wherever it is.
//! - `block_sender` keeps a blocklist file of sender addresses; `send` delivers into a
//!   local mailbox the Maildir way (write into `tmp/`, then rename into `new/`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs;
#[cfg(test)]
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use mail_parser::{MessageParser, MimeHeaders, PartType};
use regex::Regex;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::args::{ArgReader, format_time, now_secs};
use super::blocklist::Blocklist;
use super::config::Config;
use super::fsutil::write_atomic;
use super::indicator::{self, Kind, Url};
use super::{Args, ConnectorError, Native};

const QUARANTINE_DIR: &str = ".quarantine";
const SUBDIRS: [&str; 2] = ["new", "cur"];
const ACTIONS: &[&str] = &[
    "get_message",
    "search",
    "find_copies",
    "quarantine",
    "release",
    "purge",
    "block_sender",
    "unblock_sender",
    "send",
];

/// A `Message` record as JSON.
type Record = Map<String, Value>;

/// Parsed messages kept in memory, at most.
const MAX_CACHED_MESSAGES: usize = 20_000;

static DELIVERY_COUNTER: AtomicU64 = AtomicU64::new(0);

/// One copy of a message on disk.
#[derive(Clone, Debug)]
struct Copy {
    mailbox: String,
    /// `new` or `cur`.
    sub: &'static str,
    file_name: String,
    path: PathBuf,
    quarantined: bool,
}

pub(crate) struct Maildir {
    name: String,
    root: PathBuf,
    blocked_senders: Blocklist,
    from: String,
    /// Parsed messages by path, valid while the file's modification time and size hold.
    parsed: Mutex<HashMap<PathBuf, (SystemTime, u64, Record)>>,
}

impl Maildir {
    pub fn from_config(cfg: &Config<'_>) -> Result<Self, String> {
        cfg.expect_keys("maildir", &["root", "blocked_senders", "from"])?;
        let root = cfg.path("root", "mailboxes")?;
        if !root.is_dir() {
            return Err(format!(
                "connectors.{}.root: {} is not a directory; point `root` at the Maildir tree \
                 (one folder per mailbox address, each with cur/ new/ tmp/)",
                cfg.name,
                root.display()
            ));
        }
        let from = cfg.str("from")?.unwrap_or("parry@localhost.localdomain").to_owned();
        if indicator::normalize_email(&from).is_none() {
            return Err(format!("connectors.{}.from must be an email address, found `{from}`", cfg.name));
        }
        Ok(Maildir {
            name: cfg.name.to_owned(),
            blocked_senders: Blocklist {
                path: cfg.path("blocked_senders", ".parry/blocklists/blocked-senders.txt")?,
            },
            root,
            from,
            parsed: Mutex::new(HashMap::new()),
        })
    }

    /// Mailbox folder names under the root (hidden folders excluded), sorted.
    fn mailboxes(&self) -> Result<Vec<String>, ConnectorError> {
        let entries = fs::read_dir(&self.root).map_err(|e| ConnectorError::io("list", &self.root, &e))?;
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .filter(|n| !n.starts_with('.'))
            .collect();
        names.sort();
        Ok(names)
    }

    /// The folder name of a mailbox address (compared case-insensitively), if it exists.
    fn mailbox_folder(&self, address: &str) -> Result<Option<String>, ConnectorError> {
        Ok(self.mailboxes()?.into_iter().find(|m| m.eq_ignore_ascii_case(address.trim())))
    }

    fn folder_of(&self, mailbox: &str, quarantined: bool) -> PathBuf {
        if quarantined { self.root.join(QUARANTINE_DIR).join(mailbox) } else { self.root.join(mailbox) }
    }

    /// Every message file of the given mailboxes, in the mailbox and (if asked) in
    /// quarantine, sorted for a stable order.
    fn copies(&self, mailboxes: &[String], with_quarantine: bool) -> Result<Vec<Copy>, ConnectorError> {
        let mut out = Vec::new();
        for mailbox in mailboxes {
            for quarantined in [false, true] {
                if quarantined && !with_quarantine {
                    continue;
                }
                for sub in SUBDIRS {
                    let dir = self.folder_of(mailbox, quarantined).join(sub);
                    let Ok(entries) = fs::read_dir(&dir) else { continue };
                    let mut files: Vec<(String, PathBuf)> = entries
                        .filter_map(Result::ok)
                        .filter(|e| e.path().is_file())
                        .filter_map(|e| Some((e.file_name().to_str()?.to_owned(), e.path())))
                        .filter(|(n, _)| !n.starts_with('.'))
                        .collect();
                    files.sort();
                    out.extend(files.into_iter().map(|(file_name, path)| Copy {
                        mailbox: mailbox.clone(),
                        sub,
                        file_name,
                        path,
                        quarantined,
                    }));
                }
            }
        }
        Ok(out)
    }

    /// The `Message` record of one copy.
    fn message(&self, copy: &Copy) -> Result<Map<String, Value>, ConnectorError> {
        let meta = fs::metadata(&copy.path).map_err(|e| ConnectorError::io("read", &copy.path, &e))?;
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        let cached = {
            let cache = self.parsed.lock().unwrap_or_else(PoisonError::into_inner);
            cache
                .get(&copy.path)
                .filter(|(t, len, _)| *t == mtime && *len == meta.len())
                .map(|(_, _, m)| m.clone())
        };
        let mut record = match cached {
            Some(m) => m,
            None => {
                let bytes = fs::read(&copy.path).map_err(|e| ConnectorError::io("read", &copy.path, &e))?;
                let m = parse_message(&bytes, &copy.file_name, mtime);
                let mut cache = self.parsed.lock().unwrap_or_else(PoisonError::into_inner);
                // Moved and deleted files leave stale entries; start over rather than grow.
                if cache.len() >= MAX_CACHED_MESSAGES {
                    cache.clear();
                }
                cache.insert(copy.path.clone(), (mtime, meta.len(), m.clone()));
                m
            }
        };
        record.insert("mailbox".into(), json!(copy.mailbox.to_lowercase()));
        record.insert("quarantined".into(), json!(copy.quarantined));
        Ok(record)
    }

    fn message_id(copy: &Copy, record: &Map<String, Value>) -> String {
        record.get("id").and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| copy.file_name.clone())
    }

    /// The copies of message `id` in `mailbox`.
    fn copies_of(&self, mailbox: &str, id: &str) -> Result<Vec<(Copy, Record)>, ConnectorError> {
        let Some(folder) = self.mailbox_folder(mailbox)? else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for copy in self.copies(&[folder], true)? {
            let record = self.message(&copy)?;
            if Self::message_id(&copy, &record) == id {
                out.push((copy, record));
            }
        }
        Ok(out)
    }

    /// Move the copies of `message` in or out of quarantine. Moving a copy that is
    /// already where it should be is not an error.
    fn move_message(&self, r: &ArgReader<'_>, to_quarantine: bool) -> Result<Value, ConnectorError> {
        let id = clean_id(r.field("message", "id")?);
        let mailbox = r.field("message", "mailbox")?;
        let copies = self.copies_of(mailbox, &id)?;
        if copies.is_empty() {
            return Err(self.not_found(r, &id, Some(mailbox)));
        }
        for (copy, _) in copies.iter().filter(|(c, _)| c.quarantined != to_quarantine) {
            let dir = self.folder_of(&copy.mailbox, to_quarantine).join(copy.sub);
            fs::create_dir_all(&dir).map_err(|e| ConnectorError::io("create directory", &dir, &e))?;
            let target = dir.join(&copy.file_name);
            fs::rename(&copy.path, &target).map_err(|e| ConnectorError::io("move", &copy.path, &e))?;
        }
        Ok(Value::Null)
    }

    fn not_found(&self, r: &ArgReader<'_>, id: &str, mailbox: Option<&str>) -> ConnectorError {
        let place = match mailbox {
            Some(m) => format!("mailbox {m}"),
            None => "any mailbox".to_owned(),
        };
        ConnectorError::not_found(format!(
            "{}: no message `{id}` in {place} under {}",
            r.context(),
            self.root.display()
        ))
    }

    fn deliver(&self, r: &ArgReader<'_>) -> Result<Value, ConnectorError> {
        let raw_to = r.str("to")?;
        let to = indicator::normalize_email(raw_to)
            .ok_or_else(|| r.invalid("to", format_args!("is not an email address: `{raw_to}`")))?;
        let subject = r.str("subject")?;
        let body = r.str("body")?;
        let folder = self.mailbox_folder(&to)?.ok_or_else(|| {
            ConnectorError::not_found(format!(
                "{}: no local mailbox {to} under {}; the maildir connector delivers only to its own mailboxes",
                r.context(),
                self.root.display()
            ))
        })?;
        let secs = now_secs();
        let unique = format!(
            "{secs}.P{}Q{}.parry",
            std::process::id(),
            DELIVERY_COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let date = mail_parser::DateTime::from_timestamp(secs).to_rfc822();
        let normalized_body = body.replace("\r\n", "\n").replace('\n', "\r\n");
        let text = format!(
            "From: {}\r\nTo: {to}\r\nSubject: {}\r\nDate: {date}\r\nMessage-ID: <{unique}@parry.local>\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Transfer-Encoding: 8bit\r\n\r\n{normalized_body}\r\n",
            self.from,
            encode_header(subject),
        );
        let mailbox_dir = self.root.join(&folder);
        let tmp = mailbox_dir.join("tmp").join(&unique);
        write_atomic(&tmp, text.as_bytes())?;
        let new_dir = mailbox_dir.join("new");
        fs::create_dir_all(&new_dir).map_err(|e| ConnectorError::io("create directory", &new_dir, &e))?;
        let target = new_dir.join(&unique);
        fs::rename(&tmp, &target).map_err(|e| ConnectorError::io("deliver", &target, &e))?;
        Ok(Value::Null)
    }
}

impl Native for Maildir {
    fn call_blocking(&self, action: &str, args: &Args) -> Result<Value, ConnectorError> {
        let r = ArgReader::new(&self.name, action, args);
        match action {
            "get_message" => {
                let id = clean_id(r.str("id")?);
                let mailboxes = match r.opt_str("mailbox")? {
                    Some(m) => self.mailbox_folder(m)?.into_iter().collect(),
                    None => self.mailboxes()?,
                };
                let mut fallback = None;
                for copy in self.copies(&mailboxes, true)? {
                    let record = self.message(&copy)?;
                    if Self::message_id(&copy, &record) != id {
                        continue;
                    }
                    if !copy.quarantined {
                        return Ok(Value::Object(record));
                    }
                    fallback.get_or_insert(record);
                }
                fallback
                    .map(Value::Object)
                    .ok_or_else(|| self.not_found(&r, &id, r.opt_str("mailbox").ok().flatten()))
            }
            "search" => {
                let raw = r.str("sender")?;
                let sender = indicator::normalize_email(raw)
                    .ok_or_else(|| r.invalid("sender", format_args!("is not an email address: `{raw}`")))?;
                let subject = r.opt_str("subject")?.map(str::to_lowercase);
                let since = r.duration_secs("since", 7 * 86_400)?;
                let mailboxes = match r.opt_str("mailbox")? {
                    Some(m) => self.mailbox_folder(m)?.into_iter().collect(),
                    None => self.mailboxes()?,
                };
                let oldest = now_secs().saturating_sub(since);
                let mut found = Vec::new();
                for copy in self.copies(&mailboxes, false)? {
                    let record = self.message(&copy)?;
                    let from = record.get("sender").and_then(Value::as_str).unwrap_or_default();
                    let subj =
                        record.get("subject").and_then(Value::as_str).unwrap_or_default().to_lowercase();
                    let received = record.get("received").and_then(Value::as_str).and_then(super::parse_time);
                    if from == sender
                        && subject.as_ref().is_none_or(|s| subj.contains(s.as_str()))
                        && received.is_some_and(|t| t >= oldest)
                    {
                        found.push(Value::Object(record));
                    }
                }
                Ok(Value::Array(found))
            }
            "find_copies" => {
                let id = clean_id(r.str("id")?);
                let mut found = Vec::new();
                for copy in self.copies(&self.mailboxes()?, true)? {
                    let record = self.message(&copy)?;
                    if Self::message_id(&copy, &record) == id {
                        found.push(Value::Object(record));
                    }
                }
                Ok(Value::Array(found))
            }
            "quarantine" => self.move_message(&r, true),
            "release" => self.move_message(&r, false),
            "purge" => {
                let id = clean_id(r.field("message", "id")?);
                let mailbox = r.field("message", "mailbox")?;
                let copies = self.copies_of(mailbox, &id)?;
                if copies.is_empty() {
                    return Err(self.not_found(&r, &id, Some(mailbox)));
                }
                for (copy, _) in copies {
                    fs::remove_file(&copy.path).map_err(|e| ConnectorError::io("delete", &copy.path, &e))?;
                }
                Ok(Value::Null)
            }
            "block_sender" | "unblock_sender" => {
                let raw = r.str("sender")?;
                let sender = indicator::normalize_email(raw)
                    .ok_or_else(|| r.invalid("sender", format_args!("is not an email address: `{raw}`")))?;
                if action == "block_sender" {
                    self.blocked_senders.add(Kind::Email, &sender, None)?;
                } else {
                    self.blocked_senders.remove(Kind::Email, &sender)?;
                }
                Ok(Value::Null)
            }
            "send" => self.deliver(&r),
            _ => Err(ConnectorError::unknown_action(&self.name, action, ACTIONS)),
        }
    }
}

fn clean_id(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').to_owned()
}

/// RFC 2047-encode a header value that is not plain ASCII.
fn encode_header(value: &str) -> Cow<'_, str> {
    let one_line = value.contains(['\r', '\n']);
    if value.is_ascii() && !one_line {
        return Cow::Borrowed(value);
    }
    let flat = value.replace(['\r', '\n'], " ");
    Cow::Owned(format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(flat)))
}

/// Build the `Message` record of a raw message (without `mailbox` and `quarantined`).
fn parse_message(bytes: &[u8], file_name: &str, mtime: SystemTime) -> Map<String, Value> {
    let fallback_id = file_name.split(':').next().unwrap_or(file_name).to_owned();
    let received_secs =
        mtime.duration_since(UNIX_EPOCH).ok().and_then(|d| i64::try_from(d.as_secs()).ok()).unwrap_or(0);
    let Some(msg) = MessageParser::default().parse(bytes) else {
        // Not a message at all: still list it, so nothing in a mailbox is invisible.
        return json!({
            "id": fallback_id, "sender": "", "sender_name": null, "reply_to": null,
            "recipients": [], "subject": "", "received": format_time(received_secs),
            "body": String::from_utf8_lossy(bytes), "html": null, "urls": [], "attachments": [],
            "headers": {},
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
    };
    let id = msg.message_id().map(clean_id).filter(|i| !i.is_empty()).unwrap_or(fallback_id);
    let from = first_addr(msg.from()).or_else(|| first_addr(msg.sender()));
    let sender = from
        .as_ref()
        .and_then(|a| a.address())
        .or(msg.return_address())
        .map(str::to_lowercase)
        .unwrap_or_default();
    let sender_name = from.as_ref().and_then(|a| a.name()).map(str::to_owned);
    let reply_to =
        first_addr(msg.reply_to()).and_then(|a| a.address().map(str::to_lowercase)).filter(|r| *r != sender);
    let recipients: Vec<String> = msg
        .to()
        .map(|to| to.iter().filter_map(|a| a.address()).map(str::to_lowercase).collect())
        .unwrap_or_default();
    // Line ends as playbooks expect them, whatever the wire format.
    let body = msg.body_text(0).map(|b| b.replace("\r\n", "\n")).unwrap_or_default();
    let html: Option<String> = msg.html_part(0).and_then(|p| match &p.body {
        PartType::Html(h) => Some(h.replace("\r\n", "\n")),
        _ => None,
    });
    let mut urls = links_in_text(&body);
    for u in html.as_deref().map(links_in_html).unwrap_or_default() {
        if !urls.contains(&u) {
            urls.push(u);
        }
    }
    let attachments: Vec<Value> = msg
        .attachments()
        .map(|part| {
            let content_type = part
                .content_type()
                .map(|ct| match ct.subtype() {
                    Some(sub) => format!("{}/{}", ct.ctype(), sub),
                    None => ct.ctype().to_owned(),
                })
                .unwrap_or_else(|| "application/octet-stream".to_owned())
                .to_lowercase();
            let contents = part.contents();
            json!({
                "name": part.attachment_name().unwrap_or_default(),
                "content_type": content_type,
                "size": contents.len(),
                "sha256": hex(&Sha256::digest(contents)),
            })
        })
        .collect();
    let mut headers = Map::new();
    for (name, raw) in msg.headers_raw() {
        let value = Value::String(unfold(raw));
        match headers.get_mut(name) {
            None => {
                headers.insert(name.to_owned(), value);
            }
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    let mut record = Map::new();
    record.insert("id".into(), json!(id));
    record.insert("sender".into(), json!(sender));
    record.insert("sender_name".into(), json!(sender_name));
    record.insert("reply_to".into(), json!(reply_to));
    record.insert("recipients".into(), json!(recipients));
    record.insert("subject".into(), json!(msg.subject().unwrap_or_default()));
    record.insert("received".into(), json!(format_time(received_secs)));
    record.insert("body".into(), json!(body));
    record.insert("html".into(), json!(html));
    record.insert("urls".into(), json!(urls));
    record.insert("attachments".into(), Value::Array(attachments));
    record.insert("headers".into(), Value::Object(headers));
    record
}

fn first_addr<'a>(a: Option<&'a mail_parser::Address<'a>>) -> Option<&'a mail_parser::Addr<'a>> {
    a.and_then(|a| a.first())
}

fn unfold(raw: &str) -> String {
    raw.split(['\r', '\n']).map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

static TEXT_URL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?i)\b(?:https?|hxxps?)(?:://|\[://\]|\[:\]//)[^\s<>"'`]+"#).ok());
static HREF: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r#"(?i)\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))"#).ok());

/// Links written in plain text, refanged; trailing punctuation is not part of a link.
fn links_in_text(text: &str) -> Vec<String> {
    let Some(re) = TEXT_URL.as_ref() else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    for m in re.find_iter(text) {
        let candidate = m.as_str().trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']', '>']);
        push_link(&mut out, candidate);
    }
    out
}

/// Targets of `href` attributes, with HTML character references decoded.
fn links_in_html(html: &str) -> Vec<String> {
    let Some(re) = HREF.as_ref() else { return Vec::new() };
    let mut out: Vec<String> = Vec::new();
    for cap in re.captures_iter(html) {
        let Some(raw) = cap.get(1).or(cap.get(2)).or(cap.get(3)) else { continue };
        push_link(&mut out, &decode_entities(raw.as_str()));
    }
    out.extend(links_in_text(&decode_entities(html)).into_iter().collect::<Vec<_>>());
    let mut unique: Vec<String> = Vec::new();
    for u in out {
        if !unique.contains(&u) {
            unique.push(u);
        }
    }
    unique
}

fn push_link(out: &mut Vec<String>, candidate: &str) {
    let refanged = indicator::refang(candidate.trim());
    let lower = refanged.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return;
    }
    if let Some(u) = Url::parse(&refanged) {
        let text = u.to_string();
        if !out.contains(&text) {
            out.push(text);
        }
    }
}

/// Decode HTML character references: named (the few that hide links), decimal, hex.
fn decode_entities(text: &str) -> String {
    const NAMED: &[(&str, char)] = &[
        ("amp", '&'),
        ("lt", '<'),
        ("gt", '>'),
        ("quot", '"'),
        ("apos", '\''),
        ("colon", ':'),
        ("sol", '/'),
        ("period", '.'),
        ("commat", '@'),
        ("quest", '?'),
        ("equals", '='),
        ("nbsp", ' '),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or(""));
        let after = rest.get(amp + 1..).unwrap_or("");
        let end = after.find(';').filter(|e| *e <= 10);
        let decoded = end.and_then(|e| {
            let name = after.get(..e)?;
            let c = if let Some(num) = name.strip_prefix("#x").or(name.strip_prefix("#X")) {
                char::from_u32(u32::from_str_radix(num, 16).ok()?)
            } else if let Some(num) = name.strip_prefix('#') {
                char::from_u32(num.parse().ok()?)
            } else {
                NAMED.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
            }?;
            Some((c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = after.get(e + 1..).unwrap_or("");
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
fn set_mtime(path: &Path, secs_ago: i64) {
    let when = SystemTime::now() - std::time::Duration::from_secs(u64::try_from(secs_ago).unwrap_or(0));
    if let Ok(f) = fs::File::options().write(true).open(path) {
        let _ = f.set_modified(when);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PHISH: &str = "From: \"Payroll\" <Payroll@Evil.example>\r\n\
To: alice@corp.example\r\n\
Reply-To: collect@evil.example\r\n\
Subject: Invoice overdue\r\n\
Date: Fri, 27 Nov 2026 09:00:00 +0000\r\n\
Message-ID: <inv-42@evil.example>\r\n\
Authentication-Results: mx.corp.example; spf=fail\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\
\r\n\
--b1\r\n\
Content-Type: multipart/alternative; boundary=\"b2\"\r\n\
\r\n\
--b2\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
Pay now at hxxp://portal[.]evil.example/pay.\r\n\
--b2\r\n\
Content-Type: text/html; charset=utf-8\r\n\
\r\n\
<p><a href=\"&#104;ttps://login.evil.example/o365?u=alice&amp;x=1\">https://portal.office.com</a></p>\r\n\
--b2--\r\n\
--b1\r\n\
Content-Type: application/pdf; name=\"invoice.pdf\"\r\n\
Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--b1--\r\n";

    fn deliver(root: &Path, mailbox: &str, sub: &str, name: &str, text: &str) -> PathBuf {
        for d in ["cur", "new", "tmp"] {
            fs::create_dir_all(root.join(mailbox).join(d)).unwrap();
        }
        let p = root.join(mailbox).join(sub).join(name);
        fs::write(&p, text).unwrap();
        p
    }

    fn args(v: Value) -> Args {
        v.as_object().unwrap().clone()
    }

    fn setup() -> (tempfile::TempDir, Maildir) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("mailboxes");
        deliver(&root, "alice@corp.example", "cur", "1700000000.M1P1.mx:2,S", PHISH);
        deliver(&root, "bob@corp.example", "new", "1700000001.M2P1.mx", PHISH);
        deliver(
            &root,
            "bob@corp.example",
            "cur",
            "1700000002.M3P1.mx:2,S",
            "From: ceo@corp.example\r\nTo: bob@corp.example\r\nSubject: Lunch\r\n\r\nAt noon?\r\n",
        );
        let old = deliver(&root, "carol@corp.example", "cur", "1600000000.M4P1.mx:2,S", PHISH);
        set_mtime(&old, 30 * 86_400);
        let cfg = Config::new("mail", &json!({"root": "mailboxes", "from": "soc@corp.example"}), dir.path())
            .unwrap();
        let m = Maildir::from_config(&cfg).unwrap();
        (dir, m)
    }

    #[test]
    fn parses_headers_parts_links_and_attachments() {
        let (_dir, m) = setup();
        let msg = m
            .call_blocking(
                "get_message",
                &args(json!({"id": "<inv-42@evil.example>", "mailbox": "alice@corp.example"})),
            )
            .unwrap();
        assert_eq!(msg["id"], "inv-42@evil.example");
        assert_eq!(msg["mailbox"], "alice@corp.example");
        assert_eq!(msg["sender"], "payroll@evil.example");
        assert_eq!(msg["sender_name"], "Payroll");
        assert_eq!(msg["reply_to"], "collect@evil.example");
        assert_eq!(msg["recipients"], json!(["alice@corp.example"]));
        assert_eq!(msg["subject"], "Invoice overdue");
        assert!(msg["body"].as_str().unwrap().contains("hxxp://portal[.]evil.example/pay"));
        assert!(msg["html"].as_str().unwrap().contains("<a href="));
        assert_eq!(
            msg["urls"],
            json!([
                "http://portal.evil.example/pay",
                "https://login.evil.example/o365?u=alice&x=1",
                "https://portal.office.com/"
            ])
        );
        let att = &msg["attachments"][0];
        assert_eq!(att["name"], "invoice.pdf");
        assert_eq!(att["content_type"], "application/pdf");
        assert_eq!(att["size"], 9);
        assert_eq!(att["sha256"], hex(&Sha256::digest(b"%PDF-1.4\n")));
        assert_eq!(msg["headers"]["Authentication-Results"], "mx.corp.example; spf=fail");
        assert_eq!(msg["quarantined"], false);
        assert!(super::super::parse_time(msg["received"].as_str().unwrap()).is_some());

        let err = m.call_blocking("get_message", &args(json!({"id": "nope"}))).unwrap_err();
        assert_eq!(err.kind, "not_found");
        // A message without Message-ID is known by its file name.
        let lunch = m.call_blocking("get_message", &args(json!({"id": "1700000002.M3P1.mx"}))).unwrap();
        assert_eq!(lunch["subject"], "Lunch");
        assert_eq!(lunch["html"], Value::Null);
    }

    #[test]
    fn search_filters_by_sender_subject_and_age() {
        let (_dir, m) = setup();
        let found = m.call_blocking("search", &args(json!({"sender": "PAYROLL@evil.example"}))).unwrap();
        let boxes: Vec<&str> =
            found.as_array().unwrap().iter().map(|x| x["mailbox"].as_str().unwrap()).collect();
        assert_eq!(boxes, ["alice@corp.example", "bob@corp.example"], "carol's copy is 30 days old");
        let found = m
            .call_blocking("search", &args(json!({"sender": "payroll@evil.example", "since": "60d"})))
            .unwrap();
        assert_eq!(found.as_array().unwrap().len(), 3);
        let found = m
            .call_blocking("search", &args(json!({"sender": "payroll@evil.example", "subject": "LUNCH"})))
            .unwrap();
        assert_eq!(found, json!([]));
        let found = m
            .call_blocking(
                "search",
                &args(json!({"sender": "payroll@evil.example", "mailbox": "bob@corp.example"})),
            )
            .unwrap();
        assert_eq!(found.as_array().unwrap().len(), 1);
        assert!(m.call_blocking("search", &args(json!({"sender": "not-an-address"}))).is_err());
    }

    #[test]
    fn quarantine_release_and_purge() {
        let (dir, m) = setup();
        let root = dir.path().join("mailboxes");
        let msg = json!({"message": {"id": "inv-42@evil.example", "mailbox": "bob@corp.example"}});
        m.call_blocking("quarantine", &args(msg.clone())).unwrap();
        assert!(!root.join("bob@corp.example/new/1700000001.M2P1.mx").exists());
        assert!(root.join(".quarantine/bob@corp.example/new/1700000001.M2P1.mx").exists());
        m.call_blocking("quarantine", &args(msg.clone())).unwrap();

        let found = m.call_blocking("search", &args(json!({"sender": "payroll@evil.example"}))).unwrap();
        assert_eq!(found.as_array().unwrap().len(), 1, "quarantined copies are not found by search");
        let copies = m.call_blocking("find_copies", &args(json!({"id": "inv-42@evil.example"}))).unwrap();
        let flags: Vec<bool> =
            copies.as_array().unwrap().iter().map(|c| c["quarantined"].as_bool().unwrap()).collect();
        assert_eq!(flags, [false, true, false]);

        m.call_blocking("release", &args(msg.clone())).unwrap();
        assert!(root.join("bob@corp.example/new/1700000001.M2P1.mx").exists());
        m.call_blocking("release", &args(msg.clone())).unwrap();

        m.call_blocking("quarantine", &args(msg.clone())).unwrap();
        m.call_blocking("purge", &args(msg.clone())).unwrap();
        assert!(!root.join(".quarantine/bob@corp.example/new/1700000001.M2P1.mx").exists());
        let err = m.call_blocking("purge", &args(msg)).unwrap_err();
        assert_eq!(err.kind, "not_found");
        let err = m
            .call_blocking("quarantine", &args(json!({"message": {"id": "x", "mailbox": "../../etc"}})))
            .unwrap_err();
        assert_eq!(err.kind, "not_found");
        let err = m.call_blocking("quarantine", &args(json!({"message": {"id": "x"}}))).unwrap_err();
        assert!(err.message.contains("`message` has no `mailbox` field"), "{}", err.message);
    }

    #[test]
    fn send_delivers_and_senders_can_be_blocked() {
        let (dir, m) = setup();
        m.call_blocking(
            "send",
            &args(json!({"to": "Alice@corp.example", "subject": "Merci — thanks", "body": "We removed it.\nThanks!"})),
        )
        .unwrap();
        let new_dir = dir.path().join("mailboxes/alice@corp.example/new");
        let delivered: Vec<_> = fs::read_dir(&new_dir).unwrap().collect();
        assert_eq!(delivered.len(), 1);
        let found = m.call_blocking("search", &args(json!({"sender": "soc@corp.example"}))).unwrap();
        assert_eq!(found[0]["subject"], "Merci — thanks");
        assert_eq!(found[0]["body"].as_str().unwrap().trim_end(), "We removed it.\nThanks!");
        let err = m
            .call_blocking("send", &args(json!({"to": "x@elsewhere.example", "subject": "s", "body": "b"})))
            .unwrap_err();
        assert_eq!(err.kind, "not_found");

        m.call_blocking("block_sender", &args(json!({"sender": "Payroll@evil.example"}))).unwrap();
        let list = fs::read_to_string(dir.path().join(".parry/blocklists/blocked-senders.txt")).unwrap();
        assert!(list.starts_with("payroll@evil.example  # blocked "), "{list}");
        m.call_blocking("unblock_sender", &args(json!({"sender": "payroll@evil.example"}))).unwrap();
        let list = fs::read_to_string(dir.path().join(".parry/blocklists/blocked-senders.txt")).unwrap();
        assert_eq!(list, "");
    }

    #[test]
    fn links_hidden_in_html_are_found() {
        assert_eq!(
            links_in_html("<a href='hxxps://evil[.]example/a'>x</a> <a href=http://b.example/>y</a>"),
            ["https://evil.example/a", "http://b.example/"]
        );
        assert_eq!(
            decode_entities("&#x68;ttp&colon;&sol;&sol;a.example&amp;&bogus;"),
            "http://a.example&&bogus;"
        );
        assert_eq!(links_in_text("see (https://a.example/x)."), ["https://a.example/x"]);
    }

    #[test]
    fn a_missing_root_is_a_configuration_error() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::new("mail", &json!({"root": "nowhere"}), dir.path()).unwrap();
        let err = Maildir::from_config(&cfg).err().unwrap();
        assert!(err.contains("connectors.mail.root"), "{err}");
    }
}
