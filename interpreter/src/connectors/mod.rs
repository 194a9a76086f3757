//! The connector boundary and the embedded ("native") connector implementations.
//!
//! A connector's interface is declared in `.play` (see `stdlib/`); its implementation is
//! chosen per project in `parry.toml` (`[connectors.NAME] impl = "..."`). Every
//! implementation — embedded or HTTP — is reached through [`Connector::call`], whose
//! arguments and result are JSON, so the engine treats them all alike. (A connector written
//! in Rust against the engine's values may also offer a [`ValueConnector`], which the
//! engine then calls instead, with no JSON in between.) The JSON forms:
//!
//! - arguments are keyed by the action's parameter names; an optional argument that is
//!   `none` may be absent or `null`;
//! - records are JSON objects, lists are arrays, enums (`Verdict`, `Severity`) are their
//!   variant names as strings, security types (`ip`, `url`, ...) are strings;
//! - a `duration` is a string such as `"7d"`, `"90m"` or `"1h30m"`, or a number of
//!   milliseconds; a `time` is an RFC 3339 string (`"2026-11-27T13:05:00Z"`);
//! - an action returning `unit` returns `null`.
//!
//! The embedded implementations need no service; they work on files below the project
//! root: `maildir` (mail), `feeds` (intel, sandbox), `blocklist` (proxy, firewall),
//! `state` (edr, identity) and `log` (notify, ticket).

mod args;
mod blocklist;
mod config;
#[cfg(test)]
mod examples_tests;
mod feeds;
mod fsutil;
mod indicator;
mod log;
mod maildir;
mod policy;
mod state;
#[cfg(test)]
mod stdlib_tests;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use args::{format_time, parse_duration, parse_time};
pub use indicator::refang;
pub use policy::{CallPolicy, Policed};

/// The arguments of one action call, keyed by parameter name.
pub type Args = Map<String, Value>;

/// One connector instance: a named set of actions.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    /// Run `action` with `args`; the result is the action's return value as JSON
    /// (`null` for `unit`).
    async fn call(&self, action: &str, args: &Args) -> Result<Value, ConnectorError>;

    /// The same connector reached with the engine's own values, when it is written against
    /// them (see [`ValueConnector`]). The engine then makes its calls through that, and
    /// [`Connector::call`] only where it has JSON in hand (`parry undo`, notifications).
    fn values(&self) -> Option<&dyn ValueConnector> {
        None
    }
}

/// A connector written in Rust against the engine's values, in the same process: it is
/// called with the arguments as values, in parameter order, and returns its result as a
/// value of the action's declared type, so no JSON is built for the call or parsed from its
/// answer. A typed connector still implements [`Connector::call`], with the same effects.
///
/// The engine checks every result against the declared type as strictly as it decodes JSON
/// ([`crate::value::check`]): a record has exactly its declared fields in order (`none` for
/// an absent optional one), an enum value is a variant of its enum at its place, and a
/// security string is valid for its kind. A result that fails is the call's `bad_result`
/// error, as for JSON.
#[async_trait::async_trait]
pub trait ValueConnector: Send + Sync {
    async fn call_values(
        &self,
        action: &str,
        args: &[crate::value::Value],
    ) -> Result<crate::value::Value, ConnectorError>;
}

/// Why an action call failed. `kind` is a short machine-readable word: `not_found`,
/// `invalid_argument`, `unavailable`, `timeout`, `unknown_action`, `io` (a file could not
/// be read or written), `invalid_state` (a state or report file is malformed) or
/// `internal`; `retryable` says whether the same call may succeed later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorError {
    pub kind: String,
    pub message: String,
    pub retryable: bool,
}

impl ConnectorError {
    pub fn new(kind: &str, message: impl Into<String>, retryable: bool) -> Self {
        ConnectorError { kind: kind.to_owned(), message: message.into(), retryable }
    }

    /// The thing asked for does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new("not_found", message, false)
    }

    /// An argument is missing or malformed.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new("invalid_argument", message, false)
    }

    /// The backing service or file cannot be reached right now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new("unavailable", message, true)
    }

    /// The connector has no such action.
    pub fn unknown_action(connector: &str, action: &str, known: &[&str]) -> Self {
        Self::new(
            "unknown_action",
            format!("connector `{connector}` has no action `{action}`; it implements: {}", known.join(", ")),
            false,
        )
    }

    /// A file could not be read or written.
    pub fn io(what: &str, path: &Path, err: &std::io::Error) -> Self {
        let retryable = matches!(
            err.kind(),
            std::io::ErrorKind::Interrupted
                | std::io::ErrorKind::WouldBlock
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::ResourceBusy
        );
        Self::new("io", format!("cannot {what} {}: {err}", path.display()), retryable)
    }
}

impl fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for ConnectorError {}

/// The embedded implementations and the connector interfaces each one implements.
pub const NATIVE_IMPLS: &[(&str, &[&str])] = &[
    ("maildir", &["mail"]),
    ("feeds", &["intel", "sandbox"]),
    ("blocklist", &["proxy", "firewall"]),
    ("state", &["edr", "identity"]),
    ("log", &["notify", "ticket"]),
];

/// The embedded implementation used for a standard connector when `parry.toml` names none.
pub fn default_impl(interface: &str) -> Option<&'static str> {
    NATIVE_IMPLS.iter().find(|(_, interfaces)| interfaces.contains(&interface)).map(|(name, _)| *name)
}

/// Whether `impl_name` is an embedded implementation (as opposed to `http`).
pub fn is_native_impl(impl_name: &str) -> bool {
    NATIVE_IMPLS.iter().any(|(name, _)| *name == impl_name)
}

/// Build the embedded implementation `impl_name` for connector `name`.
///
/// `config` is the `[connectors.NAME]` table of `parry.toml` as JSON (or `null` when the
/// project has none); relative paths in it are relative to `project_root`. The interface
/// implemented is the connector's name, or the table's `interface` key for a connector
/// declared under another name (e.g. `[connectors.web_proxy] impl = "blocklist"
/// interface = "proxy"`). The error is a sentence for the user, naming the offending key.
pub fn build_native(
    name: &str,
    impl_name: &str,
    config: &Value,
    project_root: &Path,
) -> Result<Box<dyn Connector>, String> {
    let cfg = config::Config::new(name, config, project_root)?;
    let interface = cfg.str("interface")?.unwrap_or(name).to_owned();
    let Some((_, interfaces)) = NATIVE_IMPLS.iter().find(|(n, _)| *n == impl_name) else {
        let known: Vec<&str> = NATIVE_IMPLS.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "connectors.{name}: unknown implementation `{impl_name}`; the embedded ones are {} \
             (HTTP bindings are not available in this release)",
            known.join(", ")
        ));
    };
    if !interfaces.contains(&interface.as_str()) {
        return Err(format!(
            "connectors.{name}: implementation `{impl_name}` implements {}, not `{interface}`; \
             set `interface = \"...\"` to one of those, or choose another `impl`",
            interfaces.join(" and ")
        ));
    }
    let native: Box<dyn Connector> = match (impl_name, interface.as_str()) {
        ("maildir", _) => blocking(maildir::Maildir::from_config(&cfg)?),
        ("feeds", "intel") => blocking(feeds::Intel::from_config(&cfg)?),
        ("feeds", _) => blocking(feeds::Sandbox::from_config(&cfg)?),
        ("blocklist", "proxy") => blocking(blocklist::Proxy::from_config(&cfg)?),
        ("blocklist", _) => blocking(blocklist::Firewall::from_config(&cfg)?),
        ("state", "edr") => blocking(state::Edr::from_config(&cfg)?),
        ("state", _) => blocking(state::Identity::from_config(&cfg)?),
        ("log", "notify") => blocking(log::Notify::from_config(&cfg)?),
        (_, _) => blocking(log::Tickets::from_config(&cfg)?),
    };
    Ok(native)
}

/// An embedded implementation: synchronous work on local files.
trait Native: Send + Sync + 'static {
    fn call_blocking(&self, action: &str, args: &Args) -> Result<Value, ConnectorError>;
}

/// Runs a [`Native`] off the async worker threads, so file I/O never stalls the engine.
struct Blocking<T>(Arc<T>);

fn blocking<T: Native>(native: T) -> Box<dyn Connector> {
    Box::new(Blocking(Arc::new(native)))
}

#[async_trait::async_trait]
impl<T: Native> Connector for Blocking<T> {
    async fn call(&self, action: &str, args: &Args) -> Result<Value, ConnectorError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.0.call_blocking(action, args);
        }
        let native = Arc::clone(&self.0);
        let action_owned = action.to_owned();
        let args_owned = args.clone();
        match tokio::task::spawn_blocking(move || native.call_blocking(&action_owned, &args_owned)).await {
            Ok(result) => result,
            // Only a cancelled runtime or a panic inside the implementation lands here.
            Err(err) => Err(ConnectorError::new(
                "internal",
                format!("action `{action}` did not complete: {err}"),
                true,
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_standard_connector_has_a_default() {
        for name in ["mail", "intel", "sandbox", "proxy", "firewall", "edr", "identity", "notify", "ticket"] {
            assert!(default_impl(name).is_some(), "{name}");
        }
        assert_eq!(default_impl("virustotal"), None);
    }

    #[test]
    fn unknown_impl_and_interface_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let err = build_native("mail", "imap", &json!({}), dir.path()).err().unwrap();
        assert!(err.contains("unknown implementation `imap`"), "{err}");
        let err = build_native("mail", "blocklist", &json!({}), dir.path()).err().unwrap();
        assert!(err.contains("implements proxy and firewall, not `mail`"), "{err}");
        let ok = build_native("web_proxy", "blocklist", &json!({"interface": "proxy"}), dir.path());
        assert!(ok.is_ok());
    }

    #[tokio::test]
    async fn calls_cross_the_async_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let fw = build_native("firewall", "blocklist", &json!({}), dir.path()).unwrap();
        let mut args = Args::new();
        args.insert("addr".into(), json!("192.0.2.7"));
        assert_eq!(fw.call("block_ip", &args).await.unwrap(), Value::Null);
        assert_eq!(fw.call("is_blocked", &args).await.unwrap(), json!(true));
        let err = fw.call("explode", &args).await.unwrap_err();
        assert_eq!(err.kind, "unknown_action");
    }
}
