//! Diagnostics latency: the time from a one-character edit in a 2,000-line file to the
//! published diagnostics, over 50 edits (median and 95th percentile).
//!
//! Run with `cargo bench -p parry-lsp --bench latency`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use lsp_types::notification::{DidChangeTextDocument, DidOpenTextDocument};
use lsp_types::*;
use parry_lsp::{Encoding, Server, notification};
use std::time::{Duration, Instant};

const HEADER: &str = "connector mbox {
  type Message = { id: string, sender: email, subject: string }
  action search(sender: email) -> list<Message> effect read
  action quarantine(message: Message) effect reversible(undo: release)
  action release(message: Message) effect reversible(undo: quarantine)
}

type Alert = { sender: email, subject: string }
";

fn source(lines: usize) -> String {
    let mut text = HEADER.to_string();
    let mut n = 0;
    while text.lines().count() < lines {
        text.push_str(&format!(
            "
fn score_{n}(v: Verdict) -> int {{
  match v {{
    malicious => 3
    suspicious => 2
    _ => 0
  }}
}}

playbook triage_{n}(alert: Alert) {{
  let found = mbox.search(alert.sender)
  let s = score_{n}(Verdict.unknown)
  for m in found limit 5 {{
    mbox.quarantine(m)
  }}
  if s > 2 {{
    escalate \"high {{s}}\"
  }}
  note \"checked {{len(found)}} messages from {{alert.sender}}\"
  resolve \"done\"
}}
"
        ));
        n += 1;
    }
    text
}

fn main() {
    let text = source(2_000);
    let lines = text.lines().count();
    let dir = std::env::temp_dir().join(format!("parry-lsp-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let uri = Url::from_file_path(dir.join("big.play")).unwrap();
    let mut server = Server::new(Encoding::Utf16);
    let open = notification::<DidOpenTextDocument>(DidOpenTextDocumentParams {
        text_document: TextDocumentItem {
            uri: uri.clone(),
            language_id: "parry".into(),
            version: 0,
            text: text.clone(),
        },
    });
    let published = server.handle_notification(open);
    assert!(!published.is_empty(), "no diagnostics published");

    // The edits: type a character inside a string in the middle of the file, then delete it.
    let middle_line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains("resolve \"done\""))
        .map(|(i, _)| i)
        .nth(40)
        .unwrap() as u32;
    let col = "  resolve \"done".len() as u32;
    let mut times: Vec<Duration> = Vec::new();
    for i in 0..50 {
        let change = if i % 2 == 0 {
            TextDocumentContentChangeEvent {
                range: Some(Range::new(Position::new(middle_line, col), Position::new(middle_line, col))),
                range_length: None,
                text: "!".into(),
            }
        } else {
            TextDocumentContentChangeEvent {
                range: Some(Range::new(Position::new(middle_line, col), Position::new(middle_line, col + 1))),
                range_length: None,
                text: String::new(),
            }
        };
        let note = notification::<DidChangeTextDocument>(DidChangeTextDocumentParams {
            text_document: VersionedTextDocumentIdentifier { uri: uri.clone(), version: i + 1 },
            content_changes: vec![change],
        });
        let start = Instant::now();
        let out = server.handle_notification(note);
        times.push(start.elapsed());
        assert!(!out.is_empty(), "no diagnostics published after edit {i}");
    }
    // The compiler alone on the same text, to tell its share from the server's.
    let mut compile_times: Vec<Duration> = (0..20)
        .map(|_| {
            let start = Instant::now();
            let c = parry_compiler::compile_sources(
                vec![(dir.join("big.play"), text.clone())],
                Default::default(),
            );
            std::hint::black_box(&c);
            start.elapsed()
        })
        .collect();
    compile_times.sort();
    times.sort();
    let median = times[times.len() / 2];
    let p95 = times[(times.len() * 95).div_ceil(100) - 1];
    println!("diagnostics latency after a one-character edit, {lines}-line file, {} edits:", times.len());
    println!("  median {:.2} ms", median.as_secs_f64() * 1000.0);
    println!("  p95    {:.2} ms", p95.as_secs_f64() * 1000.0);
    let compile_median = compile_times[compile_times.len() / 2];
    println!(
        "  the compiler alone (parse, check, analyses): median {:.2} ms",
        compile_median.as_secs_f64() * 1000.0
    );
    println!(
        "  target median <= 20 ms (release): {}",
        if median <= Duration::from_millis(20) { "met" } else { "NOT met" }
    );
    let _ = std::fs::remove_dir_all(&dir);
}
