//! The case a run produces: what the analyst (and `parry cases`) reads.

use crate::value::{Text, Value};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use std::sync::Arc;

/// How a run ended (the built-in `Disposition` enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// `resolve`: handled automatically.
    Resolved,
    /// `escalate`: an analyst must act.
    Escalated,
    /// Suspended at an `approve` that has no decision yet; `Engine::resume` continues it.
    AwaitingApproval,
    /// An error ended the run (`fail`, a failing action outside `try`, a refused gate, an
    /// unconfirmed effectful call found on replay, ...): see [`Case::error`].
    Failed,
    /// The body ended without `resolve` or `escalate`.
    Completed,
}

impl Disposition {
    /// The variant name as written in `.play` (`awaiting_approval`).
    pub fn name(self) -> &'static str {
        match self {
            Disposition::Resolved => "resolved",
            Disposition::Escalated => "escalated",
            Disposition::AwaitingApproval => "awaiting_approval",
            Disposition::Failed => "failed",
            Disposition::Completed => "completed",
        }
    }

    /// The ordinal in the built-in `Disposition` enum.
    pub fn ordinal(self) -> u32 {
        match self {
            Disposition::Resolved => 0,
            Disposition::Escalated => 1,
            Disposition::AwaitingApproval => 2,
            Disposition::Failed => 3,
            Disposition::Completed => 4,
        }
    }

    pub fn from_name(name: &str) -> Option<Disposition> {
        [
            Disposition::Resolved,
            Disposition::Escalated,
            Disposition::AwaitingApproval,
            Disposition::Failed,
            Disposition::Completed,
        ]
        .into_iter()
        .find(|d| d.name() == name)
    }

    /// Whether the run is over (everything but `awaiting_approval`).
    pub fn is_final(self) -> bool {
        self != Disposition::AwaitingApproval
    }
}

impl std::fmt::Display for Disposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What happened to one action call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionStatus {
    /// The call returned (now or in an earlier attempt of the run, replayed from the journal).
    Done,
    /// The call returned an error.
    Failed,
    /// Dry run: a `write`+ call that was not performed.
    Skipped,
    /// The journal holds the intent of this effectful call but no result: it may or may
    /// not have happened. It is never retried blindly; an analyst must check.
    Unconfirmed,
}

/// The connector, action and effect (`read`, `write`, `reversible`, `destructive`) a call is
/// journaled and recorded under. An engine makes one per action and effect of its program,
/// and every record of a call to it shares that one: copying names copies no text. It
/// serializes as the three fields `connector`, `action` and `effect`.
#[derive(Clone)]
pub struct CallNames(Arc<Names>);

#[derive(PartialEq, Eq, Serialize, Deserialize)]
struct Names {
    connector: Box<str>,
    action: Box<str>,
    effect: Box<str>,
}

impl CallNames {
    pub fn new(connector: &str, action: &str, effect: &str) -> CallNames {
        CallNames(Arc::new(Names {
            connector: connector.into(),
            action: action.into(),
            effect: effect.into(),
        }))
    }

    pub fn connector(&self) -> &str {
        &self.0.connector
    }

    pub fn action(&self) -> &str {
        &self.0.action
    }

    /// `read`, `write`, `reversible` or `destructive`.
    pub fn effect(&self) -> &str {
        &self.0.effect
    }
}

impl PartialEq for CallNames {
    fn eq(&self, other: &CallNames) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl Eq for CallNames {}

impl std::fmt::Debug for CallNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{} ({})", self.connector(), self.action(), self.effect())
    }
}

impl Serialize for CallNames {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for CallNames {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<CallNames, D::Error> {
        Names::deserialize(deserializer).map(|names| CallNames(Arc::new(names)))
    }
}

/// A call's id within its run: its call site's id, then the path of function-call sites
/// and loop indices that led to it (`c3`, `c3[2]`). Shares its text with the call's journal
/// key: copying one copies no text. It serializes as one string.
#[derive(Clone)]
pub struct CallId {
    site: Arc<str>,
    path: Arc<str>,
}

impl CallId {
    pub fn new(site: Arc<str>, path: Arc<str>) -> CallId {
        CallId { site, path }
    }

    /// The id as one string.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        if self.path.is_empty() {
            std::borrow::Cow::Borrowed(&self.site)
        } else {
            std::borrow::Cow::Owned(format!("{}{}", self.site, self.path))
        }
    }

    /// The two parts, written one after the other, make the id.
    pub(crate) fn parts(&self) -> [&str; 2] {
        [&self.site, &self.path]
    }
}

impl From<&str> for CallId {
    fn from(id: &str) -> CallId {
        CallId { site: Arc::from(id), path: Arc::from("") }
    }
}

impl PartialEq for CallId {
    /// Equal when their texts are, however each is split.
    fn eq(&self, other: &CallId) -> bool {
        self.site.len() + self.path.len() == other.site.len() + other.path.len()
            && self.site.bytes().chain(self.path.bytes()).eq(other.site.bytes().chain(other.path.bytes()))
    }
}

impl Eq for CallId {}

impl std::fmt::Display for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.site)?;
        f.write_str(&self.path)
    }
}

impl std::fmt::Debug for CallId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.text(), f)
    }
}

impl Serialize for CallId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text())
    }
}

impl<'de> Deserialize<'de> for CallId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<CallId, D::Error> {
        let id = std::borrow::Cow::<str>::deserialize(deserializer)?;
        Ok(CallId::from(&*id))
    }
}

/// A moment of a run, in milliseconds since the Unix epoch. It is shown, and serialized, in
/// RFC 3339 UTC as [`crate::value::format_time`] writes it (`2026-11-27T13:22:07.120Z`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(pub i64);

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        crate::value::with_time_text(self.0, |text| f.write_str(text))
    }
}

impl Serialize for Stamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        crate::value::with_time_text(self.0, |text| serializer.serialize_str(text))
    }
}

impl<'de> Deserialize<'de> for Stamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Stamp, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        crate::value::parse_time(&text).map(Stamp).map_err(serde::de::Error::custom)
    }
}

/// One action call of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRecord {
    /// The journal key: call-site id plus the function-call and loop-index path.
    pub call_id: CallId,
    /// `connector`, `action` and `effect` (`read`, `write`, `reversible`, `destructive`).
    #[serde(flatten)]
    pub names: CallNames,
    /// Arguments keyed by parameter name.
    pub arguments: RecordedJson,
    pub result: Option<RecordedJson>,
    pub error: Option<Box<str>>,
    pub status: ActionStatus,
    pub started_at: Stamp,
    pub finished_at: Option<Stamp>,
    pub duration_ms: Option<u64>,
    /// The approval that allowed this call, when it ran inside an approved `approve`
    /// (shared with the run's other calls under it).
    pub approval: Option<Arc<str>>,
    /// True when the result came from the journal rather than from a call in this attempt.
    #[serde(default)]
    pub replayed: bool,
}

/// A JSON value a case record keeps (an action's arguments or result, evidence, the alert).
/// It is held as its compact JSON text, shared with the journal (the text the engine writes
/// for it), or as the engine's value it is exactly the JSON of (shared with the run, and
/// with a journal kept in memory): either way a case kept in memory costs little more than
/// the run made anyway, and writing a case copies the text (or writes the value) rather than
/// going through `serde_json` values. It serializes as the JSON value it holds (not as a
/// string); [`RecordedJson::json`] reads it back. Two are equal when their texts are, which
/// for compact text is when their values are.
#[derive(Clone)]
pub struct RecordedJson(Recorded);

/// Lists and records are kept as values (sharing their `Arc`); anything else, which is
/// small, as text. The enum is then no larger than it must be for text.
#[derive(Clone)]
enum Recorded {
    /// Compact JSON text, as `serde_json` writes it.
    Text(Arc<str>),
    /// A list value, whose JSON ([`Value::to_json`]) this is.
    List(Arc<Vec<Value>>),
    /// A record value, whose JSON this is.
    Record(Arc<Vec<(Text, Value)>>),
    /// An action call's arguments: the record of their values under their parameters' names.
    Args(Arc<Args>),
}

/// An action call's arguments as the call made them: its values, in parameter order, and
/// the parameters' names, shared by every call of the action.
struct Args {
    names: Arc<[Text]>,
    values: Vec<Value>,
}

impl Recorded {
    /// The value held, if it is one.
    fn value(&self) -> Option<Value> {
        match self {
            Recorded::Text(_) => None,
            Recorded::List(items) => Some(Value::List(items.clone())),
            Recorded::Record(fields) => Some(Value::Record(fields.clone())),
            Recorded::Args(args) => Some(Value::Record(Arc::new(
                args.names.iter().cloned().zip(args.values.iter().cloned()).collect(),
            ))),
        }
    }
}

impl RecordedJson {
    /// `json`, written as compact text.
    pub fn of(json: &Json) -> RecordedJson {
        RecordedJson(Recorded::Text(crate::store::compact_text(json, &mut String::with_capacity(256))))
    }

    /// `value` as JSON (what [`Value::to_json`] gives). A list or a record is kept as the
    /// value, shared, and written as text only when the case is; anything else is written now.
    pub fn of_value(value: Value) -> RecordedJson {
        RecordedJson(match value {
            Value::List(items) => Recorded::List(items),
            Value::Record(fields) => Recorded::Record(fields),
            // What an action returning `unit` returns: one text for all.
            Value::Unit | Value::None => Recorded::Text(null_text()),
            other => Recorded::Text(crate::store::value_text(&other)),
        })
    }

    /// An action call's arguments, `values` in the order of the parameters `names`: the
    /// record of them, made only when it is read.
    pub(crate) fn of_args(names: Arc<[Text]>, values: Vec<Value>) -> RecordedJson {
        RecordedJson(Recorded::Args(Arc::new(Args { names, values })))
    }

    /// The argument values held by [`RecordedJson::of_args`], in parameter order.
    pub(crate) fn arg_values(&self) -> Option<&[Value]> {
        match &self.0 {
            Recorded::Args(args) => Some(&args.values),
            _ => None,
        }
    }

    /// Text already written by [`crate::store::compact_text`] (compact, as `serde_json`
    /// writes it), shared rather than copied.
    pub(crate) fn from_compact(text: Arc<str>) -> RecordedJson {
        RecordedJson(Recorded::Text(text))
    }

    /// The compact JSON text.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        if let Recorded::Text(text) = &self.0 {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out = String::new();
        if let Some(value) = self.0.value() {
            crate::store::json_text::write_value(&mut out, &value);
        }
        std::borrow::Cow::Owned(out)
    }

    /// Appends the compact JSON text to `out`.
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        match self.0.value() {
            Some(value) => crate::store::json_text::write_value(out, &value),
            None => out.extend_from_slice(self.text().as_bytes()),
        }
    }

    /// The JSON value, or why text held cannot be read (it is always JSON written by this
    /// crate, so that would be a bug).
    pub fn try_json(&self) -> serde_json::Result<Json> {
        match self.0.value() {
            Some(value) => Ok(value.to_json()),
            None => serde_json::from_str(&self.text()),
        }
    }

    /// The JSON value (see [`RecordedJson::try_json`]; `null` if it cannot be read).
    pub fn json(&self) -> Json {
        self.try_json().unwrap_or(Json::Null)
    }

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        matches!(&self.0, Recorded::Text(text) if &**text == "null")
    }
}

/// `null`, shared.
fn null_text() -> Arc<str> {
    static NULL: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from("null"));
    NULL.clone()
}

impl From<Json> for RecordedJson {
    fn from(json: Json) -> RecordedJson {
        RecordedJson::of(&json)
    }
}

impl PartialEq for RecordedJson {
    fn eq(&self, other: &RecordedJson) -> bool {
        self.text() == other.text()
    }
}

impl Eq for RecordedJson {}

impl PartialEq<Json> for RecordedJson {
    fn eq(&self, other: &Json) -> bool {
        self.json() == *other
    }
}

impl std::fmt::Debug for RecordedJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

impl std::fmt::Display for RecordedJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

impl Serialize for RecordedJson {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.try_json().map_err(serde::ser::Error::custom)?.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RecordedJson {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<RecordedJson, D::Error> {
        Json::deserialize(deserializer).map(|json| RecordedJson::of(&json))
    }
}

/// A decision on an approval request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    Pending,
    Granted,
    Denied,
    Expired,
}

impl ApprovalState {
    pub fn name(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Granted => "granted",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
        }
    }
}

/// One `approve` the run reached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// The approval's key: its `approve` id plus the function-call and loop-index path.
    pub id: String,
    pub prompt: String,
    /// `None`: any approver listed in `[approvers]`.
    pub group: Option<String>,
    pub requested_at: String,
    pub expires_at: String,
    pub state: ApprovalState,
    pub decided_by: Option<String>,
}

/// A labelled value attached with `evidence`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceItem {
    pub label: String,
    pub value: RecordedJson,
}

/// Everything a run produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Case {
    pub run_id: String,
    pub playbook: String,
    /// The alert as received.
    pub alert: RecordedJson,
    pub disposition: Disposition,
    /// The text of `resolve` / `escalate`.
    pub summary: Option<String>,
    pub notes: Vec<String>,
    pub evidence: Vec<EvidenceItem>,
    pub recommendation: Option<String>,
    pub actions: Vec<ActionRecord>,
    pub approvals: Vec<ApprovalRecord>,
    /// Why the run failed (disposition `failed`).
    pub error: Option<String>,
    /// Dry run: reads were performed, `write`+ calls only recorded (status `skipped`).
    #[serde(default)]
    pub dry_run: bool,
}

impl Case {
    pub fn new(run_id: &str, playbook: &str, alert: &Json) -> Case {
        Case {
            run_id: run_id.to_string(),
            playbook: playbook.to_string(),
            alert: RecordedJson::of(alert),
            disposition: Disposition::Completed,
            summary: None,
            notes: Vec::new(),
            evidence: Vec::new(),
            recommendation: None,
            actions: Vec::new(),
            approvals: Vec::new(),
            error: None,
            dry_run: false,
        }
    }

    /// The evidence as one JSON object, label -> value (a later label replaces an earlier one).
    pub fn evidence_json(&self) -> Json {
        let mut map = serde_json::Map::new();
        for item in &self.evidence {
            map.insert(item.label.clone(), item.value.json());
        }
        Json::Object(map)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_call_id_is_one_string_however_it_is_split() {
        let split = CallId::new(Arc::from("c3"), Arc::from("<c1>[2]"));
        let whole = CallId::from("c3<c1>[2]");
        assert_eq!(split, whole);
        assert_eq!(split.to_string(), "c3<c1>[2]");
        assert_eq!(split.text(), "c3<c1>[2]");
        assert_ne!(split, CallId::from("c3<c1>[3]"));
        assert_ne!(CallId::new(Arc::from("c3"), Arc::from("")), whole);
        let json = serde_json::to_string(&split).unwrap();
        assert_eq!(json, r#""c3<c1>[2]""#);
        assert_eq!(serde_json::from_str::<CallId>(&json).unwrap(), split);
        let mut text = Vec::new();
        let escaped = CallId::new(Arc::from(r"c\"), Arc::from(r#"""#));
        crate::store::json_text::write_str_parts(&mut text, escaped.parts());
        assert_eq!(String::from_utf8(text).unwrap(), serde_json::to_string(r#"c\""#).unwrap());
    }

    #[test]
    fn a_stamp_is_written_in_rfc_3339_and_read_back() {
        for (ms, text) in [
            (1_795_785_727_123, "2026-11-27T13:22:07.123Z"),
            (1_795_785_727_000, "2026-11-27T13:22:07Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
        ] {
            let stamp = Stamp(ms);
            assert_eq!(stamp.to_string(), text);
            assert_eq!(stamp.to_string(), crate::value::format_time(ms));
            let json = serde_json::to_string(&stamp).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Stamp>(&json).unwrap(), stamp);
        }
        assert!(serde_json::from_str::<Stamp>(r#""yesterday""#).is_err());
    }

    #[test]
    fn arguments_read_as_the_record_of_their_values() {
        let names: Arc<[Text]> = [Text::from("message"), Text::from("why")].into_iter().collect();
        let values = vec![Value::Str(Text::from("m\"1")), Value::Int(3)];
        let args = RecordedJson::of_args(names.clone(), values.clone());
        let record =
            RecordedJson::of_value(Value::Record(Arc::new(names.iter().cloned().zip(values).collect())));
        assert_eq!(args.text(), record.text());
        assert_eq!(args.text(), r#"{"message":"m\"1","why":3}"#);
        assert_eq!(args.json(), serde_json::json!({"message": "m\"1", "why": 3}));
        assert_eq!(args.arg_values().map(<[Value]>::len), Some(2));
        assert!(record.arg_values().is_none());
        let mut out = Vec::new();
        args.write_to(&mut out);
        assert_eq!(out, record.text().as_bytes());
    }

    #[test]
    fn call_names_are_three_fields_of_the_action_record() {
        let record = ActionRecord {
            call_id: CallId::from("c1"),
            names: CallNames::new("mail", "quarantine", "reversible"),
            arguments: RecordedJson::of(&serde_json::json!({"id": "m1"})),
            result: None,
            error: None,
            status: ActionStatus::Done,
            started_at: Stamp(1_767_225_600_120),
            finished_at: None,
            duration_ms: None,
            approval: None,
            replayed: false,
        };
        let text = serde_json::to_string(&record).unwrap();
        assert!(
            text.starts_with(
                r#"{"call_id":"c1","connector":"mail","action":"quarantine","effect":"reversible","arguments":"#
            ),
            "{text}"
        );
        let json: Json = serde_json::from_str(&text).unwrap();
        let back: ActionRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, record);
        assert_eq!(back.names.connector(), "mail");
        assert_eq!(format!("{:?}", back.names), "mail.quarantine (reversible)");
    }
}
