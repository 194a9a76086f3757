//! Parser throughput: generates a realistic corpus of well over 100,000 lines (connectors,
//! types, functions, playbooks, tests) and times `parse` (pest + lowering to the AST).
//! A baseline in the same run (counting lines byte by byte) makes figures comparable
//! across machines.
//!
//! Run with `cargo bench -p parry-syntax`.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use parry_syntax::ast::FileId;

fn connector(out: &mut String, i: usize) {
    writeln!(
        out,
        "## Connector number {i}.
connector svc{i} {{
  type Item = {{ id: string, owner: email, score: int, tags: list<string>, seen: time? }}
  ## Looks an item up.
  action lookup(id: string, since: duration = 7d) -> Item effect read
  action search(owner: email, subject: string? = none, limit: int = 100) -> list<Item>
    effect read
  action comment(id: string, text: string) effect write
  action hold(item: Item) effect reversible(undo: release)
  action release(item: Item) effect reversible(undo: hold)
  action purge(item: Item) effect destructive
}}
"
    )
    .ok();
}

fn types(out: &mut String, i: usize) {
    writeln!(
        out,
        "enum Level{i} {{ low, medium, high, critical }}

type Alert{i} = {{
  kind: string,
  owner: email,
  items: list<string>,
  level: Level{i},
  source_ip: ip?,
  raw: json,
}}

const LIMIT_{i}: int = {n}
const NETS_{i} = [\"10.0.0.0/8\", \"192.168.0.0/16\", \"172.16.0.0/12\"]
",
        n = 10 + i % 50
    )
    .ok();
}

fn function(out: &mut String, i: usize) {
    writeln!(
        out,
        "fn score_{i}(a: Alert{i}, weight: int = 3) -> int {{
  let base = len(a.items) * weight + {i} % 7
  let bonus = if a.level >= high {{ 50 }} else if a.level == medium {{ 20 }} else {{ 0 }}
  # Private addresses are less suspicious.
  let penalty = if is_private(a.source_ip ?? \"0.0.0.0\") {{ 10 }} else {{ 0 }}
  base + bonus - penalty
}}

fn describe_{i}(item: svc{i}.Item) -> string {{
  \"Item {{item.id}} owned by {{item.owner}} (score {{item.score}}, {{len(item.tags)}} tags)\"
}}
"
    )
    .ok();
}

fn playbook(out: &mut String, i: usize) {
    writeln!(
        out,
        "## Triage alerts of kind {i}.
playbook triage_{i}(alert: Alert{i})
  when alert.kind == \"kind-{i}\" and not (alert.owner in [\"root@corp.example\"])
  saves 15m
{{
  let item = svc{i}.lookup(alert.items[0], since: 2h)
  let found = svc{i}.search(alert.owner, subject: \"invoice\", limit: LIMIT_{i})
  let scored = for f in found where f.score > 10 limit 200 concurrency 8 {{
    {{ id: f.id, \"total score\": f.score + score_{i}(alert), note: describe_{i}(f) }}
  }}
  evidence \"Scored items\" = scored
  note \"Found {{len(found)}} items for {{alert.owner}}; first is {{item?.id ?? \"none\"}}\"
  try {{
    svc{i}.comment(item.id, \"Triage started at {{now()}}\")
  }} catch err {{
    note \"Could not comment: {{err.message}}\"
  }}
  match alert.level {{
    critical | high => {{
      for f in found limit 20 {{ svc{i}.hold(f) }}
      approve \"Purge {{len(found)}} items owned by {{alert.owner}}?\" by \"soc-tier2\" within 30m {{
        for f in found limit 20 {{ svc{i}.purge(f) }}
        resolve \"Purged {{len(found)}} items\"
      }} else {{
        recommend \"Review the held items before releasing them\"
        escalate \"Purge not approved\"
      }}
    }}
    medium => escalate \"Medium level: score {{score_{i}(alert)}}\"
    _ => resolve \"Nothing to do\"
  }}
}}
"
    )
    .ok();
}

fn test(out: &mut String, i: usize) {
    writeln!(
        out,
        "test \"triage {i} holds and purges after approval\" {{
  mock svc{i}.lookup(_, ..) = {{ id: \"m1\", owner: \"a@corp.example\", score: 40, tags: [], seen: none }}
  mock svc{i}.search(..) = [{{ id: \"m1\", owner: \"a@corp.example\", score: 40, tags: [\"x\"], seen: none }}]
  mock svc{i}.comment(_, _) = fail \"comments disabled\"
  mock svc{i}.hold(_)
  mock svc{i}.purge(_)
  approvals granted
  let run = triage_{i}({{ kind: \"kind-{i}\", owner: \"a@corp.example\", items: [\"m1\"], level: high, source_ip: none, raw: {{}} }})
  expect run.disposition == resolved
  expect len(calls(svc{i}.purge)) == 1
}}
"
    )
    .ok();
}

fn corpus(min_lines: usize) -> String {
    let mut out = String::new();
    let mut i = 0;
    while out.bytes().filter(|&b| b == b'\n').count() < min_lines {
        // Count lines only every so often: the corpus grows by ~150 lines per round.
        for _ in 0..50 {
            connector(&mut out, i);
            types(&mut out, i);
            function(&mut out, i);
            playbook(&mut out, i);
            test(&mut out, i);
            i += 1;
        }
    }
    out
}

/// CPU time used by this process so far (all threads), from `/proc/self/stat`; `None`
/// where that file does not exist. On a busy machine, wall time overstates the cost.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Best wall time over `runs`, and the average CPU time per run.
fn best_of<F: FnMut() -> usize>(runs: usize, mut f: F) -> (Duration, Option<Duration>, usize) {
    let mut best = Duration::MAX;
    let mut result = 0;
    let cpu_start = cpu_time();
    for _ in 0..runs {
        let start = Instant::now();
        result = black_box(f());
        best = best.min(start.elapsed());
    }
    let cpu = match (cpu_start, cpu_time()) {
        (Some(a), Some(b)) => Some((b.saturating_sub(a)) / runs as u32),
        _ => None,
    };
    (best, cpu, result)
}

fn main() {
    let src = corpus(100_000);
    let bytes = src.len() as f64;
    let lines = src.bytes().filter(|&b| b == b'\n').count();
    let mb = bytes / 1_000_000.0;
    println!("corpus: {lines} lines, {mb:.2} MB");

    // Sanity: the corpus is valid Parry.
    let (file, diags) = parry_syntax::parse(FileId(0), &src);
    if let Some(d) = diags.first() {
        eprintln!("the generated corpus has {} diagnostics; first: {}", diags.len(), d.message);
        std::process::exit(1);
    }
    println!("items: {}, comments: {}", file.items.len(), file.comments.len());
    drop(file);

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (baseline, _, counted) =
        best_of(20, || black_box(src.as_bytes()).iter().filter(|&&b| b == b'\n').count());
    let (parse, cpu, items) = best_of(5, || parry_syntax::parse(FileId(0), black_box(&src)).0.items.len());
    let rate = |d: Duration| (mb / d.as_secs_f64(), lines as f64 / d.as_secs_f64());
    let (bmb, blines) = rate(baseline);
    let (pmb, plines) = rate(parse);
    println!("{threads} hardware threads available");
    println!(
        "baseline (count lines): {baseline:>10.3?} wall  {bmb:>10.1} MB/s  {blines:>12.0} lines/s  ({counted} lines)"
    );
    println!(
        "parse + lowering:       {parse:>10.3?} wall  {pmb:>10.1} MB/s  {plines:>12.0} lines/s  ({items} items)"
    );
    if let Some(cpu) = cpu.filter(|c| !c.is_zero()) {
        let (cmb, clines) = rate(cpu);
        println!(
            "parse + lowering:       {cpu:>10.3?} CPU   {cmb:>10.1} MB/s  {clines:>12.0} lines/s  (per CPU second, all threads)"
        );
    }
}
