//! The example projects' data, driven through the embedded connectors exactly as their
//! `parry.toml` configures them (on a copy, so the examples stay pristine).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::{Connector, build_native, default_impl};

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == ".parry" || name == ".quarantine" {
            continue;
        }
        let target = to.join(&name);
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

struct Example {
    _dir: tempfile::TempDir,
    root: PathBuf,
    connectors: BTreeMap<String, Box<dyn Connector>>,
}

impl Example {
    fn load(name: &str) -> Example {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(name);
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(name);
        copy_tree(&source, &root);
        let toml_path = root.join("parry.toml");
        let config =
            parry_compiler::project::parse_config(&toml_path, &fs::read_to_string(&toml_path).unwrap())
                .unwrap();
        let mut connectors = BTreeMap::new();
        for name in config.connectors.keys() {
            let table = config.connector_json(name).unwrap();
            let imp = table.get("impl").and_then(Value::as_str).or(default_impl(name)).unwrap().to_owned();
            let built = build_native(name, &imp, &table, &root).unwrap_or_else(|e| panic!("{e}"));
            connectors.insert(name.clone(), built);
        }
        Example { _dir: dir, root, connectors }
    }

    async fn call(&self, connector: &str, action: &str, args: Value) -> Value {
        let c = self.connectors.get(connector).unwrap_or_else(|| panic!("no connector {connector}"));
        match c.call(action, args.as_object().unwrap()).await {
            Ok(v) => v,
            Err(e) => panic!("{connector}.{action}: {e}"),
        }
    }

    fn alert(&self, name: &str) -> Value {
        serde_json::from_str(&fs::read_to_string(self.root.join("alerts").join(name)).unwrap()).unwrap()
    }
}

fn verdict(v: &Value) -> &str {
    v["verdict"].as_str().unwrap()
}

#[tokio::test]
async fn phishing_example() {
    let ex = Example::load("phishing");

    // The reported phish: a malicious link hidden in the HTML, a malicious attachment.
    let alert = ex.alert("reported.json");
    let msg = ex
        .call("mail", "get_message", json!({"id": alert["message_id"], "mailbox": alert["reporter"]}))
        .await;
    let link =
        "https://login.microsoftonline-secure.example/common/oauth2/authorize?client=o365&invoice=8841";
    assert_eq!(msg["urls"], json!(["https://portal.office.com/billing/invoices", link]));
    assert_eq!(verdict(&ex.call("intel", "url_reputation", json!({"u": link})).await), "malicious");
    let office = ex.call("intel", "url_reputation", json!({"u": msg["urls"][0]})).await;
    assert_eq!(verdict(&office), "benign");
    assert_eq!(
        verdict(&ex.call("intel", "email_reputation", json!({"address": msg["sender"]})).await),
        "malicious"
    );
    let sha = msg["attachments"][0]["sha256"].clone();
    assert_eq!(verdict(&ex.call("intel", "hash_reputation", json!({"h": sha})).await), "malicious");
    let report =
        ex.call("sandbox", "detonate_file", json!({"sha256": sha, "name": "Invoice_8841.html"})).await;
    assert_eq!(report["id"], "sbx-20261126-0042");

    let search = json!({"sender": msg["sender"], "subject": msg["subject"], "since": "7d"});
    let copies = ex.call("mail", "search", search.clone()).await;
    let boxes: Vec<&str> =
        copies.as_array().unwrap().iter().map(|c| c["mailbox"].as_str().unwrap()).collect();
    assert_eq!(boxes, ["alice@corp.example", "bob@corp.example", "carol@corp.example"]);
    for c in copies.as_array().unwrap() {
        ex.call("mail", "quarantine", json!({"message": c})).await;
    }
    assert_eq!(ex.call("mail", "search", search.clone()).await, json!([]));
    ex.call("proxy", "block_url", json!({"u": link, "comment": "phishing"})).await;
    assert_eq!(ex.call("proxy", "is_blocked", json!({"u": link})).await, json!(true));
    ex.call("mail", "block_sender", json!({"sender": msg["sender"]})).await;
    ex.call("notify", "send", json!({"channel": "#soc-phishing", "text": "contained"})).await;
    ex.call("mail", "send", json!({"to": "alice@corp.example", "subject": "Re", "body": "Thanks"})).await;
    // Undo, newest first.
    for c in copies.as_array().unwrap().iter().rev() {
        ex.call("mail", "release", json!({"message": c})).await;
    }
    assert_eq!(ex.call("mail", "search", search).await.as_array().unwrap().len(), 3);

    // The suspicious one: a look-alike helpdesk domain.
    let alert = ex.alert("suspicious.json");
    let msg = ex
        .call("mail", "get_message", json!({"id": alert["message_id"], "mailbox": alert["reporter"]}))
        .await;
    assert_eq!(
        verdict(&ex.call("intel", "url_reputation", json!({"u": msg["urls"][0]})).await),
        "suspicious"
    );
    let copies = ex.call("mail", "search", json!({"sender": msg["sender"], "subject": msg["subject"]})).await;
    assert_eq!(copies.as_array().unwrap().len(), 2);
    let t = ex.call("ticket", "open", json!({"title": "Suspicious", "description": "d"})).await;
    assert_eq!(t["id"], "PHISH-1");

    // The harmless newsletter.
    let alert = ex.alert("benign.json");
    let msg = ex
        .call("mail", "get_message", json!({"id": alert["message_id"], "mailbox": alert["reporter"]}))
        .await;
    for u in msg["urls"].as_array().unwrap() {
        assert_eq!(verdict(&ex.call("intel", "url_reputation", json!({"u": u})).await), "benign", "{u}");
    }
    assert_eq!(
        verdict(&ex.call("intel", "email_reputation", json!({"address": msg["sender"]})).await),
        "benign"
    );
    assert!(ex.root.join(".parry/notifications.jsonl").is_file());
}

#[tokio::test]
async fn malware_example() {
    let ex = Example::load("malware");
    let alert = ex.alert("qakbot-workstation.json");
    let host = ex.call("edr", "get_host", json!({"name": alert["hostname"]})).await;
    assert_eq!(host["id"], "a3f1c2d4-fin-ws-042");
    let rep = ex.call("intel", "hash_reputation", json!({"h": alert["sha256"]})).await;
    assert_eq!(verdict(&rep), "malicious");
    assert!(rep["tags"].as_array().unwrap().contains(&json!("QakBot")));
    let hosts =
        ex.call("edr", "find_hosts_by_hash", json!({"sha256": alert["sha256"], "since": "30d"})).await;
    assert_eq!(hosts.as_array().unwrap().len(), 2);
    ex.call("edr", "isolate_host", json!({"h": host, "comment": "QakBot"})).await;
    ex.call("edr", "kill_process", json!({"h": host, "pid": alert["process_id"]})).await;
    ex.call("edr", "quarantine_file", json!({"h": host, "sha256": alert["sha256"]})).await;
    let host = ex.call("edr", "get_host", json!({"name": "fin-ws-042"})).await;
    assert_eq!(host["isolated"], true);

    let dc = ex.alert("webshell-on-dc.json");
    assert_eq!(ex.call("edr", "get_host", json!({"name": dc["hostname"]})).await["critical"], true);
    assert_eq!(verdict(&ex.call("intel", "hash_reputation", json!({"h": dc["sha256"]})).await), "malicious");

    let unknown = ex.alert("unknown-binary.json");
    assert_eq!(
        verdict(&ex.call("intel", "hash_reputation", json!({"h": unknown["sha256"]})).await),
        "unknown"
    );
    let report = ex.call("sandbox", "detonate_file", json!({"sha256": unknown["sha256"]})).await;
    assert_eq!(verdict(&report), "suspicious");

    let fp = ex.alert("false-positive.json");
    assert_eq!(verdict(&ex.call("intel", "hash_reputation", json!({"h": fp["sha256"]})).await), "benign");
    let t = ex
        .call("ticket", "open", json!({"title": "t", "description": "d", "severity": fp["severity"]}))
        .await;
    assert_eq!(t["id"], "SOC-1");
}

#[tokio::test]
async fn brute_force_example() {
    let ex = Example::load("brute_force");
    let spray = ex.alert("vpn-spray.json");
    let ips: Vec<&str> =
        spray["source_ips"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let mut verdicts = Vec::new();
    for ip in &ips {
        verdicts.push(verdict(&ex.call("intel", "ip_reputation", json!({"addr": ip})).await).to_owned());
    }
    assert_eq!(verdicts, ["malicious", "malicious", "unknown"]);
    ex.call("firewall", "block_ip", json!({"addr": ips[0], "comment": "brute force"})).await;
    assert_eq!(ex.call("firewall", "is_blocked", json!({"addr": ips[0]})).await, json!(true));

    let partner = ex.alert("partner-lockout.json");
    let ip = partner["source_ips"][0].clone();
    assert_eq!(verdict(&ex.call("intel", "ip_reputation", json!({"addr": ip})).await), "benign");

    let svc = ex.alert("compromised-service-account.json");
    let account = ex.call("identity", "get_user", json!({"name": svc["user"]})).await;
    assert_eq!(account["privileged"], true);
    ex.call("identity", "revoke_sessions", json!({"name": svc["user"]})).await;
    ex.call("identity", "disable_account", json!({"name": svc["user"]})).await;
    let account = ex.call("identity", "get_user", json!({"name": svc["user"]})).await;
    assert_eq!((account["enabled"].as_bool(), account["sessions"].as_i64()), (Some(false), Some(0)));
}
