//! Engine throughput and scheduling benchmark (`cargo bench -p parry-interpreter --bench engine`).
//!
//! A phishing-shaped playbook making 21 action calls against instant in-process connectors:
//! runs per second and microseconds per action with the in-memory and the SQLite journal,
//! each on one thread. The connectors answer with the engine's values, as an in-process
//! connector written in Rust does ([`ValueConnector`]); one more figure has them answer
//! JSON instead, as the embedded and HTTP connectors do, which adds decoding every answer.
//! For scale, also the in-memory figure with one worker thread per core sharing one engine,
//! as a process taking alerts from a queue would run (not the target, which is per thread).
//! Then one run whose every call takes 100 ms: wall time against the critical path (the
//! longest chain of calls that must wait for each other: a read, the independent reads
//! together, then every write in program order). A second of runs on throwaway stores
//! comes first, and is not counted: the first second of a busy process runs slower here.
//! `PARRY_BENCH_ONLY=memory` (or `memory-json`, `fresh`, `sqlite`) runs only that figure,
//! for a profiler. `PARRY_BENCH_RUNS=N` makes each figure on one store exactly N runs
//! instead of running for a time budget (to count instructions per run under callgrind, say).

// The allocator the `parry` binary uses (see its `main.rs`), so that this measures what it runs.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use parry_compiler::ir::{PlaybookId, Program};
use parry_compiler::project::Config;
use parry_interpreter::connectors::{Args, Connector, ConnectorError, ValueConnector};
use parry_interpreter::engine::{ConnectorSet, Disposition, Engine, EngineOptions};
use parry_interpreter::store::{MemoryStore, SqliteStore, Store};
use parry_interpreter::value::Value;
use serde_json::{Value as Json, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const PLAYBOOK: &str = r#"
connector mailbox {
  type Message = { id: string, sender: email, subject: string, body: string, attachments: list<hash> }
  action fetch(id: string) -> Message effect read
  action search(sender: email, subject: string) -> list<Message> effect read
  action quarantine(message: Message) effect reversible(undo: release)
  action release(message: Message) effect reversible(undo: quarantine)
}
connector ti {
  type Rep = { verdict: Verdict, source: string }
  action url_reputation(u: url) -> Rep effect read
  action sender_reputation(sender: email) -> Rep effect read
  action detonate(h: hash) -> Rep effect read
}
connector web { action block_url(u: url) effect reversible(undo: unblock_url)
                action unblock_url(u: url) effect reversible(undo: block_url) }
connector tickets { action open(title: string, body: string) -> string effect write }

type Report = { message_id: string, reporter: email }

playbook phishing(alert: Report) {
  let msg = mailbox.fetch(alert.message_id)
  let urls = extract_urls(msg.body)
  let url_reps = for u in urls limit 20 { ti.url_reputation(u) }
  let sender = ti.sender_reputation(msg.sender)
  let copies = mailbox.search(msg.sender, msg.subject)
  let sandbox = for h in msg.attachments limit 10 { ti.detonate(h) }
  let verdict = worst(for r in url_reps + sandbox { r.verdict } + [sender.verdict])
  evidence "copies" = copies
  note "verdict {verdict}"
  if verdict == malicious {
    for c in copies limit 20 { mailbox.quarantine(c) }
    for u in urls limit 20 { web.block_url(u) }
    let t = tickets.open("Phishing from {msg.sender}", "Quarantined {len(copies)} copies")
    resolve "Quarantined {len(copies)} copies, ticket {t}"
  }
  resolve "benign"
}
"#;

/// Answers every action instantly (or after `delay`) with canned data, built once and
/// copied for each call (what each call costs is then the engine's, not the making of the
/// answer): as JSON, or, when `typed`, as the engine's values (a connector written against
/// them, [`ValueConnector`]).
struct Canned {
    delay: Duration,
    answers: Answers<Json>,
    values: Option<Answers<Value>>,
}

/// How the benchmark's connectors answer.
#[derive(Clone, Copy, PartialEq)]
enum Answering {
    /// JSON, decoded by the engine: how the embedded and HTTP connectors answer.
    Json,
    /// The engine's values, checked by the engine: an in-process connector written in Rust.
    Values,
}

#[derive(Clone)]
struct Answers<T> {
    message: T,
    copies: T,
    malicious: T,
    suspicious: T,
    ticket: T,
}

impl Answers<Json> {
    fn new() -> Answers<Json> {
        Answers {
            message: message("m1"),
            copies: json!([message("m1"), message("m2"), message("m3"), message("m4")]),
            malicious: json!({"verdict": "malicious", "source": "bench"}),
            suspicious: json!({"verdict": "suspicious", "source": "bench"}),
            ticket: json!("T-1"),
        }
    }

    /// The same answers as values of the actions' declared types.
    fn values(&self, program: &Program) -> Result<Answers<Value>, String> {
        let decode = |json: &Json, action: &str| -> Result<Value, String> {
            let ty = program
                .connectors
                .iter()
                .flat_map(|c| &c.actions)
                .find(|a| a.name == action)
                .map(|a| &a.ret)
                .ok_or_else(|| format!("no action {action}"))?;
            parry_interpreter::value::decode(json, ty, program).map_err(|e| format!("{action}: {e:?}"))
        };
        Ok(Answers {
            message: decode(&self.message, "fetch")?,
            copies: decode(&self.copies, "search")?,
            malicious: decode(&self.malicious, "url_reputation")?,
            suspicious: decode(&self.suspicious, "sender_reputation")?,
            ticket: decode(&self.ticket, "open")?,
        })
    }
}

impl<T: Clone> Answers<T> {
    /// The answer to `action` (`None` for those returning nothing).
    fn answer(&self, action: &str) -> Option<T> {
        match action {
            "fetch" => Some(self.message.clone()),
            "search" => Some(self.copies.clone()),
            "url_reputation" | "detonate" => Some(self.malicious.clone()),
            "sender_reputation" => Some(self.suspicious.clone()),
            "open" => Some(self.ticket.clone()),
            _ => None,
        }
    }
}

fn message(id: &str) -> Json {
    json!({
        "id": id, "sender": "payroll@evil.example", "subject": "Invoice",
        "body": "Pay: http://evil.example/a http://evil.example/b http://evil.example/c http://evil.example/d http://evil.example/e",
        "attachments": ["d41d8cd98f00b204e9800998ecf8427e", "e41d8cd98f00b204e9800998ecf8427e", "f41d8cd98f00b204e9800998ecf8427e"]
    })
}

#[async_trait::async_trait]
impl Connector for Canned {
    async fn call(&self, action: &str, _args: &Args) -> Result<Json, ConnectorError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(self.answers.answer(action).unwrap_or(Json::Null))
    }

    fn values(&self) -> Option<&dyn ValueConnector> {
        self.values.as_ref().map(|_| self as &dyn ValueConnector)
    }
}

#[async_trait::async_trait]
impl ValueConnector for Canned {
    async fn call_values(&self, action: &str, _args: &[Value]) -> Result<Value, ConnectorError> {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        Ok(self.values.as_ref().and_then(|v| v.answer(action)).unwrap_or(Value::Unit))
    }
}

/// fetch, 5 url lookups, sender, search, 3 detonations, 4 quarantines, 5 blocks, 1 ticket.
const ACTIONS_PER_RUN: usize = 21;

struct Compiled {
    program: Arc<Program>,
    config: Config,
    /// The canned answers as values of the program's types.
    values: Answers<Value>,
}

fn compile() -> Result<Compiled, String> {
    let c = parry_compiler::compile_sources(
        vec![(PathBuf::from("bench.play"), PLAYBOOK.to_string())],
        Config::default(),
    );
    if c.has_errors() {
        let errors: Vec<String> =
            c.diagnostics.iter().map(|d| format!("{}: {}", d.code, d.message)).collect();
        return Err(errors.join("\n"));
    }
    let values = Answers::new().values(&c.program)?;
    Ok(Compiled { program: Arc::new(c.program), config: c.config, values })
}

fn engine(compiled: &Compiled, store: Arc<dyn Store>, delay: Duration, answering: Answering) -> Engine {
    let mut set = ConnectorSet::new();
    let answers = Answers::new();
    let values = match answering {
        Answering::Json => None,
        Answering::Values => Some(compiled.values.clone()),
    };
    for name in ["mailbox", "ti", "web", "tickets"] {
        set.insert(name, Arc::new(Canned { delay, answers: answers.clone(), values: values.clone() }));
    }
    Engine::new(
        compiled.program.clone(),
        compiled.config.clone(),
        set,
        store,
        EngineOptions { dry_run: false, quiet: true },
    )
}

fn alert() -> Json {
    json!({"message_id": "m1", "reporter": "bob@corp.example"})
}

async fn check_run(engine: &Engine) -> Result<(), String> {
    let first = engine.start(PlaybookId(0), alert()).await.map_err(|e| e.to_string())?;
    if first.disposition != Disposition::Resolved || first.case.actions.len() != ACTIONS_PER_RUN {
        return Err(format!(
            "unexpected run: {} with {} actions ({:?})",
            first.disposition,
            first.case.actions.len(),
            first.case.error
        ));
    }
    Ok(())
}

/// CPU time used by the calling thread so far, from `/proc/thread-self/schedstat` (`None`
/// where that file does not exist). The runtime is single-threaded, so this is the engine's
/// own cost; on a busy machine wall time also counts the time spent waiting for a core.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// A throughput figure: runs per wall-clock second and per CPU second of the engine thread.
struct Rate {
    wall: f64,
    cpu: Option<f64>,
}

impl Rate {
    /// Whether the rate reaches `target`: per CPU second (it does not move with the
    /// machine's load) and per wall second (it counts I/O waits, and time spent waiting for
    /// a core on a busy machine).
    fn against(&self, target: f64) -> String {
        let cpu = self.cpu.map_or("no CPU clock", |r| verdict(r >= target));
        format!("{cpu} per CPU second, {} per wall second", verdict(self.wall >= target))
    }
}

/// The 1-minute load average, to read wall-clock figures against.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".to_string())
}

fn report(label: &str, runs: u64, wall: Duration, cpu: Option<Duration>) -> Rate {
    let rate = runs as f64 / wall.as_secs_f64();
    let cpu_rate = cpu.map(|c| runs as f64 / c.as_secs_f64().max(1e-9));
    let per_run_us = 1e6 / cpu_rate.unwrap_or(rate);
    println!(
        "{label:<50} {rate:>7.0} runs/s wall  {:>7} runs/CPU-s  {per_run_us:>7.1} µs/run  {:>6.2} µs/action  ({runs} runs)",
        cpu_rate.map_or_else(|| "-".to_string(), |r| format!("{r:.0}")),
        per_run_us / ACTIONS_PER_RUN as f64
    );
    Rate { wall: rate, cpu: cpu_rate }
}

/// Runs for `budget` against one store that keeps every run.
async fn throughput(label: &str, engine: &Engine, budget: Duration) -> Result<Rate, String> {
    check_run(engine).await?;
    let cpu = thread_cpu_time();
    let started = Instant::now();
    let mut runs = 0u64;
    let fixed: Option<u64> = std::env::var("PARRY_BENCH_RUNS").ok().and_then(|n| n.parse().ok());
    while fixed.map_or(started.elapsed() < budget, |n| runs < n) {
        engine.start(PlaybookId(0), alert()).await.map_err(|e| e.to_string())?;
        runs += 1;
    }
    let wall = started.elapsed();
    Ok(report(label, runs, wall, cpu.zip(thread_cpu_time()).map(|(a, b)| b.saturating_sub(a))))
}

/// Runs for `budget`, on a fresh in-memory store every `batch` runs: the engine's own cost
/// with a journal that does not grow.
async fn throughput_fresh(
    label: &str,
    compiled: &Compiled,
    batch: u64,
    budget: Duration,
) -> Result<Rate, String> {
    let first = engine(compiled, Arc::new(MemoryStore::new()), Duration::ZERO, Answering::Values);
    check_run(&first).await?;
    let cpu = thread_cpu_time();
    let started = Instant::now();
    let runs = run_fresh(&first, batch, budget).await?;
    let wall = started.elapsed();
    Ok(report(label, runs, wall, cpu.zip(thread_cpu_time()).map(|(a, b)| b.saturating_sub(a))))
}

/// Runs `first`'s playbook for `budget`, over a new in-memory store every `batch` runs: how
/// many runs it made.
async fn run_fresh(first: &Engine, batch: u64, budget: Duration) -> Result<u64, String> {
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < budget {
        let e = first.with_store(Arc::new(MemoryStore::new()));
        for _ in 0..batch {
            e.start(PlaybookId(0), alert()).await.map_err(|e| e.to_string())?;
            runs += 1;
        }
    }
    Ok(runs)
}

/// Runs the playbook for `budget` before anything is measured, as benchmark harnesses warm
/// up: on this machine the first second or so of a busy process runs up to a quarter
/// slower (the processor's clock and caches coming up to speed), which no figure should
/// count. The stores are dropped every 100 runs, so little memory is left behind for the
/// figures to reuse: each figure's store still grows from nothing.
async fn warm_up(compiled: &Compiled, budget: Duration) -> Result<(), String> {
    let first = engine(compiled, Arc::new(MemoryStore::new()), Duration::ZERO, Answering::Values);
    run_fresh(&first, 100, budget).await.map(|_| ())
}

/// Runs for `budget` on `workers` threads at once, each with its own single-threaded
/// runtime, all against one engine and one store: how many alerts a process handles per
/// second when it takes one per core. Wall-clock only (the threads share the cores).
fn throughput_workers(
    label: &str,
    engine: &Engine,
    workers: usize,
    budget: Duration,
) -> Result<Rate, String> {
    let started = Instant::now();
    let counts: Vec<Result<u64, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<u64, String> {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_time()
                        .build()
                        .map_err(|e| e.to_string())?;
                    rt.block_on(async {
                        let mut runs = 0u64;
                        while started.elapsed() < budget {
                            engine.start(PlaybookId(0), alert()).await.map_err(|e| e.to_string())?;
                            runs += 1;
                        }
                        Ok(runs)
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a worker panicked".to_string())))
            .collect()
    });
    let wall = started.elapsed();
    let mut runs = 0;
    for count in counts {
        runs += count?;
    }
    let rate = runs as f64 / wall.as_secs_f64();
    // No time per run: the runs overlap.
    println!("{label:<50} {rate:>7.0} runs/s wall  ({runs} runs)");
    Ok(Rate { wall: rate, cpu: None })
}

fn main() -> Result<(), String> {
    let rt =
        tokio::runtime::Builder::new_current_thread().enable_time().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let budget = Duration::from_secs(2);
        let compiled = compile()?;
        println!("phishing-shaped playbook, {ACTIONS_PER_RUN} action calls per run, instant connectors");
        let only = std::env::var("PARRY_BENCH_ONLY").ok();
        // Not before a fixed number of runs (a profile counts those alone).
        if std::env::var_os("PARRY_BENCH_RUNS").is_none() {
            warm_up(&compiled, Duration::from_secs(1)).await?;
        }
        let kept = "in-memory journal (one store, all runs kept)";
        let kept_json = "  the same, connectors answering JSON";
        let fresh = "in-memory journal (fresh store per 100 runs)";
        let durable = "SQLite journal (file), connectors answering JSON";
        match only.as_deref() {
            Some(mode @ ("memory" | "memory-json")) => {
                // For profiling: the engine alone, nothing else in the process.
                let answering = if mode == "memory" { Answering::Values } else { Answering::Json };
                let e = engine(&compiled, Arc::new(MemoryStore::new()), Duration::ZERO, answering);
                throughput(if mode == "memory" { kept } else { kept_json }, &e, budget * 3).await?;
                // Leaves freeing the store to the OS so a profile shows only the runs.
                std::mem::forget(e);
                return Ok(());
            }
            Some("fresh") => {
                throughput_fresh(fresh, &compiled, 100, budget * 3).await?;
                return Ok(());
            }
            Some("sqlite") => {
                let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
                let sqlite = SqliteStore::open(&dir.path().join("state.db")).map_err(|e| e.to_string())?;
                let e = engine(&compiled, Arc::new(sqlite), Duration::ZERO, Answering::Json);
                throughput(durable, &e, budget * 3).await?;
                return Ok(());
            }
            Some(other) => return Err(format!("PARRY_BENCH_ONLY={other}: expected memory, memory-json, fresh or sqlite")),
            None => {}
        }
        let memory = |answering| engine(&compiled, Arc::new(MemoryStore::new()), Duration::ZERO, answering);
        let mem_rate = throughput(kept, &memory(Answering::Values), budget).await?;
        let json_rate = throughput(kept_json, &memory(Answering::Json), budget).await?;
        let fresh_rate = throughput_fresh(fresh, &compiled, 100, budget).await?;
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
        let workers_rate = throughput_workers(
            &format!("in-memory journal, {workers} workers (one store)"),
            &memory(Answering::Values),
            workers,
            budget,
        )?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let sqlite = SqliteStore::open(&dir.path().join("state.db")).map_err(|e| e.to_string())?;
        let durable_rate =
            throughput(durable, &engine(&compiled, Arc::new(sqlite), Duration::ZERO, Answering::Json), budget)
                .await?;

        let delay = Duration::from_millis(100);
        let slow = engine(&compiled, Arc::new(MemoryStore::new()), delay, Answering::Values);
        let started = Instant::now();
        let out = slow.start(PlaybookId(0), alert()).await.map_err(|e| e.to_string())?;
        let wall = started.elapsed();
        // fetch; then url lookups, sender, search and detonations together; then 4
        // quarantines, 5 blocks and the ticket one after the other.
        let critical = delay * (1 + 1 + 4 + 5 + 1);
        let sequential = delay * ACTIONS_PER_RUN as u32;
        println!(
            "100 ms per call: wall {:.0} ms, critical path {:.0} ms (ratio {:.3}), sequential would be {:.0} ms ({})",
            wall.as_secs_f64() * 1000.0,
            critical.as_secs_f64() * 1000.0,
            wall.as_secs_f64() / critical.as_secs_f64(),
            sequential.as_secs_f64() * 1000.0,
            out.disposition
        );
        println!("targets (load average {}):", load_average());
        println!("  in-memory >= 20000 runs/s: {}", mem_rate.against(20_000.0));
        println!("    with a fresh store: {}", fresh_rate.against(20_000.0));
        println!(
            "    (connectors answering JSON, decoded by the engine: {})",
            json_rate.cpu.map_or_else(
                || format!("{:.0} runs per wall second", json_rate.wall),
                |r| format!("{r:.0} runs per CPU second")
            )
        );
        println!(
            "    (for scale, not the target: {workers} workers, one per core, reach {:.0} runs per wall second)",
            workers_rate.wall
        );
        println!("  durable (SQLite) >= 1000 runs/s: {}", durable_rate.against(1_000.0));
        println!(
            "  wall <= 1.2x critical path: {}",
            verdict(wall.as_secs_f64() <= 1.2 * critical.as_secs_f64())
        );
        Ok(())
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}
