//! Parser throughput: generates a realistic corpus of well over 100,000 lines (connectors,
//! types, functions, playbooks, tests) and times parsing (pest + lowering to the AST), on
//! one thread (`parse_sequential`, timed by the thread's own CPU clock, which a busy
//! machine does not distort) and as the CLI does it (`parse`, on several threads for large
//! files). A baseline in the same run (counting lines byte by byte) makes figures
//! comparable across machines. The AST each run returns is freed after its clocks stop
//! (freeing is not parsing; its time is printed on its own line). The last lines compare
//! with the target of 20 MB/s: the one-thread throughput per CPU second, and the wall-clock
//! throughput of the parallel path `parry check` takes on this machine.
//!
//! Run with `cargo bench -p parry-syntax`; `PARRY_BENCH_LINES` and `PARRY_BENCH_RUNS`
//! change the corpus size (default 100,000 lines) and the number of runs (default 7).

// The allocator the `parry` binary uses (see its `main.rs`), so that this measures what it runs.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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

/// The parser's throughput goal, in MB of source per second (parse + lowering).
const TARGET_MB_PER_S: f64 = 20.0;

/// CPU time used by this process so far (all threads), from `/proc/self/stat` (10 ms
/// ticks); `None` where that file does not exist.
fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the file, 12 and 13 after the name.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time used by the calling thread so far, in nanoseconds, from
/// `/proc/thread-self/schedstat`; `None` where that file does not exist. On a busy machine,
/// wall time overstates the cost; this does not count time spent waiting for a core.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

struct Timing {
    best_wall: Duration,
    /// The median wall time of the runs.
    median_wall: Duration,
    /// Average CPU time per run, by the given clock.
    cpu: Option<Duration>,
    /// Least CPU time of one run, where the clock is precise enough to time one run.
    best_cpu: Option<Duration>,
    /// Least wall time spent freeing one run's result (not part of the timed run).
    best_drop: Duration,
    result: usize,
}

/// Times `runs` calls of `f`: best wall time, and CPU time by `clock`. What `f` returns
/// (the AST) is freed after the clocks stop, as parsing does not include freeing the tree
/// (criterion's `iter_with_large_drop` does the same); the time to free it is reported
/// separately.
fn measure<T, F: FnMut() -> T>(
    runs: usize,
    clock: fn() -> Option<Duration>,
    per_run_cpu: bool,
    mut f: F,
    count: fn(&T) -> usize,
) -> Timing {
    let mut walls = Vec::with_capacity(runs);
    let mut best_cpu: Option<Duration> = None;
    let mut best_drop = Duration::MAX;
    let mut total_cpu: Option<Duration> = Some(Duration::ZERO);
    let mut result = 0;
    for _ in 0..runs {
        let cpu_before = clock();
        let start = Instant::now();
        let out = black_box(f());
        let wall = start.elapsed();
        let cpu_after = clock();
        walls.push(wall);
        match (cpu_before, cpu_after) {
            (Some(a), Some(b)) => {
                let run = b.saturating_sub(a);
                total_cpu = total_cpu.map(|t| t + run);
                if per_run_cpu {
                    best_cpu = Some(best_cpu.map_or(run, |c| c.min(run)));
                }
            }
            _ => total_cpu = None,
        }
        result = count(&out);
        let start = Instant::now();
        drop(out);
        best_drop = best_drop.min(start.elapsed());
    }
    let cpu = total_cpu.map(|t| t / runs.max(1) as u32);
    walls.sort();
    let best_wall = walls.first().copied().unwrap_or_default();
    let median_wall = walls.get(walls.len() / 2).copied().unwrap_or_default();
    Timing { best_wall, median_wall, cpu, best_cpu, best_drop, result }
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).filter(|&n| n > 0).unwrap_or(default)
}

fn main() {
    // `PARRY_BENCH_LINES` and `PARRY_BENCH_RUNS` shrink the run (e.g. under a profiler).
    let src = corpus(env_number("PARRY_BENCH_LINES", 100_000));
    let runs = env_number("PARRY_BENCH_RUNS", 7);
    let bytes = src.len() as f64;
    let lines = src.bytes().filter(|&b| b == b'\n').count();
    let mb = bytes / 1_000_000.0;
    println!("corpus: {lines} lines, {mb:.2} MB ({} bytes)", src.len());

    // Sanity: the corpus is valid Parry, and both entry points agree.
    let (file, diags) = parry_syntax::parse(FileId(0), &src);
    if let Some(d) = diags.first() {
        eprintln!("the generated corpus has {} diagnostics; first: {}", diags.len(), d.message);
        std::process::exit(1);
    }
    let (sequential, _) = parry_syntax::parse_sequential(FileId(0), &src);
    if format!("{sequential:?}") != format!("{file:?}") {
        eprintln!("parse and parse_sequential disagree on the generated corpus");
        std::process::exit(1);
    }
    println!("items: {}, comments: {}", file.items.len(), file.comments.len());
    drop((file, sequential));

    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("{threads} hardware threads available, {runs} runs each");
    let rate = |d: Duration| (mb / d.as_secs_f64(), lines as f64 / d.as_secs_f64());
    let row = |label: &str, kind: &str, d: Duration, note: &str| {
        let (m, l) = rate(d);
        println!("{label:<34} {d:>10.3?} {kind:<4} {m:>8.1} MB/s {l:>11.0} lines/s  {note}");
    };

    let baseline = measure(
        20,
        thread_cpu_time,
        false,
        || black_box(src.as_bytes()).iter().filter(|&&b| b == b'\n').count(),
        |n| *n,
    );
    row("baseline (count lines)", "wall", baseline.best_wall, &format!("({} lines)", baseline.result));

    let seq = measure(
        runs,
        thread_cpu_time,
        true,
        || parry_syntax::parse_sequential(FileId(0), black_box(&src)),
        |(file, _)| file.items.len(),
    );
    row("parse + lowering, one thread", "wall", seq.best_wall, &format!("({} items; best run)", seq.result));
    if let Some(cpu) = seq.cpu {
        row("parse + lowering, one thread", "CPU", cpu, "(mean per run)");
    }
    if let Some(cpu) = seq.best_cpu {
        row("parse + lowering, one thread", "CPU", cpu, "(best run)");
    }

    let par = measure(
        runs,
        process_cpu_time,
        false,
        || parry_syntax::parse(FileId(0), black_box(&src)),
        |(file, _)| file.items.len(),
    );
    row("parse + lowering, parallel", "wall", par.best_wall, "(best run)");
    row("parse + lowering, parallel", "wall", par.median_wall, "(median run)");
    if let Some(cpu) = par.cpu.filter(|c| !c.is_zero()) {
        row("parse + lowering, parallel", "CPU", cpu, "(mean per run, all threads)");
    }
    row("freeing the AST (not timed above)", "wall", seq.best_drop, "(best run)");

    let judge = |what: &str, d: Duration| {
        let (m, _) = rate(d);
        let verdict = if m >= TARGET_MB_PER_S { "meets" } else { "below" };
        println!("  {what}: {m:.1} MB/s, {verdict} the target ({:.0}%)", 100.0 * m / TARGET_MB_PER_S);
    };
    println!("target: {TARGET_MB_PER_S:.1} MB/s for parse + lowering");
    match seq.best_cpu.filter(|c| !c.is_zero()) {
        Some(cpu) => judge("one thread, per CPU second (best run)", cpu),
        None => judge("one thread, wall (best run; no CPU clock here)", seq.best_wall),
    }
    judge(
        &format!("as `parry check` parses a large file, on {threads} threads, wall (median run)"),
        par.median_wall,
    );
}
