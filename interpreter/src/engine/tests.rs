#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::connectors::Args;
use crate::store::{ApprovalFilter, MemoryStore};
use parry_compiler::compile_sources;
use parry_compiler::ir::{Callee, ExprKind, SecurityKind, StmtKind};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

type Answer = Box<dyn Fn(&str, &Args) -> Result<Json, ConnectorError> + Send + Sync>;

/// An in-process connector: answers from a closure, counts and logs calls, optionally slow.
struct Fake {
    log: Mutex<Vec<(String, Json)>>,
    delay: Duration,
    answer: Answer,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl Fake {
    fn new(
        answer: impl Fn(&str, &Args) -> Result<Json, ConnectorError> + Send + Sync + 'static,
    ) -> Arc<Fake> {
        Arc::new(Fake {
            log: Mutex::new(Vec::new()),
            delay: Duration::ZERO,
            answer: Box::new(answer),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        })
    }

    fn slow(
        delay: Duration,
        answer: impl Fn(&str, &Args) -> Result<Json, ConnectorError> + Send + Sync + 'static,
    ) -> Arc<Fake> {
        Arc::new(Fake {
            log: Mutex::new(Vec::new()),
            delay,
            answer: Box::new(answer),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        })
    }

    fn calls(&self, action: &str) -> usize {
        self.log.lock().unwrap().iter().filter(|(a, _)| a == action).count()
    }
}

#[async_trait::async_trait]
impl Connector for Fake {
    async fn call(&self, action: &str, args: &Args) -> Result<Json, ConnectorError> {
        self.log.lock().unwrap().push((action.to_string(), Json::Object(args.clone())));
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        (self.answer)(action, args)
    }
}

fn compile(src: &str) -> (Program, Config) {
    let c = compile_sources(vec![(PathBuf::from("engine.play"), src.to_string())], Config::default());
    let errors: Vec<String> = c
        .diagnostics
        .iter()
        .filter(|d| d.effective_severity() == parry_compiler::Severity::Error)
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect();
    assert!(errors.is_empty(), "unexpected compile errors: {errors:#?}");
    (c.program, c.config)
}

fn engine_with(
    program: Program,
    config: Config,
    set: ConnectorSet,
    store: Arc<dyn Store>,
    dry_run: bool,
) -> Engine {
    Engine::new(Arc::new(program), config, set, store, EngineOptions { dry_run, quiet: true })
}

const TOUR: &str = r#"
connector intel {
  type Rep = { verdict: Verdict, score: int }
  action rep(u: url) -> Rep effect read
  action flaky(u: url) -> Rep effect read
}
connector fw {
  action block(addr: ip) effect reversible(undo: unblock)
  action unblock(addr: ip) effect reversible(undo: block)
  action wipe(addr: ip) effect destructive
}
type Alert = { urls: list<url>, addr: ip, n: int, tags: list<string>, extra: json }

fn score_of(r: intel.Rep) -> int { r.score * 2 }

playbook tour(a: Alert) when a.n > 0 {
  let reps = for u in a.urls where not contains(u, "skip") limit 10 { intel.rep(u) }
  let scores = for r in reps { score_of(r) }
  let total = if len(scores) > 0 { scores[0] + scores[len(scores) - 1] } else { 0 }
  let kind = match worst(for r in reps { r.verdict }) {
    malicious => "bad"
    suspicious | unknown => "meh"
    _ => "fine"
  }
  let caught = try { intel.flaky(a.urls[0]) } catch err { { verdict: unknown, score: len(err.message) } }
  let maybe: string? = none
  let tagtext = join(a.tags, ",")
  let dflt = maybe ?? "dflt"
  note "kind={kind} total={total} caught={caught.verdict} tags={tagtext} n={a.n % 4} {dflt}"
  evidence "reps" = reps
  evidence "extra" = a.extra.k
  recommend "look at {a.addr}"
  if kind == "bad" {
    fw.block(a.addr)
    resolve "blocked {a.addr}"
  }
  escalate "kind {kind}"
}
"#;

fn tour_connectors() -> (ConnectorSet, Arc<Fake>, Arc<Fake>) {
    let intel = Fake::new(|action, args| match action {
        "rep" => {
            let u = args.get("u").and_then(Json::as_str).unwrap_or("");
            Ok(if u.contains("evil") {
                json!({"verdict": "malicious", "score": 9})
            } else {
                json!({"verdict": "benign", "score": 1})
            })
        }
        _ => Err(ConnectorError::unavailable("feed unreachable")),
    });
    let fw = Fake::new(|_, _| Ok(Json::Null));
    let mut set = ConnectorSet::new();
    set.insert("intel", intel.clone());
    set.insert("fw", fw.clone());
    (set, intel, fw)
}

fn tour_alert() -> Json {
    json!({
        "urls": ["http://evil.example/a", "http://skip.example/", "http://ok.example/"],
        "addr": "192.0.2.7", "n": 6, "tags": ["x", "y"], "extra": {"k": [1, 2]}
    })
}

#[tokio::test]
async fn every_construct_builds_the_case() {
    let (program, config) = compile(TOUR);
    let (set, intel, fw) = tour_connectors();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let engine = engine_with(program, config, set, store.clone(), false);
    let alert = tour_alert();
    let matching = engine.matching_playbooks(&alert);
    assert_eq!(matching.len(), 1);
    let out = engine.start(matching[0], alert).await.unwrap();
    assert_eq!(out.disposition, Disposition::Resolved, "{:?}", out.case.error);
    assert_eq!(out.case.summary.as_deref(), Some("blocked 192.0.2.7"));
    assert_eq!(
        out.case.notes,
        vec!["kind=bad total=20 caught=unknown tags=x,y n=2 dflt".to_string()],
        "{:#?}",
        out.case
    );
    assert_eq!(out.case.recommendation.as_deref(), Some("look at 192.0.2.7"));
    assert_eq!(out.case.evidence[1].value, json!([1, 2]));
    assert_eq!(intel.calls("rep"), 2, "the `where` filter skipped one URL");
    assert_eq!(fw.calls("block"), 1);
    let statuses: Vec<ActionStatus> = out.case.actions.iter().map(|a| a.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == ActionStatus::Failed).count(), 1);
    assert_eq!(store.get_run(&out.run_id).unwrap().unwrap().status, RunStatus::Finished);
    assert!(store.load_case(&out.run_id).unwrap().is_some());
    // An alert that does not decode matches nothing and is rejected with paths.
    assert!(engine.matching_playbooks(&json!({"urls": 3})).is_empty());
    let err = engine.start(matching[0], json!({"urls": ["nope"], "addr": "x", "n": 1})).await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("$.urls[0]") && text.contains("$.addr") && text.contains("$.tags"), "{text}");
    // `when` false: no match.
    let mut quiet = tour_alert();
    quiet["n"] = json!(0);
    assert!(engine.matching_playbooks(&quiet).is_empty());
}

#[tokio::test]
async fn dry_run_skips_effects() {
    let (program, config) = compile(TOUR);
    let (set, intel, fw) = tour_connectors();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let engine = engine_with(program, config, set, store.clone(), true);
    let out = engine.start(PlaybookId(0), tour_alert()).await.unwrap();
    assert_eq!(out.disposition, Disposition::Resolved);
    assert_eq!(intel.calls("rep"), 2);
    assert_eq!(fw.calls("block"), 0);
    assert!(
        out.case.actions.iter().any(|a| a.names.action() == "block" && a.status == ActionStatus::Skipped)
    );
    assert!(store.list_runs(&Default::default()).unwrap().is_empty());
}

const CONCURRENT: &str = r#"
connector intel {
  action rep(u: url) -> int effect read
  action sender(s: string) -> int effect read
  action age(s: string) -> int effect read
}
connector ticket {
  action open(text: string) -> string effect write
}
type Alert = { urls: list<url>, s: string }
playbook p(a: Alert) {
  let x = intel.sender(a.s)
  let y = intel.age(a.s)
  let reps = for u in a.urls limit 50 concurrency 4 { intel.rep(u) + x }
  let t = ticket.open("reps {reps} {y}")
  resolve "{t} {reps}"
}
"#;

#[tokio::test]
async fn concurrent_reads_equal_sequential_results_and_overlap() {
    let urls: Vec<String> = (0..12).map(|i| format!("http://h{i}.example/")).collect();
    let alert = json!({"urls": urls, "s": "bob"});
    let mut outcomes = Vec::new();
    for delay in [Duration::ZERO, Duration::from_millis(40)] {
        let (program, config) = compile(CONCURRENT);
        let intel = Fake::slow(delay, |action, args| match action {
            "rep" => {
                let u = args.get("u").and_then(Json::as_str).unwrap_or("");
                Ok(json!(u.len()))
            }
            "sender" => Ok(json!(100)),
            _ => Ok(json!(7)),
        });
        let ticket =
            Fake::new(|_, args| Ok(json!(format!("T-{}", args["text"].as_str().unwrap_or("").len()))));
        let mut set = ConnectorSet::new();
        set.insert("intel", intel.clone());
        set.insert("ticket", ticket.clone());
        let engine = engine_with(program, config, set, Arc::new(MemoryStore::new()), false);
        let started = std::time::Instant::now();
        let out = engine.start(PlaybookId(0), alert.clone()).await.unwrap();
        let wall = started.elapsed();
        if !delay.is_zero() {
            // Critical path: sender and age together (1), 12 reps 4 at a time (3) = 4 delays.
            assert!(wall < delay * 6, "took {wall:?}");
            assert_eq!(intel.peak.load(Ordering::SeqCst), 4);
        }
        outcomes.push(out.case.summary.clone());
    }
    assert_eq!(outcomes[0], outcomes[1]);
    assert!(outcomes[0].as_deref().unwrap().starts_with("T-"), "{outcomes:?}");
}

#[tokio::test]
async fn limit_exceeded_before_any_iteration() {
    let src = r#"
connector fw { action block(addr: ip) effect reversible(undo: unblock)
               action unblock(addr: ip) effect reversible(undo: block) }
type Alert = { addrs: list<ip> }
playbook p(a: Alert) {
  let r = try { for x in a.addrs limit 2 { fw.block(x) } } catch err { fail "{err.kind}: {err.message}" }
  resolve "ok"
}
"#;
    let (program, config) = compile(src);
    let fw = Fake::new(|_, _| Ok(Json::Null));
    let mut set = ConnectorSet::new();
    set.insert("fw", fw.clone());
    let engine = engine_with(program, config, set, Arc::new(MemoryStore::new()), false);
    let out =
        engine.start(PlaybookId(0), json!({"addrs": ["192.0.2.1", "192.0.2.2", "192.0.2.3"]})).await.unwrap();
    assert_eq!(out.disposition, Disposition::Failed);
    assert!(out.case.error.as_deref().unwrap().starts_with("limit_exceeded: "), "{:?}", out.case.error);
    assert_eq!(fw.calls("block"), 0);
    let ok = engine.start(PlaybookId(0), json!({"addrs": ["192.0.2.1", "192.0.2.2"]})).await.unwrap();
    assert_eq!(ok.disposition, Disposition::Resolved);
    assert_eq!(fw.calls("block"), 2);
}

const GATED: &str = r#"
connector fw {
  action block(addr: ip) effect reversible(undo: unblock)
  action unblock(addr: ip) effect reversible(undo: block)
  action wipe(addr: ip) effect destructive
}
connector ticket { action open(text: string) -> string effect write }
type Alert = { addr: ip }
fn wipe_it(addr: ip) { fw.wipe(addr) }
playbook p(a: Alert) {
  let t = ticket.open("about {a.addr}")
  fw.block(a.addr)
  approve "Wipe {a.addr}?" by "soc" within 1h {
    wipe_it(a.addr)
    resolve "wiped, ticket {t}"
  } else {
    escalate "not wiped"
  }
}
"#;

fn gated_connectors() -> (ConnectorSet, Arc<Fake>, Arc<Fake>) {
    let fw = Fake::new(|_, _| Ok(Json::Null));
    let ticket = Fake::new(|_, _| Ok(json!("T-1")));
    let mut set = ConnectorSet::new();
    set.insert("fw", fw.clone());
    set.insert("ticket", ticket.clone());
    (set, fw, ticket)
}

#[tokio::test]
async fn approval_suspends_and_resume_never_repeats_effects() {
    let (program, config) = compile(GATED);
    let (set, fw, ticket) = gated_connectors();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let engine = engine_with(program, config, set, store.clone(), false);
    let out = engine.start(PlaybookId(0), json!({"addr": "192.0.2.9"})).await.unwrap();
    assert_eq!(out.disposition, Disposition::AwaitingApproval);
    assert_eq!((ticket.calls("open"), fw.calls("block"), fw.calls("wipe")), (1, 1, 0));
    // Resuming while still pending stays suspended and repeats nothing.
    let again = engine.resume(&out.run_id).await.unwrap();
    assert_eq!(again.disposition, Disposition::AwaitingApproval);
    assert_eq!((ticket.calls("open"), fw.calls("block")), (1, 1));
    let pending =
        store.list_approvals(&ApprovalFilter { run_id: Some(out.run_id.clone()), status: None }).unwrap();
    assert_eq!(pending.len(), 1, "one request, however often the run is resumed");
    assert_eq!(pending[0].prompt, "Wipe 192.0.2.9?");
    assert_eq!(pending[0].group.as_deref(), Some("soc"));
    store
        .decide_approval(
            pending[0].id,
            &store::Decision {
                status: store::ApprovalStatus::Granted,
                decided_by: Some("alice".into()),
                decided_at: 1,
            },
        )
        .unwrap();
    let done = engine.resume(&out.run_id).await.unwrap();
    assert_eq!(done.disposition, Disposition::Resolved, "{:?}", done.case.error);
    assert_eq!(done.case.summary.as_deref(), Some("wiped, ticket T-1"));
    assert_eq!((ticket.calls("open"), fw.calls("block"), fw.calls("wipe")), (1, 1, 1));
    let wipe = done.case.actions.iter().find(|a| a.names.action() == "wipe").unwrap();
    assert!(wipe.approval.is_some());
    assert!(done.case.actions.iter().filter(|a| a.names.action() != "wipe").all(|a| a.replayed));
    assert!(matches!(engine.resume(&out.run_id).await, Err(EngineError::RunFinished { .. })));

    // Undo: the reversible block is undone once.
    let report = engine.undo(&out.run_id).await.unwrap();
    assert_eq!(report.undone.len(), 1);
    assert_eq!(report.undone[0].undo_action, "unblock");
    assert_eq!(report.undone[0].arguments, json!({"addr": "192.0.2.9"}));
    assert_eq!(fw.calls("unblock"), 1);
    let second = engine.undo(&out.run_id).await.unwrap();
    assert!(second.undone.is_empty());
    assert_eq!(second.already_undone, 1);
    assert_eq!(fw.calls("unblock"), 1);
}

#[tokio::test]
async fn an_undo_whose_end_was_never_recorded_is_reported_not_repeated() {
    let (program, config) = compile(GATED);
    let (set, fw, _) = gated_connectors();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let engine = engine_with(program, config, set, store.clone(), false);
    let out = engine.start(PlaybookId(0), json!({"addr": "192.0.2.9"})).await.unwrap();
    let block = store.journal(&out.run_id).unwrap().into_iter().find(|e| e.action == "block").unwrap();
    // A process claimed the undo, then stopped before recording how it ended.
    assert!(store.claim_undo(&out.run_id, block.seq, 1).unwrap());
    let report = engine.undo(&out.run_id).await.unwrap();
    assert_eq!(report.undone.len(), 1);
    assert!(report.undone[0].error.as_deref().unwrap().contains("did not record its end"));
    assert_eq!(fw.calls("unblock"), 0, "an unconfirmed undo is never called again");
}

#[tokio::test]
async fn a_run_waiting_for_approval_is_resumed_by_one_process_only() {
    let (program, config) = compile(GATED);
    let (set, fw, _) = gated_connectors();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let engine = engine_with(program, config, set, store.clone(), false);
    let out = engine.start(PlaybookId(0), json!({"addr": "192.0.2.9"})).await.unwrap();
    assert_eq!(out.disposition, Disposition::AwaitingApproval);
    // Another engine holds the run.
    let held = store.lease_run(&out.run_id).unwrap().unwrap();
    let err = engine.resume(&out.run_id).await.unwrap_err();
    assert!(matches!(err, EngineError::RunBusy(_)), "{err}");
    assert!(err.to_string().contains("another process"));
    assert_eq!(store.get_run(&out.run_id).unwrap().unwrap().status, RunStatus::AwaitingApproval);
    drop(held);
    let again = engine.resume(&out.run_id).await.unwrap();
    assert_eq!(again.disposition, Disposition::AwaitingApproval, "still waiting, now resumable");
    assert_eq!(fw.calls("block"), 1, "nothing repeated");
    assert!(store.lease_run(&out.run_id).unwrap().is_some(), "the lease is given back after the run");
}

#[tokio::test]
async fn denied_and_expired_take_the_else_branch() {
    for status in [store::ApprovalStatus::Denied, store::ApprovalStatus::Expired] {
        let (program, config) = compile(GATED);
        let (set, fw, _) = gated_connectors();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let engine = engine_with(program, config, set, store.clone(), false);
        let out = engine.start(PlaybookId(0), json!({"addr": "192.0.2.9"})).await.unwrap();
        let pending = store.list_approvals(&ApprovalFilter::default()).unwrap();
        store
            .decide_approval(pending[0].id, &store::Decision { status, decided_by: None, decided_at: 1 })
            .unwrap();
        let done = engine.resume(&out.run_id).await.unwrap();
        assert_eq!(done.disposition, Disposition::Escalated);
        assert_eq!(fw.calls("wipe"), 0);
    }
}

#[tokio::test]
async fn gate_is_rechecked_even_when_the_ir_is_tampered_with() {
    let (mut program, config) = compile(GATED);
    // Remove the `approve` around the body: splice its granted body into the playbook and
    // clear every approval flag the compiler set.
    let body = &mut program.playbooks[0].body.block.stmts;
    let approve_index = body
        .iter()
        .position(|s| matches!(&s.kind, StmtKind::Expr { expr } if matches!(expr.kind, ExprKind::Approve(_))))
        .unwrap();
    let StmtKind::Expr { expr } = body.remove(approve_index).kind else { unreachable!() };
    let ExprKind::Approve(ap) = expr.kind else { unreachable!() };
    for (i, s) in ap.body.stmts.into_iter().enumerate() {
        body.insert(approve_index + i, s);
    }
    for c in &mut program.connectors {
        for a in &mut c.actions {
            a.requires_approval = false;
        }
    }
    fn clear(stmts: &mut [parry_compiler::ir::Stmt]) {
        for s in stmts {
            if let StmtKind::Expr { expr } = &mut s.kind
                && let ExprKind::Call(call) = &mut expr.kind
                && let Callee::Action(site) = &mut call.callee
            {
                site.requires_approval = false;
                site.gate = parry_compiler::ir::Gate::Allowed { reason: "tampered".into() };
            }
        }
    }
    clear(&mut program.functions[0].body.block.stmts);
    let (set, fw, _) = gated_connectors();
    let engine = engine_with(program, config, set, Arc::new(MemoryStore::new()), false);
    let out = engine.start(PlaybookId(0), json!({"addr": "192.0.2.9"})).await.unwrap();
    assert_eq!(out.disposition, Disposition::Failed);
    assert!(out.case.error.as_deref().unwrap().contains("refused to run `fw.wipe`"), "{:?}", out.case.error);
    assert_eq!(fw.calls("wipe"), 0);
}

/// A connector whose `block` never returns: the run is dropped mid-call, like a crash.
struct Hang;

#[async_trait::async_trait]
impl Connector for Hang {
    async fn call(&self, action: &str, _args: &Args) -> Result<Json, ConnectorError> {
        if action == "block" {
            std::future::pending::<()>().await;
        }
        Ok(json!("T-1"))
    }
}

#[tokio::test]
async fn an_intent_without_result_is_surfaced_not_retried() {
    let (program, config) = compile(GATED);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let program = Arc::new(program);
    let mut hanging = ConnectorSet::new();
    hanging.insert("fw", Arc::new(Hang));
    hanging.insert("ticket", Arc::new(Hang));
    let crashed =
        Engine::new(program.clone(), config.clone(), hanging, store.clone(), EngineOptions::default());
    let attempt = tokio::time::timeout(
        Duration::from_millis(50),
        crashed.start(PlaybookId(0), json!({"addr": "192.0.2.9"})),
    );
    assert!(attempt.await.is_err(), "the call hangs");
    let run_id = store.list_runs(&Default::default()).unwrap()[0].id.clone();
    assert_eq!(store.unfinished_intents(Some(&run_id)).unwrap().len(), 1);

    let (set, fw, ticket) = gated_connectors();
    let engine =
        Engine::new(program, config, set, store.clone(), EngineOptions { dry_run: false, quiet: true });
    let out = engine.resume(&run_id).await.unwrap();
    assert_eq!(out.disposition, Disposition::Failed);
    assert_eq!(fw.calls("block"), 0, "never retried blindly");
    assert_eq!(ticket.calls("open"), 0, "replayed from the journal");
    let block = out.case.actions.iter().find(|a| a.names.action() == "block").unwrap();
    assert_eq!(block.status, ActionStatus::Unconfirmed);
    assert!(out.case.error.as_deref().unwrap().contains("may or may not have happened"));
}

#[tokio::test]
async fn now_is_journaled_across_replays() {
    let src = r#"
type Alert = { id: string }
playbook p(a: Alert) {
  let t = now()
  note "{t}"
  approve "ok?" { resolve "{t}" } else { escalate "{t}" }
}
"#;
    let (program, config) = compile(src);
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let engine = engine_with(program, config, ConnectorSet::new(), store.clone(), false);
    let out = engine.start(PlaybookId(0), json!({"id": "x"})).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let pending = store.list_approvals(&ApprovalFilter::default()).unwrap();
    store
        .decide_approval(
            pending[0].id,
            &store::Decision { status: store::ApprovalStatus::Granted, decided_by: None, decided_at: 1 },
        )
        .unwrap();
    let done = engine.resume(&out.run_id).await.unwrap();
    assert_eq!(done.disposition, Disposition::Resolved);
    assert_eq!(done.case.notes, out.case.notes);
    assert_eq!(done.case.summary.as_ref(), out.case.notes.first());
}

#[test]
fn only_loops_that_wait_on_reads_overlap() {
    let (program, _) = compile(
        r#"
connector intel { action rep(u: url) -> int effect read }
connector fw { action block(u: url) effect write }
type Alert = { urls: list<url> }
playbook p(a: Alert) {
  let reps = for u in a.urls limit 50 { intel.rep(u) }
  let lengths = for u in a.urls limit 50 { len("{u}") }
  let nested = for u in a.urls limit 50 {
    let n = for v in [u] { intel.rep(v) }
    n
  }
  for u in a.urls limit 50 { fw.block(u) }
  resolve "{reps} {lengths} {nested}"
}
"#,
    );
    let loops: Vec<bool> = program.playbooks[0]
        .body
        .block
        .stmts
        .iter()
        .filter_map(|s| match &s.kind {
            StmtKind::Let { value, .. } | StmtKind::Expr { expr: value } => match &value.kind {
                ExprKind::For(lp) => Some(eval::overlappable_body(&program, &lp.body).is_some()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    // Reads overlap; a body with no call has nothing to wait for; a write runs in order.
    assert_eq!(loops, [true, false, true, false]);
}

/// A store in memory and one in SQLite (in `dir`).
fn both_stores(dir: &std::path::Path) -> [Arc<dyn Store>; 2] {
    [Arc::new(MemoryStore::new()), Arc::new(crate::store::SqliteStore::open(&dir.join("state.db")).unwrap())]
}

/// The case and the journal without what differs from one run to the next (ids and times).
fn comparable(mut json: Json) -> Json {
    fn strip(json: &mut Json) {
        match json {
            Json::Object(map) => {
                for key in ["run_id", "started_at", "finished_at", "duration_ms", "seq"] {
                    map.remove(key);
                }
                map.values_mut().for_each(strip);
            }
            Json::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut json);
    json
}

#[tokio::test]
async fn a_case_and_its_journal_are_the_same_in_either_store() {
    // Results the engine keeps as its values in memory (exactly their JSON) and results it
    // must keep as text (an unknown field, an enum name in another case, an integer score
    // where the type says float would read back otherwise).
    let src = TOUR
        .replace("score: int", "score: float")
        .replace("r.score * 2", "2")
        .replace("score: len(err.message)", "score: 0.5");
    let (program, config) = compile(&src);
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for store in both_stores(dir.path()) {
        let intel = Fake::new(|action, args| match action {
            "rep" if args.get("u").and_then(Json::as_str).is_some_and(|u| u.contains("evil")) => {
                Ok(json!({"verdict": "MALICIOUS", "score": 9, "source": "feed"}))
            }
            "rep" => Ok(json!({"verdict": "benign", "score": 1.5})),
            _ => Ok(json!({"verdict": "unknown", "score": 0.0})),
        });
        let mut set = ConnectorSet::new();
        set.insert("intel", intel);
        set.insert("fw", Fake::new(|_, _| Ok(Json::Null)));
        let engine = engine_with(program.clone(), config.clone(), set, store.clone(), false);
        let out = engine.start(PlaybookId(0), tour_alert()).await.unwrap();
        assert_eq!(out.disposition, Disposition::Resolved, "{:?}", out.case.error);
        let case = store.load_case(&out.run_id).unwrap().unwrap();
        let journal = serde_json::to_value(store.journal(&out.run_id).unwrap()).unwrap();
        assert_eq!(
            case["actions"][0]["result"],
            json!({"verdict": "MALICIOUS", "score": 9, "source": "feed"})
        );
        assert_eq!(case["actions"][1]["result"], json!({"verdict": "benign", "score": 1.5}));
        assert_eq!(serde_json::to_value(&*out.case).unwrap(), case, "the case returned is the case kept");
        seen.push((comparable(case), comparable(journal)));
    }
    assert_eq!(seen[0], seen[1], "memory and SQLite keep the same case and journal");
}

/// An `intel` connector written against the engine's values: it records the arguments it
/// gets and answers `rep` with a value (`bad` makes the answer not a `Rep`).
struct TypedIntel {
    args: Mutex<Vec<Vec<Value>>>,
    bad: bool,
}

#[async_trait::async_trait]
impl Connector for TypedIntel {
    async fn call(&self, _action: &str, _args: &Args) -> Result<Json, ConnectorError> {
        Err(ConnectorError::new("internal", "a typed connector is called with values", false))
    }

    fn values(&self) -> Option<&dyn connectors::ValueConnector> {
        Some(self)
    }
}

#[async_trait::async_trait]
impl connectors::ValueConnector for TypedIntel {
    async fn call_values(&self, action: &str, args: &[Value]) -> Result<Value, ConnectorError> {
        self.args.lock().unwrap().push(args.to_vec());
        let evil = args.first().and_then(Value::as_str).is_some_and(|u| u.contains("evil"));
        match action {
            "rep" if self.bad => {
                Ok(Value::record([("verdict", Value::str("malicious")), ("score", Value::Int(9))]))
            }
            "rep" if evil => Ok(Value::record([
                ("verdict", Value::variant("Verdict", "malicious", 3)),
                ("score", Value::Int(9)),
            ])),
            "rep" => Ok(Value::record([
                ("verdict", Value::variant("Verdict", "benign", 1)),
                ("score", Value::Int(1)),
            ])),
            _ => Err(ConnectorError::unavailable("feed unreachable")),
        }
    }
}

#[tokio::test]
async fn a_typed_connector_gets_values_and_its_results_are_checked() {
    let (program, config) = compile(TOUR);
    let dir = tempfile::tempdir().unwrap();
    let mut seen = Vec::new();
    for store in both_stores(dir.path()) {
        let intel = Arc::new(TypedIntel { args: Mutex::new(Vec::new()), bad: false });
        let fw = Fake::new(|_, _| Ok(Json::Null));
        let mut set = ConnectorSet::new();
        set.insert("intel", intel.clone());
        set.insert("fw", fw.clone());
        let engine = engine_with(program.clone(), config.clone(), set, store.clone(), false);
        let out = engine.start(PlaybookId(0), tour_alert()).await.unwrap();
        // The same run as with JSON connectors (`every_construct_builds_the_case`).
        assert_eq!(out.disposition, Disposition::Resolved, "{:?}", out.case.error);
        assert_eq!(out.case.notes, vec!["kind=bad total=20 caught=unknown tags=x,y n=2 dflt".to_string()]);
        assert_eq!(fw.calls("block"), 1);
        let args = intel.args.lock().unwrap().clone();
        assert_eq!(
            args[0],
            vec![Value::Sec { kind: SecurityKind::Url, text: "http://evil.example/a".into() }]
        );
        let case = store.load_case(&out.run_id).unwrap().unwrap();
        assert_eq!(case["actions"][0]["arguments"], json!({"u": "http://evil.example/a"}));
        assert_eq!(case["actions"][0]["result"], json!({"verdict": "malicious", "score": 9}));
        let journal = serde_json::to_value(store.journal(&out.run_id).unwrap()).unwrap();
        assert_eq!(journal[0]["result"], json!({"verdict": "malicious", "score": 9}));
        seen.push((comparable(case), comparable(journal)));
    }
    assert_eq!(seen[0], seen[1], "memory and SQLite keep the same case and journal");

    // A result that is not of the declared type is the call's error, with its path.
    let mut set = ConnectorSet::new();
    set.insert("intel", Arc::new(TypedIntel { args: Mutex::new(Vec::new()), bad: true }));
    set.insert("fw", Fake::new(|_, _| Ok(Json::Null)));
    let engine = engine_with(program, config, set, Arc::new(MemoryStore::new()), false);
    let out = engine.start(PlaybookId(0), tour_alert()).await.unwrap();
    assert_eq!(out.disposition, Disposition::Failed);
    let error = out.case.error.clone().unwrap_or_default();
    assert!(error.contains("bad_result") || error.contains("is not a `intel.Rep`"), "{error}");
    assert!(error.contains("$.verdict: expected a `Verdict` value, got a string"), "{error}");
}

#[tokio::test]
async fn an_engine_over_another_store_runs_the_same_and_keeps_its_runs_there() {
    let (program, config) = compile(TOUR);
    let (set, _, fw) = tour_connectors();
    let first: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let engine = engine_with(program, config, set, first.clone(), false);
    let second: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let other = engine.with_store(second.clone());
    let a = engine.start(PlaybookId(0), tour_alert()).await.unwrap();
    let b = other.start(PlaybookId(0), tour_alert()).await.unwrap();
    assert_eq!((a.disposition, b.disposition), (Disposition::Resolved, Disposition::Resolved));
    assert_eq!(
        comparable(first.load_case(&a.run_id).unwrap().unwrap()),
        comparable(second.load_case(&b.run_id).unwrap().unwrap())
    );
    assert_eq!(first.list_runs(&crate::store::RunFilter::default()).unwrap().len(), 1);
    assert_eq!(second.list_runs(&crate::store::RunFilter::default()).unwrap().len(), 1);
    assert_eq!(fw.calls("block"), 2, "both engines call the same connectors");
}

#[tokio::test]
async fn expressions_around_action_calls_evaluate_each_call_once() {
    // Operators, lists and interpolations whose other operands are evaluated on the spot:
    // the action call in each is still made once, in order.
    let src = r#"
connector intel {
  type Rep = { verdict: Verdict, score: int }
  action rep(u: url) -> Rep effect read
}
type A = { u: url, n: int }
playbook p(a: A) {
  let total = a.n + intel.rep(a.u).score
  let items = [a.n, intel.rep(a.u).score, a.n * 2]
  note "n={a.n} score={intel.rep(a.u).score} total={total} items={len(items)} last={items[2]}"
  resolve "done {len(items) + a.n}"
}
"#;
    let (program, config) = compile(src);
    let intel = Fake::new(|_, _| Ok(json!({"verdict": "malicious", "score": 9})));
    let mut set = ConnectorSet::new();
    set.insert("intel", intel.clone());
    let engine = engine_with(program, config, set, Arc::new(MemoryStore::new()), false);
    let out = engine.start(PlaybookId(0), json!({"u": "http://evil.example/a", "n": 3})).await.unwrap();
    assert_eq!(out.disposition, Disposition::Resolved, "{:?}", out.case.error);
    assert_eq!(out.case.notes, vec!["n=3 score=9 total=12 items=3 last=6".to_string()]);
    assert_eq!(out.case.summary.as_deref(), Some("done 6"));
    assert_eq!(intel.calls("rep"), 3);
    assert_eq!(out.case.actions.len(), 3);
}

#[tokio::test]
async fn an_action_call_s_arguments_are_evaluated_in_order_before_it() {
    // Arguments on the spot and arguments that are action calls themselves, mixed: each
    // inner call is made once, before the call that takes its result.
    let src = r#"
connector t {
  action echo(s: string) -> string effect read
  action pair(a: string, b: string, c: string) -> string effect read
}
type A = { s: string }
playbook p(a: A) {
  let r = t.pair(a.s, t.echo("one"), "{a.s}-{t.echo("two")}")
  resolve r
}
"#;
    let (program, config) = compile(src);
    let t = Fake::new(|action, args| {
        Ok(match action {
            "echo" => json!(format!("<{}>", args["s"].as_str().unwrap_or("?"))),
            _ => json!(format!(
                "{}|{}|{}",
                args["a"].as_str().unwrap_or("?"),
                args["b"].as_str().unwrap_or("?"),
                args["c"].as_str().unwrap_or("?")
            )),
        })
    });
    let mut set = ConnectorSet::new();
    set.insert("t", t.clone());
    let engine = engine_with(program, config, set, Arc::new(MemoryStore::new()), false);
    let out = engine.start(PlaybookId(0), json!({"s": "x"})).await.unwrap();
    assert_eq!(out.disposition, Disposition::Resolved, "{:?}", out.case.error);
    assert_eq!(out.case.summary.as_deref(), Some("x|<one>|x-<two>"));
    let order: Vec<String> = t.log.lock().unwrap().iter().map(|(a, args)| format!("{a}{args}")).collect();
    assert_eq!(
        order,
        [r#"echo{"s":"one"}"#, r#"echo{"s":"two"}"#, r#"pair{"a":"x","b":"<one>","c":"x-<two>"}"#]
    );
}

#[tokio::test]
async fn lets_run_together_each_with_the_locals_it_reads() {
    // Four independent reads in a row run together, each in a copy of only the slots it
    // reads: locals bound before, fields, a loop. A function call runs on its own.
    let src = r#"
connector intel {
  action rep(u: url) -> int effect read
  action sender(s: string) -> int effect read
}
type Alert = { urls: list<url>, s: string, n: int }
fn twice(s: string) -> int { intel.sender(s) * 2 }
playbook p(a: Alert) {
  let first = a.urls[0]
  let label = "{a.s}-{a.n}"
  let y = twice(a.s)
  let x = intel.sender(label)
  let w = intel.sender(a.s) + len(label) + y
  let reps = for u in a.urls limit 10 { intel.rep(u) + a.n }
  let z = intel.rep(first)
  resolve "{x} {y} {w} {reps} {z}"
}
"#;
    let (program, config) = compile(src);
    let intel = Fake::slow(Duration::from_millis(30), |action, args| {
        let text = args.get(if action == "rep" { "u" } else { "s" }).and_then(Json::as_str).unwrap_or("");
        Ok(json!(text.len()))
    });
    let mut set = ConnectorSet::new();
    set.insert("intel", intel.clone());
    let engine = engine_with(program, config, set, Arc::new(MemoryStore::new()), false);
    let alert = json!({"urls": ["http://a.example/", "http://bb.example/x"], "s": "carol", "n": 3});
    let out = engine.start(PlaybookId(0), alert).await.unwrap();
    assert_eq!(out.disposition, Disposition::Resolved, "{:?}", out.case.error);
    // x: len("carol-3"); y: 2 * len("carol"); w: 5 + 7 + y; reps: len(u) + 3; z: len of
    // the first url.
    assert_eq!(out.case.summary.as_deref(), Some("7 10 22 [20, 22] 17"));
    assert!(intel.peak.load(Ordering::SeqCst) >= 4, "the lets did not overlap");
}

#[test]
fn an_action_s_names_are_kept_under_each_effect_they_name() {
    let (program, _) = compile(
        r#"
connector fw { action block(addr: ip) effect write }
type A = { addr: ip }
playbook p(a: A) { fw.block(a.addr) }
"#,
    );
    let action = &program.connectors[0].actions[0];
    let labels = ActionLabels::new("fw", action);
    for kind in [EffectKind::Read, EffectKind::Write, EffectKind::Reversible, EffectKind::Destructive] {
        let names = &labels.names[kind as usize];
        assert_eq!((names.connector(), names.action(), names.effect()), ("fw", "block", kind.name()));
    }
}
