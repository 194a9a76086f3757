//! The evaluator: walks the typed IR of one body (playbook, function, test, const).
//!
//! Everything with an outside effect goes through a [`Host`]: action calls, approvals,
//! `now()`, and the test-only statements. The engine's host journals and calls connectors;
//! the test runner's host answers from mocks. The evaluator itself owns the semantics that
//! both share: values, operators, control flow, the run-time gate re-check, `limit`, and the
//! scheduling of independent reads.

use super::case::{Case, Disposition, EvidenceItem, RecordedJson};
use super::join::{BoxFuture, join_bounded};
use crate::value::{self, Text, Value};
use parry_compiler::ir::{
    self, Action, ApprovalDecision, BinaryOp, Block, Builtin, CallSite, Callee, EffectKind, Expr, ExprKind,
    InterpPart, MockPattern, MockResult, Pattern, PlaybookId, Program, Stmt, StmtKind, Type, UnaryOp,
};
use parry_compiler::project::Config;
use rustc_hash::FxHashMap;
use serde_json::Value as Json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An error raised while running: what `catch err` binds.
#[derive(Clone, Debug, PartialEq)]
pub struct RunError {
    /// `fail`, `limit_exceeded`, `approval_required`, `unmocked_action`, `runtime`,
    /// `bad_result`, `unconfirmed`, or a connector's error kind (`unavailable`, ...).
    pub kind: String,
    pub message: String,
    /// `connector.action` when an action call failed.
    pub action: Option<String>,
}

impl RunError {
    pub fn new(kind: &str, message: impl Into<String>) -> RunError {
        RunError { kind: kind.to_string(), message: message.into(), action: None }
    }

    pub fn runtime(message: impl Into<String>) -> RunError {
        RunError::new("runtime", message)
    }

    fn to_value(&self) -> Value {
        Value::record([
            ("kind", Value::str(self.kind.clone())),
            ("message", Value::str(self.message.clone())),
            ("action", self.action.clone().map_or(Value::None, Value::str)),
        ])
    }

    /// The text shown in a case: `connector.action: message` for action failures.
    pub fn describe(&self) -> String {
        match &self.action {
            Some(action) if !self.message.starts_with(action.as_str()) => {
                format!("{action}: {}", self.message)
            }
            _ => self.message.clone(),
        }
    }
}

/// Why evaluation stopped early.
#[derive(Clone, Debug)]
pub enum Flow {
    /// An error, catchable by `try`.
    Error(RunError),
    /// `resolve` / `escalate`: the run is over.
    End { disposition: Disposition, summary: String },
    /// An `approve` has no decision yet: the run is suspended.
    Suspend { approval: String },
    /// The run cannot go on and `try` must not hide it (an unconfirmed effectful call).
    Halt(RunError),
    /// A test failed (a failed `expect`); ends the test.
    TestFailure(String),
}

pub type R<T> = Result<T, Flow>;

fn err<T>(message: impl Into<String>) -> R<T> {
    Err(Flow::Error(RunError::runtime(message)))
}

/// One local frame: slots of the current body, and the dynamic context.
#[derive(Clone, Debug)]
pub struct Frame {
    pub slots: Vec<Value>,
    /// The approval whose granted body we are in (through any function calls), if any.
    pub approval: Option<Arc<str>>,
    /// The function-call and loop-index path, appended to call-site ids for journal keys.
    pub ctx: String,
}

impl Frame {
    pub fn new(locals: u32) -> Frame {
        Frame { slots: vec![Value::Unit; locals as usize], approval: None, ctx: String::new() }
    }

    fn set(&mut self, slot: ir::Slot, value: Value) {
        let i = slot.0 as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, Value::Unit);
        }
        if let Some(s) = self.slots.get_mut(i) {
            *s = value;
        }
    }

    fn get(&self, slot: ir::Slot) -> Value {
        self.slots.get(slot.0 as usize).cloned().unwrap_or(Value::Unit)
    }

    /// A frame for a branch that runs beside others, in context `ctx`: a copy of only the
    /// slots in `reads` (every slot the branch can read); the others are unit. A copy of every
    /// live value would raise and later lower each one's reference count for nothing. It is
    /// only as long as the last slot read: the branch's own `let`s lengthen it as they bind.
    fn branch(&self, reads: &[ir::Slot], ctx: String) -> Frame {
        let len = reads.iter().map(|s| s.0 as usize + 1).max().unwrap_or(0).min(self.slots.len());
        let mut slots = vec![Value::Unit; len];
        for slot in reads {
            let i = slot.0 as usize;
            if let (Some(to), Some(from)) = (slots.get_mut(i), self.slots.get(i)) {
                to.clone_from(from);
            }
        }
        Frame { slots, approval: self.approval.clone(), ctx }
    }
}

/// One action call, ready for the host.
pub struct ActionCall<'a> {
    pub site: &'a CallSite,
    pub action: &'a Action,
    pub connector: &'a str,
    /// The path of function-call sites and loop indices to the call: with the site's id,
    /// its journal key.
    pub path: &'a str,
    /// The stronger of the call site's and the declaration's effect.
    pub effect: EffectKind,
    /// Arguments in parameter order.
    pub args: Vec<Value>,
    pub approval: Option<Arc<str>>,
}

impl ActionCall<'_> {
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.connector, self.action.name)
    }

    /// The arguments as a JSON object keyed by parameter name.
    pub fn args_json(&self) -> serde_json::Map<String, Json> {
        // Extended, not collected: collecting a map sorts through a temporary buffer first.
        let mut map = serde_json::Map::new();
        map.extend(self.action.params.iter().zip(&self.args).map(|(p, v)| (p.name.to_string(), v.to_json())));
        map
    }

    /// The arguments as a record keyed by parameter name.
    pub fn args_record(&self) -> Value {
        Value::Record(Arc::new(
            self.action
                .params
                .iter()
                .zip(&self.args)
                .map(|(p, v)| (Text::from(p.name.as_str()), v.clone()))
                .collect(),
        ))
    }

    /// `C.A(name: value, ...)` for messages.
    pub fn describe(&self) -> String {
        self.describe_with(&self.args)
    }

    /// As [`ActionCall::describe`], with the arguments `args`.
    pub(crate) fn describe_with(&self, args: &[Value]) -> String {
        let args: Vec<String> =
            self.action.params.iter().zip(args).map(|(p, v)| format!("{}: {v:?}", p.name)).collect();
        format!("{}({})", self.qualified(), args.join(", "))
    }
}

/// An approval request reached by the run.
pub struct ApprovalAsk {
    pub key: String,
    pub prompt: String,
    pub group: Option<String>,
    pub within_ms: i64,
}

/// A mock registered by a test.
pub struct MockDef {
    pub action: ir::ActionId,
    pub patterns: Vec<MockPatternValue>,
    /// `Ok(value)` or `Err(message)` for `fail`.
    pub result: Result<Value, String>,
}

pub enum MockPatternValue {
    Any,
    Rest,
    Value(Value),
}

/// The outside world of an evaluation.
#[async_trait::async_trait]
pub trait Host: Send + Sync {
    /// Performs (or replays, or mocks) one action call.
    async fn action(&self, run: &RunState, call: ActionCall<'_>) -> R<Value>;
    /// The decision on an approval; `Flow::Suspend` when there is none yet.
    async fn approval(&self, run: &RunState, ask: ApprovalAsk) -> R<ApprovalDecision>;
    /// `now()`, journaled under `key`, in milliseconds since the epoch.
    async fn now(&self, run: &RunState, key: String) -> R<i64>;

    // Test-only operations. The engine's host refuses them (they never reach a checked
    // program outside tests).
    fn mock(&self, _mock: MockDef) -> R<()> {
        err("`mock` is only available in tests")
    }
    fn set_approvals(&self, _decision: ApprovalDecision) -> R<()> {
        err("`approvals` is only available in tests")
    }
    fn calls(&self, _action: ir::ActionId) -> R<Value> {
        err("`calls` is only available in tests")
    }
    fn load(&self, _path: &str, _ty: &Type) -> R<Value> {
        err("`load` is only available in tests")
    }
    async fn run_playbook(&self, _playbook: PlaybookId, _alert: Value) -> R<Value> {
        err("a playbook can only be called like a function in tests")
    }
}

/// The mutable state of one run: its case under construction.
pub struct RunState {
    pub case: Mutex<Case>,
}

impl RunState {
    pub fn new(case: Case) -> RunState {
        RunState { case: Mutex::new(case) }
    }

    pub fn with_case<T>(&self, f: impl FnOnce(&mut Case) -> T) -> T {
        match self.case.lock() {
            Ok(mut case) => f(&mut case),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }
}

/// What is worked out once per program and shared by its runs: the values of consts (they
/// are pure), and how each block's statements and each loop are scheduled (from the program
/// alone). Blocks are known by address: the program outlives the cache, and an entry also
/// keeps the address and length of its statements, so it is never taken for another block.
#[derive(Default)]
pub struct ConstCache {
    values: Mutex<HashMap<u32, Value>>,
    /// Per block: how its statements run ([`BlockPlan`]).
    plans: Plans<Arc<BlockPlan>>,
    /// Per loop body: the slots it reads if its iterations may overlap ([`overlappable_body`]).
    bodies: Plans<Option<Arc<[ir::Slot]>>>,
}

/// How a block's statements run.
struct BlockPlan {
    /// Per statement: how many statements from it form a group of independent reads
    /// ([`independent_reads`]), run together.
    groups: Vec<u32>,
    /// Per statement: the slots its value reads, for a `let` that can run beside others
    /// (empty for any other): what a copy of the frame for it needs.
    reads: Vec<Arc<[ir::Slot]>>,
}

/// Schedules by block address.
type Plans<T> = Mutex<FxHashMap<usize, Scheduled<T>>>;

/// A block's schedule, with the block's statements it was made for.
struct Scheduled<T> {
    stmts: (usize, usize),
    plan: T,
}

impl ConstCache {
    /// `make(block)`, made once per block.
    fn scheduled<T: Clone>(map: &Plans<T>, block: &Block, make: impl FnOnce(&Block) -> T) -> T {
        let key = std::ptr::from_ref(block) as usize;
        let stmts = (block.stmts.as_ptr() as usize, block.stmts.len());
        let mut map = map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = map.get(&key).filter(|s| s.stmts == stmts) {
            return s.plan.clone();
        }
        let plan = make(block);
        map.insert(key, Scheduled { stmts, plan: plan.clone() });
        plan
    }

    /// How the statements of `block` run.
    fn plan(&self, program: &Program, block: &Block) -> Arc<BlockPlan> {
        Self::scheduled(&self.plans, block, |b| {
            let groups: Vec<u32> = (0..b.stmts.len())
                .map(|i| u32::try_from(independent_reads(program, &b.stmts[i..])).unwrap_or(1))
                .collect();
            let reads = b
                .stmts
                .iter()
                .map(|stmt| match &stmt.kind {
                    StmtKind::Let { value, .. } => {
                        let mut info = ExprInfo::default();
                        if read_only_expr(program, value, &mut info, 0) {
                            Arc::from(info.reads)
                        } else {
                            Arc::from([])
                        }
                    }
                    _ => Arc::from([]),
                })
                .collect();
            Arc::new(BlockPlan { groups, reads })
        })
    }

    /// [`overlappable_body`] of `body`.
    fn overlappable(&self, program: &Program, body: &Block) -> Option<Arc<[ir::Slot]>> {
        Self::scheduled(&self.bodies, body, |b| overlappable_body(program, b).map(Arc::from))
    }
}

/// The evaluator for one run (or one test).
#[derive(Clone, Copy)]
pub struct Machine<'a> {
    pub program: &'a Program,
    pub config: &'a Config,
    pub host: &'a dyn Host,
    pub run: &'a RunState,
    pub consts: &'a ConstCache,
}

/// Nesting deeper than this (blocks in blocks, calls in calls) is refused.
const MAX_DEPTH: usize = 256;

impl<'a> Machine<'a> {
    /// Runs a body to completion: its value, or why it stopped.
    pub async fn run_block(&self, frame: &mut Frame, block: &'a Block) -> R<Value> {
        self.block(frame, block, 0).await
    }

    fn block<'s>(&'s self, frame: &'s mut Frame, block: &'a Block, depth: usize) -> BoxFuture<'s, R<Value>> {
        Box::pin(async move {
            if depth > MAX_DEPTH {
                return err("the program nests too deeply to run");
            }
            let stmts = &block.stmts;
            let plan = self.consts.plan(self.program, block);
            let mut last = Value::Unit;
            let mut i = 0;
            while i < stmts.len() {
                let group = plan.groups.get(i).map_or(1, |g| *g as usize);
                if group > 1 {
                    let reads = plan.reads.get(i..i + group).unwrap_or_default();
                    self.concurrent_lets(frame, &stmts[i..i + group], reads, depth).await?;
                    last = Value::Unit;
                    i += group;
                    continue;
                }
                if let Some(stmt) = stmts.get(i) {
                    last = self.stmt(frame, stmt, depth).await?;
                }
                i += 1;
            }
            Ok(last)
        })
    }

    /// A loop's body, evaluated as [`Machine::block`] evaluates it. A body that is one
    /// expression (`for u in urls { intel.rep(u) }`) is evaluated as that expression, without
    /// scheduling the block's statements or a future of the block's own.
    async fn body(&self, frame: &mut Frame, block: &'a Block, depth: usize) -> R<Value> {
        match lone_expr(block) {
            Some(expr) if depth <= MAX_DEPTH => self.eval(frame, expr, depth + 1).await,
            _ => self.block(frame, block, depth).await,
        }
    }

    /// [`Machine::body`] in a future of its own, to run beside others.
    fn body_future<'s>(
        &'s self,
        frame: &'s mut Frame,
        block: &'a Block,
        depth: usize,
    ) -> BoxFuture<'s, R<Value>> {
        match lone_expr(block) {
            Some(expr) if depth <= MAX_DEPTH => Box::pin(self.eval(frame, expr, depth + 1)),
            _ => self.block(frame, block, depth),
        }
    }

    /// Evaluates consecutive independent read-only `let`s together, each in a copy of the
    /// slots it reads (`reads`, per `let`).
    async fn concurrent_lets(
        &self,
        frame: &mut Frame,
        lets: &'a [Stmt],
        reads: &[Arc<[ir::Slot]>],
        depth: usize,
    ) -> R<()> {
        let mut frames: Vec<Frame> = (0..lets.len())
            .map(|k| match reads.get(k) {
                Some(reads) => frame.branch(reads, frame.ctx.clone()),
                None => frame.clone(),
            })
            .collect();
        let mut futures: Vec<BoxFuture<'_, R<Value>>> = Vec::with_capacity(lets.len());
        for (stmt, f) in lets.iter().zip(frames.iter_mut()) {
            if let StmtKind::Let { value, .. } = &stmt.kind {
                futures.push(self.expr(f, value, depth + 1));
            }
        }
        let results = join_bounded(futures, lets.len()).await;
        for (stmt, result) in lets.iter().zip(results) {
            if let StmtKind::Let { slot, .. } = &stmt.kind {
                frame.set(*slot, result?);
            }
        }
        Ok(())
    }

    async fn stmt(&self, frame: &mut Frame, stmt: &'a Stmt, depth: usize) -> R<Value> {
        match &stmt.kind {
            StmtKind::Let { slot, value, .. } => {
                let v = self.eval(frame, value, depth + 1).await?;
                frame.set(*slot, v);
                Ok(Value::Unit)
            }
            StmtKind::Expr { expr } => self.eval(frame, expr, depth + 1).await,
            StmtKind::Note { value } => {
                let v = self.eval(frame, value, depth + 1).await?;
                let text = v.to_string();
                self.run.with_case(|c| c.notes.push(text));
                Ok(Value::Unit)
            }
            StmtKind::Evidence { label, value } => {
                let label = self.eval(frame, label, depth + 1).await?.to_string();
                let value = RecordedJson::of_value(self.eval(frame, value, depth + 1).await?);
                self.run.with_case(|c| c.evidence.push(EvidenceItem { label, value }));
                Ok(Value::Unit)
            }
            StmtKind::Recommend { value } => {
                let text = self.eval(frame, value, depth + 1).await?.to_string();
                self.run.with_case(|c| c.recommendation = Some(text));
                Ok(Value::Unit)
            }
            StmtKind::Resolve { value } => {
                let summary = self.eval(frame, value, depth + 1).await?.to_string();
                Err(Flow::End { disposition: Disposition::Resolved, summary })
            }
            StmtKind::Escalate { value } => {
                let summary = self.eval(frame, value, depth + 1).await?.to_string();
                Err(Flow::End { disposition: Disposition::Escalated, summary })
            }
            StmtKind::Fail { value } => {
                let message = self.eval(frame, value, depth + 1).await?.to_string();
                Err(Flow::Error(RunError::new("fail", message)))
            }
            StmtKind::Mock(mock) => {
                let mut patterns = Vec::with_capacity(mock.patterns.len());
                for p in &mock.patterns {
                    patterns.push(match p {
                        MockPattern::Any { .. } => MockPatternValue::Any,
                        MockPattern::Rest { .. } => MockPatternValue::Rest,
                        MockPattern::Value { value } => {
                            MockPatternValue::Value(self.eval(frame, value, depth + 1).await?)
                        }
                    });
                }
                let result = match &mock.result {
                    None => Ok(Value::Unit),
                    Some(MockResult::Value { value }) => Ok(self.eval(frame, value, depth + 1).await?),
                    Some(MockResult::Fail { message }) => {
                        Err(self.eval(frame, message, depth + 1).await?.to_string())
                    }
                };
                self.host.mock(MockDef { action: mock.action, patterns, result })?;
                Ok(Value::Unit)
            }
            StmtKind::Approvals { decision } => {
                self.host.set_approvals(*decision)?;
                Ok(Value::Unit)
            }
            StmtKind::Expect(expect) => self.expect(frame, expect, depth).await,
        }
    }

    async fn expect(&self, frame: &mut Frame, expect: &'a ir::Expect, depth: usize) -> R<Value> {
        let comparison = match &expect.cond.kind {
            ExprKind::Binary { op, lhs, rhs }
                if matches!(
                    op,
                    BinaryOp::Eq
                        | BinaryOp::Ne
                        | BinaryOp::Lt
                        | BinaryOp::Le
                        | BinaryOp::Gt
                        | BinaryOp::Ge
                        | BinaryOp::In
                ) =>
            {
                Some((*op, lhs, rhs))
            }
            _ => None,
        };
        let outcome = match comparison {
            Some((op, lhs, rhs)) => {
                let l = self.eval(frame, lhs, depth + 1).await;
                let r = match &l {
                    Ok(_) => self.eval(frame, rhs, depth + 1).await,
                    Err(_) => Ok(Value::Unit),
                };
                match (l, r) {
                    (Ok(l), Ok(r)) => match binary_values(op, &l, &r) {
                        Ok(v) => Ok((v.as_bool() == Some(true), Some((l, r)))),
                        Err(e) => Err(e),
                    },
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            }
            None => {
                self.eval(frame, &expect.cond, depth + 1).await.map(|v| (v.as_bool() == Some(true), None))
            }
        };
        match outcome {
            Ok((true, _)) => Ok(Value::Unit),
            Ok((false, sides)) => {
                let mut message = format!("expect {}", expect.source);
                if let Some((l, r)) = sides {
                    message.push_str(&format!("\n  left:  {l:?}\n  right: {r:?}"));
                }
                Err(Flow::TestFailure(message))
            }
            Err(Flow::Error(e)) => Err(Flow::TestFailure(format!(
                "expect {}\n  could not be evaluated: {}",
                expect.source,
                e.describe()
            ))),
            Err(other) => Err(other),
        }
    }

    /// Evaluates an expression: on the spot when it needs no awaiting (a literal, a local,
    /// a field of a local), which spares the boxed future of [`Machine::expr`].
    async fn eval(&self, frame: &mut Frame, e: &'a Expr, depth: usize) -> R<Value> {
        if let Some(value) = self.leaf(frame, e, depth) {
            return value;
        }
        // An action call is made from here, sparing the boxed future of [`Machine::expr`].
        if let ExprKind::Call(call) = &e.kind
            && let Callee::Action(site) = &call.callee
            && depth <= MAX_DEPTH
        {
            return self.action_call(frame, site, &call.args, depth + 1).await;
        }
        self.expr(frame, e, depth).await
    }

    /// Evaluates an action call's arguments in order, each on the spot when it can be, else
    /// in a future of its own, then makes the call.
    async fn action_call(
        &self,
        frame: &mut Frame,
        site: &'a CallSite,
        args: &'a [Expr],
        depth: usize,
    ) -> R<Value> {
        let mut values = Vec::with_capacity(args.len());
        for a in args {
            values.push(match self.leaf(frame, a, depth) {
                Some(value) => value?,
                None => self.expr(frame, a, depth).await?,
            });
        }
        self.action(frame, site, values).await
    }

    /// The value of an expression that needs no awaiting; `None` for any other (and past
    /// [`MAX_DEPTH`], which [`Machine::expr`] reports). Besides literals and locals: a field
    /// of a local (`x.f.g`, read in place rather than copying `x` first), and an operator,
    /// an interpolated string, a list or a built-in function whose operands are all such
    /// expressions. An operand that is not makes the whole `None`, to be evaluated again,
    /// in order, by [`Machine::expr`]: what was evaluated here had no effect.
    fn leaf(&self, frame: &Frame, e: &'a Expr, depth: usize) -> Option<R<Value>> {
        if depth > MAX_DEPTH {
            return None;
        }
        macro_rules! operand {
            ($e:expr) => {
                match self.leaf(frame, $e, depth + 1)? {
                    Ok(v) => v,
                    Err(flow) => return Some(Err(flow)),
                }
            };
        }
        Some(match &e.kind {
            ExprKind::Binary { op, lhs, rhs }
                if !matches!(op, BinaryOp::And | BinaryOp::Or | BinaryOp::Coalesce) =>
            {
                let l = operand!(lhs);
                let r = operand!(rhs);
                binary_values(*op, &l, &r)
            }
            ExprKind::Interp { parts } => {
                let mut values = Vec::with_capacity(parts.len());
                for part in parts {
                    if let InterpPart::Expr { expr } = part {
                        values.push(operand!(expr));
                    }
                }
                Ok(typed_string(self.program, &e.ty, &interpolate(parts, &values)))
            }
            ExprKind::List { items } => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(operand!(item));
                }
                Ok(Value::list(out))
            }
            ExprKind::Call(call) => match &call.callee {
                Callee::Builtin { builtin }
                    if !matches!(builtin, Builtin::Calls | Builtin::Load | Builtin::Now) =>
                {
                    let mut args = Vec::with_capacity(call.args.len());
                    for a in &call.args {
                        args.push(operand!(a));
                    }
                    self.pure_builtin(*builtin, args, e)
                }
                _ => return None,
            },
            ExprKind::Int { value } => Ok(Value::Int(*value)),
            ExprKind::Float { value } => Ok(Value::Float(*value)),
            ExprKind::Bool { value } => Ok(Value::Bool(*value)),
            ExprKind::None => Ok(Value::None),
            ExprKind::Str { value } => Ok(typed_string(self.program, &e.ty, value)),
            ExprKind::Duration { ms } => Ok(Value::Duration(i64::try_from(*ms).unwrap_or(i64::MAX))),
            ExprKind::Local { slot, .. } => Ok(frame.get(*slot)),
            ExprKind::Variant { id, ordinal, name } => Ok(self.variant(*id, *ordinal, name)),
            ExprKind::Field { target, field, optional } => {
                field_of(borrowed(frame, target)?, field, *optional)
            }
            _ => return None,
        })
    }

    /// Evaluates an expression in a future of its own. [`Machine::eval`] first tries the
    /// expression on the spot ([`Machine::leaf`]), so this does not try again: what it
    /// could have answered there is evaluated here, to the same value.
    pub fn expr<'s>(&'s self, frame: &'s mut Frame, e: &'a Expr, depth: usize) -> BoxFuture<'s, R<Value>> {
        Box::pin(async move {
            if depth > MAX_DEPTH {
                return err("the program nests too deeply to run");
            }
            let d = depth + 1;
            match &e.kind {
                ExprKind::Int { .. }
                | ExprKind::Float { .. }
                | ExprKind::Bool { .. }
                | ExprKind::None
                | ExprKind::Str { .. }
                | ExprKind::Duration { .. }
                | ExprKind::Local { .. }
                | ExprKind::Variant { .. } => self
                    .leaf(frame, e, depth)
                    .unwrap_or_else(|| err("internal error: a literal or a local was not evaluated")),
                ExprKind::Interp { parts } => {
                    let mut values = Vec::with_capacity(parts.len());
                    for part in parts {
                        if let InterpPart::Expr { expr } = part {
                            values.push(self.eval(frame, expr, d).await?);
                        }
                    }
                    Ok(typed_string(self.program, &e.ty, &interpolate(parts, &values)))
                }
                ExprKind::List { items } => {
                    let mut out = Vec::with_capacity(items.len());
                    for item in items {
                        out.push(self.eval(frame, item, d).await?);
                    }
                    Ok(Value::list(out))
                }
                ExprKind::Record { fields } => {
                    let mut out = Vec::with_capacity(fields.len());
                    for f in fields {
                        out.push((Text::from(f.name.as_str()), self.eval(frame, &f.value, d).await?));
                    }
                    Ok(Value::Record(Arc::new(out)))
                }
                ExprKind::Const { id, name } => self.constant(*id, name, d).await,
                ExprKind::Field { target, field, optional } => {
                    // A field of a local is a leaf, read in place above; this one's target
                    // is computed first.
                    let t = self.eval(frame, target, d).await?;
                    field_of(&t, field, *optional)
                }
                ExprKind::Index { target, index } => {
                    let t = self.eval(frame, target, d).await?;
                    let i = self.eval(frame, index, d).await?;
                    index_of(&t, &i)
                }
                ExprKind::Call(call) => self.call(frame, call, e, d).await,
                ExprKind::Unary { op, operand } => {
                    let v = self.eval(frame, operand, d).await?;
                    unary(*op, &v)
                }
                ExprKind::Binary { op, lhs, rhs } => match op {
                    BinaryOp::And => {
                        let l = self.eval(frame, lhs, d).await?;
                        if !truthy(&l)? {
                            return Ok(Value::Bool(false));
                        }
                        Ok(Value::Bool(truthy(&self.eval(frame, rhs, d).await?)?))
                    }
                    BinaryOp::Or => {
                        let l = self.eval(frame, lhs, d).await?;
                        if truthy(&l)? {
                            return Ok(Value::Bool(true));
                        }
                        Ok(Value::Bool(truthy(&self.eval(frame, rhs, d).await?)?))
                    }
                    BinaryOp::Coalesce => {
                        let l = self.eval(frame, lhs, d).await?;
                        if l.is_none() { self.eval(frame, rhs, d).await } else { Ok(l) }
                    }
                    _ => {
                        let l = self.eval(frame, lhs, d).await?;
                        let r = self.eval(frame, rhs, d).await?;
                        binary_values(*op, &l, &r)
                    }
                },
                ExprKind::If { cond, then, otherwise } => {
                    let c = self.eval(frame, cond, d).await?;
                    if truthy(&c)? {
                        self.block(frame, then, d).await
                    } else if let Some(other) = otherwise {
                        self.block(frame, other, d).await
                    } else {
                        Ok(Value::Unit)
                    }
                }
                ExprKind::Match { scrutinee, arms } => {
                    let v = self.eval(frame, scrutinee, d).await?;
                    for arm in arms {
                        for pattern in &arm.patterns {
                            let hit = match pattern {
                                Pattern::Wildcard { .. } => true,
                                Pattern::Variant { ordinal, name, .. } => match &v {
                                    Value::Enum { variant, ordinal: o, .. } => {
                                        **variant == **name || o == ordinal
                                    }
                                    other => other.as_str() == Some(name.as_str()),
                                },
                                Pattern::Literal { value } => self.eval(frame, value, d).await? == v,
                            };
                            if hit {
                                return self.block(frame, &arm.body, d).await;
                            }
                        }
                    }
                    err(format!("no `match` arm matches the value {v:?}; add a `_ => ...` arm"))
                }
                ExprKind::For(lp) => self.for_loop(frame, lp, d).await,
                ExprKind::Approve(ap) => self.approve(frame, ap, d).await,
                ExprKind::Try { body, err_slot, catch, .. } => match self.block(frame, body, d).await {
                    Err(Flow::Error(error)) => {
                        frame.set(*err_slot, error.to_value());
                        self.block(frame, catch, d).await
                    }
                    other => other,
                },
                ExprKind::Block(block) => self.block(frame, block, d).await,
                ExprKind::ActionRef { action } => match self.program.action(*action) {
                    Some((c, a)) => Ok(Value::str(format!("{}.{}", c.name, a.name))),
                    None => err("reference to an unknown action"),
                },
                ExprKind::Error => err("this expression did not compile; fix the reported errors first"),
            }
        })
    }

    async fn constant(&self, id: ir::ConstId, name: &str, depth: usize) -> R<Value> {
        if let Some(v) = self.consts.values.lock().ok().and_then(|m| m.get(&id.0).cloned()) {
            return Ok(v);
        }
        let Some(def) = self.program.const_def(id) else {
            return err(format!("unknown constant `{name}`"));
        };
        let mut frame = Frame::new(def.value.locals);
        let v = self.block(&mut frame, &def.value.block, depth).await?;
        if let Ok(mut m) = self.consts.values.lock() {
            m.insert(id.0, v.clone());
        }
        Ok(v)
    }

    fn variant(&self, id: ir::EnumId, ordinal: u32, name: &str) -> Value {
        let enum_name = self.program.enum_def(id).map(|d| d.name.clone()).unwrap_or_default();
        Value::Enum { enum_name: enum_name.into(), variant: name.to_string().into(), ordinal }
    }

    async fn call(&self, frame: &mut Frame, call: &'a ir::Call, e: &'a Expr, depth: usize) -> R<Value> {
        match &call.callee {
            Callee::Action(site) => self.action_call(frame, site, &call.args, depth).await,
            Callee::Fn { id, name, site } => {
                let Some(function) = self.program.function(*id) else {
                    return err(format!("unknown function `{name}`"));
                };
                let mut callee = Frame::new(function.body.locals);
                for (param, arg) in function.params.iter().zip(&call.args) {
                    let v = self.eval(frame, arg, depth).await?;
                    callee.set(param.slot, v);
                }
                callee.approval = frame.approval.clone();
                callee.ctx = format!("{}<{}>", frame.ctx, site.id);
                let v = self.block(&mut callee, &function.body.block, depth).await?;
                Ok(if function.ret == Type::Unit { Value::Unit } else { v })
            }
            Callee::Playbook { id, .. } => {
                let alert = match call.args.first() {
                    Some(a) => self.eval(frame, a, depth).await?,
                    None => Value::None,
                };
                self.host.run_playbook(*id, alert).await
            }
            Callee::Builtin { builtin } => self.builtin(frame, *builtin, call, e, depth).await,
            Callee::Convert => {
                let Some(arg) = call.args.first() else {
                    return err("a conversion takes one argument");
                };
                let v = self.eval(frame, arg, depth).await?;
                convert(self.program, &v, &e.ty).map_err(Flow::Error)
            }
        }
    }

    async fn builtin(
        &self,
        frame: &mut Frame,
        builtin: Builtin,
        call: &'a ir::Call,
        e: &'a Expr,
        depth: usize,
    ) -> R<Value> {
        match builtin {
            Builtin::Calls => match call.args.first().map(|a| &a.kind) {
                Some(ExprKind::ActionRef { action }) => self.host.calls(*action),
                _ => err("`calls` takes an action, e.g. `calls(mail.quarantine)`"),
            },
            Builtin::Load => {
                let Some(arg) = call.args.first() else {
                    return err("`load` takes a file path");
                };
                let path = self.eval(frame, arg, depth).await?;
                let Some(path) = path.as_str() else {
                    return err("`load` takes a file path (a string)");
                };
                self.host.load(path, &e.ty)
            }
            Builtin::Now => {
                let key = format!("now@{}:{}{}", e.span.file.0, e.span.start, frame.ctx);
                Ok(Value::Time(self.host.now(self.run, key).await?))
            }
            _ => {
                let mut args = Vec::with_capacity(call.args.len());
                for a in &call.args {
                    args.push(self.eval(frame, a, depth).await?);
                }
                self.pure_builtin(builtin, args, e)
            }
        }
    }

    /// A built-in function that only computes, on its arguments' values.
    fn pure_builtin(&self, builtin: Builtin, args: Vec<Value>, e: &Expr) -> R<Value> {
        // `worst([])` / `best([])` of an enum list: the enum's first / last variant (the type
        // says which enum; the built-in alone cannot know).
        if matches!(builtin, Builtin::Worst | Builtin::Best)
            && matches!(args.first(), Some(Value::List(items)) if items.is_empty())
            && let Some(v) = crate::builtins::extreme_of_empty(builtin.name(), &e.ty, self.program)
        {
            return Ok(v);
        }
        builtin_call(builtin, args).map_err(Flow::Error)
    }

    async fn action(&self, frame: &mut Frame, site: &'a CallSite, args: Vec<Value>) -> R<Value> {
        let Some((connector, action)) = self.program.action(site.action) else {
            return err(format!("unknown action `{}.{}`", site.connector_name, site.action_name));
        };
        let effect = site.effect.max(action.effect.kind);
        // The gate is re-checked here from the declaration and the policy, whatever the
        // call site says: a destructive (or policy-listed) action runs only inside the
        // granted body of an `approve`.
        let requires_approval = site.requires_approval
            || action.requires_approval
            || effect == EffectKind::Destructive
            || (!self.config.policy.require_approval.is_empty()
                && self.config.requires_approval(&connector.name, &action.name));
        if requires_approval && frame.approval.is_none() {
            let mut e = RunError::new(
                "approval_required",
                format!(
                    "refused to run `{}.{}` ({}): it requires an approval and this call is not inside \
                     the granted body of an `approve` block",
                    connector.name,
                    action.name,
                    if effect == EffectKind::Destructive {
                        "destructive"
                    } else {
                        "listed in policy.require_approval"
                    }
                ),
            );
            e.action = Some(format!("{}.{}", connector.name, action.name));
            return Err(Flow::Halt(e));
        }
        let call = ActionCall {
            site,
            action,
            connector: &connector.name,
            path: &frame.ctx,
            effect,
            args,
            approval: frame.approval.clone(),
        };
        self.host.action(self.run, call).await
    }

    async fn for_loop(&self, frame: &mut Frame, lp: &'a ir::ForLoop, depth: usize) -> R<Value> {
        let iter = self.eval(frame, &lp.iter, depth).await?;
        let items: Vec<Value> = match iter {
            Value::List(items) => Arc::unwrap_or_clone(items),
            Value::Json(Json::Array(items)) => items.into_iter().map(Value::Json).collect(),
            Value::None | Value::Json(Json::Null) => Vec::new(),
            other => return err(format!("`for` iterates over a list, got {}", other.kind_name())),
        };
        // `where` first, then `limit` on what is kept: the limit bounds the iterations.
        let mut kept: Vec<(usize, Value)> = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            if let Some(filter) = &lp.filter {
                frame.set(lp.var_slot, item.clone());
                if !truthy(&self.eval(frame, filter, depth).await?)? {
                    continue;
                }
            }
            kept.push((i, item));
        }
        if let Some(limit) = &lp.limit {
            let n = self.eval(frame, limit, depth).await?;
            let Some(n) = n.as_int() else {
                return err("`limit` takes an int");
            };
            if i64::try_from(kept.len()).unwrap_or(i64::MAX) > n {
                return Err(Flow::Error(RunError::new(
                    "limit_exceeded",
                    format!(
                        "the loop over `{}` has {} items, more than its `limit {n}`; no iteration ran",
                        lp.var_name,
                        kept.len()
                    ),
                )));
            }
        }
        let concurrency = match &lp.concurrency {
            Some(c) => self.eval(frame, c, depth).await?.as_int().unwrap_or(1).max(1) as usize,
            None => usize::try_from(self.config.policy.default_concurrency).unwrap_or(8).max(1),
        };
        let overlap = if kept.len() > 1 && concurrency > 1 {
            self.consts.overlappable(self.program, &lp.body)
        } else {
            None
        };
        if let Some(reads) = overlap {
            let mut frames: Vec<Frame> = kept
                .iter()
                .map(|(i, item)| {
                    let mut f = frame.branch(&reads, loop_ctx(&frame.ctx, *i));
                    f.set(lp.var_slot, item.clone());
                    f
                })
                .collect();
            let futures: Vec<BoxFuture<'_, R<Value>>> =
                frames.iter_mut().map(|f| self.body_future(f, &lp.body, depth)).collect();
            let results = join_bounded(futures, concurrency).await;
            let mut out = Vec::with_capacity(results.len());
            for r in results {
                out.push(r?);
            }
            return Ok(Value::list(out));
        }
        // Each iteration's context is the loop's with its index appended, in the same text.
        let base = frame.ctx.len();
        let mut out = Vec::with_capacity(kept.len());
        for (i, item) in kept {
            frame.set(lp.var_slot, item);
            frame.ctx.truncate(base);
            value::push_index(&mut frame.ctx, i);
            let r = self.body(frame, &lp.body, depth).await;
            frame.ctx.truncate(base);
            out.push(r?);
        }
        Ok(Value::list(out))
    }

    async fn approve(&self, frame: &mut Frame, ap: &'a ir::Approve, depth: usize) -> R<Value> {
        let prompt = self.eval(frame, &ap.prompt, depth).await?.to_string();
        let group = match &ap.group {
            Some(g) => Some(self.eval(frame, g, depth).await?.to_string()),
            None => None,
        };
        let within_ms = match &ap.within {
            Some(w) => match self.eval(frame, w, depth).await? {
                Value::Duration(ms) => ms,
                other => return err(format!("`within` takes a duration, got {}", other.kind_name())),
            },
            None => i64::try_from(self.config.policy.approval_timeout_ms).unwrap_or(i64::MAX),
        };
        let key = format!("{}{}", ap.id, frame.ctx);
        let decision =
            self.host.approval(self.run, ApprovalAsk { key: key.clone(), prompt, group, within_ms }).await?;
        match decision {
            ApprovalDecision::Granted => {
                let outer = frame.approval.replace(Arc::from(key.as_str()));
                let r = self.block(frame, &ap.body, depth).await;
                frame.approval = outer;
                r
            }
            ApprovalDecision::Denied | ApprovalDecision::Expired => match &ap.otherwise {
                Some(block) => self.block(frame, block, depth).await,
                None => Ok(Value::Unit),
            },
        }
    }
}

/// The expression a block is made of, when it is one expression statement and nothing else.
fn lone_expr(block: &Block) -> Option<&Expr> {
    match block.stmts.as_slice() {
        [Stmt { kind: StmtKind::Expr { expr }, .. }] => Some(expr),
        _ => None,
    }
}

/// The text of an interpolated string whose expression parts have `values`, in order.
fn interpolate(parts: &[InterpPart], values: &[Value]) -> String {
    // The literal text, and a little room for each value.
    let room = parts
        .iter()
        .map(|p| match p {
            InterpPart::Lit { text } => text.len(),
            InterpPart::Expr { .. } => 16,
        })
        .sum();
    let mut out = String::with_capacity(room);
    let mut values = values.iter();
    for part in parts {
        match part {
            InterpPart::Lit { text } => out.push_str(text),
            InterpPart::Expr { .. } => {
                if let Some(v) = values.next() {
                    // Written in place: no text of its own first.
                    std::fmt::Write::write_fmt(&mut out, format_args!("{v}")).ok();
                }
            }
        }
    }
    out
}

/// The context path of iteration `i` of a loop run in context `base`: `base[i]`, written
/// into one allocation of the right size (it is made for every iteration of a concurrent
/// loop).
fn loop_ctx(base: &str, i: usize) -> String {
    let mut ctx = String::with_capacity(base.len() + 22);
    ctx.push_str(base);
    value::push_index(&mut ctx, i);
    ctx
}

/// A string literal typed as a security type is a security string.
fn typed_string(program: &Program, ty: &Type, text: &str) -> Value {
    match program.resolve_type(ty) {
        Type::Security { security } => Value::security(*security, text).unwrap_or_else(|_| Value::str(text)),
        Type::Optional { inner } => match program.resolve_type(inner) {
            Type::Security { security } => {
                Value::security(*security, text).unwrap_or_else(|_| Value::str(text))
            }
            _ => Value::str(text),
        },
        _ => Value::str(text),
    }
}

fn truthy(v: &Value) -> R<bool> {
    match v.as_bool() {
        Some(b) => Ok(b),
        None => err(format!("expected a bool, got {}", v.kind_name())),
    }
}

/// The value of a local, or of a chain of record fields of a local, by reference: `None`
/// when the expression is anything else (or the field is not there), so the caller
/// evaluates it the ordinary way.
fn borrowed<'f>(frame: &'f Frame, e: &Expr) -> Option<&'f Value> {
    match &e.kind {
        ExprKind::Local { slot, .. } => frame.slots.get(slot.0 as usize),
        ExprKind::Field { target, field, optional: false } => match borrowed(frame, target)? {
            Value::Record(fields) => fields.iter().find(|(k, _)| **k == **field).map(|(_, v)| v),
            _ => None,
        },
        _ => None,
    }
}

fn field_of(target: &Value, field: &str, optional: bool) -> R<Value> {
    match target {
        Value::None | Value::Json(Json::Null) if optional => Ok(Value::None),
        Value::None => err(format!("cannot read `.{field}` of `none`; use `?.{field}` or `??`")),
        Value::Record(_) => Ok(target.field(field).unwrap_or(Value::None)),
        Value::Json(Json::Object(map)) => match map.get(field) {
            Some(j) => Ok(Value::Json(j.clone())),
            None if optional => Ok(Value::None),
            None => {
                err(format!("the JSON object has no field `{field}`; use `?.{field}` when it may be missing"))
            }
        },
        other => err(format!("cannot read `.{field}` of {}", other.kind_name())),
    }
}

fn index_of(target: &Value, index: &Value) -> R<Value> {
    match (target, index) {
        (Value::List(items), _) => {
            let Some(i) = index.as_int() else {
                return err(format!("a list index must be an int, got {}", index.kind_name()));
            };
            match usize::try_from(i).ok().and_then(|i| items.get(i)) {
                Some(v) => Ok(v.clone()),
                None => err(format!("index {i} is out of range for a list of {} items", items.len())),
            }
        }
        (Value::Json(Json::Array(items)), _) => {
            let Some(i) = index.as_int() else {
                return err(format!("a JSON array index must be an int, got {}", index.kind_name()));
            };
            match usize::try_from(i).ok().and_then(|i| items.get(i)) {
                Some(v) => Ok(Value::Json(v.clone())),
                None => err(format!("index {i} is out of range for a JSON array of {} items", items.len())),
            }
        }
        (Value::Json(Json::Object(map)), _) => {
            let Some(k) = index.as_str() else {
                return err(format!("a JSON object index must be a string, got {}", index.kind_name()));
            };
            Ok(map.get(k).map_or(Value::None, |j| Value::Json(j.clone())))
        }
        (other, _) => err(format!("cannot index {}", other.kind_name())),
    }
}

fn unary(op: UnaryOp, v: &Value) -> R<Value> {
    match (op, v) {
        (UnaryOp::Not, _) => Ok(Value::Bool(!truthy(v)?)),
        (UnaryOp::Neg, Value::Int(i)) => {
            i.checked_neg().map(Value::Int).ok_or(()).or_else(|()| err("integer overflow"))
        }
        (UnaryOp::Neg, Value::Float(f)) => Ok(Value::Float(-f)),
        (UnaryOp::Neg, Value::Duration(ms)) => Ok(Value::Duration(-ms)),
        (UnaryOp::Neg, other) => err(format!("cannot negate {}", other.kind_name())),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Json(Json::Number(n)) => n.as_f64(),
        _ => None,
    }
}

fn int_op(op: BinaryOp, a: i64, b: i64) -> R<Value> {
    let r = match op {
        BinaryOp::Add => a.checked_add(b),
        BinaryOp::Sub => a.checked_sub(b),
        BinaryOp::Mul => a.checked_mul(b),
        BinaryOp::Div => {
            if b == 0 {
                return err("division by zero");
            }
            a.checked_div(b)
        }
        BinaryOp::Rem => {
            if b == 0 {
                return err("division by zero");
            }
            a.checked_rem(b)
        }
        _ => None,
    };
    match r {
        Some(v) => Ok(Value::Int(v)),
        None => err(format!("integer overflow in {a} {} {b}", op.as_str())),
    }
}

/// Applies a strict binary operator to two values.
pub fn binary_values(op: BinaryOp, l: &Value, r: &Value) -> R<Value> {
    use std::cmp::Ordering;
    let cmp = |want: fn(Ordering) -> bool| -> R<Value> {
        match l.compare(r) {
            Some(o) => Ok(Value::Bool(want(o))),
            None => err(format!("cannot compare {} with {}", l.kind_name(), r.kind_name())),
        }
    };
    match op {
        BinaryOp::Eq => Ok(Value::Bool(l == r)),
        BinaryOp::Ne => Ok(Value::Bool(l != r)),
        BinaryOp::Lt => cmp(|o| o == Ordering::Less),
        BinaryOp::Le => cmp(|o| o != Ordering::Greater),
        BinaryOp::Gt => cmp(|o| o == Ordering::Greater),
        BinaryOp::Ge => cmp(|o| o != Ordering::Less),
        BinaryOp::In => match r {
            Value::List(items) => Ok(Value::Bool(items.iter().any(|x| x == l))),
            Value::Json(Json::Array(items)) => {
                Ok(Value::Bool(items.iter().any(|x| Value::Json(x.clone()) == *l)))
            }
            Value::Json(Json::Object(map)) => {
                Ok(Value::Bool(l.as_str().is_some_and(|k| map.contains_key(k))))
            }
            _ => match (l.as_str(), r.as_str()) {
                (Some(needle), Some(hay)) => Ok(Value::Bool(hay.contains(needle))),
                _ => err(format!("`in` needs a list or a string on the right, got {}", r.kind_name())),
            },
        },
        BinaryOp::Add => match (l, r) {
            (Value::Int(a), Value::Int(b)) => int_op(op, *a, *b),
            (Value::Duration(a), Value::Duration(b)) => Ok(Value::Duration(a.saturating_add(*b))),
            (Value::Time(a), Value::Duration(b)) | (Value::Duration(b), Value::Time(a)) => {
                Ok(Value::Time(a.saturating_add(*b)))
            }
            (Value::List(a), Value::List(b)) => Ok(Value::list(a.iter().chain(b.iter()).cloned().collect())),
            (Value::Secret(a), b) => {
                Ok(Value::Secret(crate::value::Secret::new(format!("{}{}", a.expose(), plain(b)))))
            }
            (a, Value::Secret(b)) => {
                Ok(Value::Secret(crate::value::Secret::new(format!("{}{}", plain(a), b.expose()))))
            }
            _ => {
                if let (Some(a), Some(b)) = (l.as_str(), r.as_str()) {
                    return Ok(Value::Str(format!("{a}{b}").into()));
                }
                match (number(l), number(r)) {
                    (Some(a), Some(b)) => Ok(Value::Float(a + b)),
                    _ => err(format!("cannot add {} and {}", l.kind_name(), r.kind_name())),
                }
            }
        },
        BinaryOp::Sub => match (l, r) {
            (Value::Int(a), Value::Int(b)) => int_op(op, *a, *b),
            (Value::Duration(a), Value::Duration(b)) => Ok(Value::Duration(a.saturating_sub(*b))),
            (Value::Time(a), Value::Duration(b)) => Ok(Value::Time(a.saturating_sub(*b))),
            (Value::Time(a), Value::Time(b)) => Ok(Value::Duration(a.saturating_sub(*b))),
            _ => match (number(l), number(r)) {
                (Some(a), Some(b)) => Ok(Value::Float(a - b)),
                _ => err(format!("cannot subtract {} from {}", r.kind_name(), l.kind_name())),
            },
        },
        BinaryOp::Mul => match (l, r) {
            (Value::Int(a), Value::Int(b)) => int_op(op, *a, *b),
            (Value::Duration(a), Value::Int(b)) | (Value::Int(b), Value::Duration(a)) => {
                Ok(Value::Duration(a.saturating_mul(*b)))
            }
            _ => match (number(l), number(r)) {
                (Some(a), Some(b)) => Ok(Value::Float(a * b)),
                _ => err(format!("cannot multiply {} by {}", l.kind_name(), r.kind_name())),
            },
        },
        BinaryOp::Div => match (l, r) {
            (Value::Int(a), Value::Int(b)) => int_op(op, *a, *b),
            (Value::Duration(_), Value::Int(0)) => err("division by zero"),
            (Value::Duration(a), Value::Int(b)) => Ok(Value::Duration(a / b)),
            _ => match (number(l), number(r)) {
                (Some(_), Some(0.0)) => err("division by zero"),
                (Some(a), Some(b)) => Ok(Value::Float(a / b)),
                _ => err(format!("cannot divide {} by {}", l.kind_name(), r.kind_name())),
            },
        },
        BinaryOp::Rem => match (l, r) {
            (Value::Int(a), Value::Int(b)) => int_op(op, *a, *b),
            _ => match (number(l), number(r)) {
                (Some(_), Some(0.0)) => err("division by zero"),
                (Some(a), Some(b)) => Ok(Value::Float(a % b)),
                _ => err(format!("cannot take {} modulo {}", l.kind_name(), r.kind_name())),
            },
        },
        BinaryOp::And => Ok(Value::Bool(truthy(l)? && truthy(r)?)),
        BinaryOp::Or => Ok(Value::Bool(truthy(l)? || truthy(r)?)),
        BinaryOp::Coalesce => Ok(if l.is_none() { r.clone() } else { l.clone() }),
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::Secret(s) => s.expose().to_string(),
        other => other.to_string(),
    }
}

/// A type conversion `ip(s)`, `string(x)`, `int(j)`, ...
pub fn convert(program: &Program, v: &Value, ty: &Type) -> Result<Value, RunError> {
    let target = match program.resolve_type(ty) {
        Type::Security { security } => Some(security.name()),
        Type::String => Some("string"),
        Type::Int => Some("int"),
        Type::Float => Some("float"),
        _ => None,
    };
    match target {
        Some(name) => crate::builtins::call_builtin(name, vec![v.clone()], 0)
            .map_err(|e| RunError::new(e.kind, e.message)),
        None => value::decode(&v.to_json(), ty, program).map_err(|errors| {
            let problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
            RunError::new("conversion", format!("cannot convert {v:?} to `{ty}`: {}", problems.join("; ")))
        }),
    }
}

fn builtin_call(builtin: Builtin, args: Vec<Value>) -> Result<Value, RunError> {
    crate::builtins::call_builtin(builtin.name(), args, 0)
        .map_err(|e| RunError::new(e.kind, format!("{}: {}", builtin.name(), e.message)))
}

// ---------------------------------------------------------------------------------------
// Static checks used for scheduling

/// How many statements from the start of `stmts` form a group of `let`s that may be
/// evaluated together: each a read-only expression that calls at least one action, none
/// reading a slot bound by an earlier one of the group. 0 or 1: no group.
fn independent_reads(program: &Program, stmts: &[Stmt]) -> usize {
    let mut bound: Vec<ir::Slot> = Vec::new();
    let mut n = 0;
    for stmt in stmts {
        let StmtKind::Let { slot, value, .. } = &stmt.kind else { break };
        let mut info = ExprInfo::default();
        if !read_only_expr(program, value, &mut info, 0) || info.calls == 0 {
            break;
        }
        if info.reads.iter().any(|s| bound.contains(s)) {
            break;
        }
        bound.push(*slot);
        bound.extend(info.writes.iter().copied());
        n += 1;
    }
    n
}

#[derive(Default)]
struct ExprInfo {
    reads: Vec<ir::Slot>,
    writes: Vec<ir::Slot>,
    calls: usize,
}

/// The slots a loop body reads, if its iterations are worth overlapping: the body only reads
/// (no effectful call, no case mutation, no run-ending or approval statement) and calls at
/// least one action. A body that calls none has nothing to wait for, so overlapping its
/// iterations would only copy a frame for each one; it runs in order, with the same results.
pub(super) fn overlappable_body(program: &Program, block: &Block) -> Option<Vec<ir::Slot>> {
    let mut info = ExprInfo::default();
    (read_only_stmts(program, &block.stmts, &mut info, 0) && info.calls > 0).then_some(info.reads)
}

fn read_only_stmts(program: &Program, stmts: &[Stmt], info: &mut ExprInfo, depth: usize) -> bool {
    stmts.iter().all(|s| match &s.kind {
        StmtKind::Let { slot, value, .. } => {
            info.writes.push(*slot);
            read_only_expr(program, value, info, depth + 1)
        }
        StmtKind::Expr { expr } => read_only_expr(program, expr, info, depth + 1),
        _ => false,
    })
}

fn read_only_expr(program: &Program, e: &Expr, info: &mut ExprInfo, depth: usize) -> bool {
    if depth > 64 {
        return false;
    }
    let d = depth + 1;
    match &e.kind {
        ExprKind::Int { .. }
        | ExprKind::Float { .. }
        | ExprKind::Bool { .. }
        | ExprKind::None
        | ExprKind::Str { .. }
        | ExprKind::Duration { .. }
        | ExprKind::Const { .. }
        | ExprKind::Variant { .. } => true,
        ExprKind::Local { slot, .. } => {
            info.reads.push(*slot);
            true
        }
        ExprKind::Interp { parts } => parts.iter().all(|p| match p {
            InterpPart::Lit { .. } => true,
            InterpPart::Expr { expr } => read_only_expr(program, expr, info, d),
        }),
        ExprKind::List { items } => items.iter().all(|i| read_only_expr(program, i, info, d)),
        ExprKind::Record { fields } => fields.iter().all(|f| read_only_expr(program, &f.value, info, d)),
        ExprKind::Field { target, .. } => read_only_expr(program, target, info, d),
        ExprKind::Index { target, index } => {
            read_only_expr(program, target, info, d) && read_only_expr(program, index, info, d)
        }
        ExprKind::Unary { operand, .. } => read_only_expr(program, operand, info, d),
        ExprKind::Binary { lhs, rhs, .. } => {
            read_only_expr(program, lhs, info, d) && read_only_expr(program, rhs, info, d)
        }
        ExprKind::Call(call) => {
            let callee_ok = match &call.callee {
                Callee::Action(site) => {
                    info.calls += 1;
                    site.effect == EffectKind::Read
                        && program.action(site.action).is_some_and(|(_, a)| a.effect.kind == EffectKind::Read)
                }
                Callee::Builtin { builtin } => !matches!(builtin, Builtin::Calls | Builtin::Load),
                Callee::Convert => true,
                Callee::Fn { .. } | Callee::Playbook { .. } => false,
            };
            callee_ok && call.args.iter().all(|a| read_only_expr(program, a, info, d))
        }
        ExprKind::If { cond, then, otherwise } => {
            read_only_expr(program, cond, info, d)
                && read_only_stmts(program, &then.stmts, info, d)
                && otherwise.as_ref().is_none_or(|b| read_only_stmts(program, &b.stmts, info, d))
        }
        ExprKind::Match { scrutinee, arms } => {
            read_only_expr(program, scrutinee, info, d)
                && arms.iter().all(|a| {
                    a.patterns.iter().all(|p| match p {
                        Pattern::Literal { value } => read_only_expr(program, value, info, d),
                        _ => true,
                    }) && read_only_stmts(program, &a.body.stmts, info, d)
                })
        }
        ExprKind::For(lp) => {
            info.writes.push(lp.var_slot);
            read_only_expr(program, &lp.iter, info, d)
                && lp.filter.as_ref().is_none_or(|f| read_only_expr(program, f, info, d))
                && lp.limit.as_ref().is_none_or(|f| read_only_expr(program, f, info, d))
                && lp.concurrency.as_ref().is_none_or(|f| read_only_expr(program, f, info, d))
                && read_only_stmts(program, &lp.body.stmts, info, d)
        }
        ExprKind::Block(b) => read_only_stmts(program, &b.stmts, info, d),
        ExprKind::Approve(_) | ExprKind::Try { .. } | ExprKind::ActionRef { .. } | ExprKind::Error => false,
    }
}

#[cfg(test)]
mod loop_ctx_tests {
    use super::loop_ctx;

    #[test]
    fn writes_the_index_as_format_does() {
        for (base, i) in [
            ("", 0),
            ("", 9),
            ("s1", 7),
            ("s1[2]", 10),
            ("", 99),
            ("", 100),
            ("f<s3>", 12_345),
            ("x", usize::MAX),
        ] {
            assert_eq!(loop_ctx(base, i), format!("{base}[{i}]"));
        }
    }
}
