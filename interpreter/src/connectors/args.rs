//! Reading action arguments, and the duration and time formats of the JSON boundary.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

use super::config::json_kind;
use super::{Args, ConnectorError};

/// Typed access to one call's arguments; errors name the connector, action and parameter.
pub(crate) struct ArgReader<'a> {
    connector: &'a str,
    action: &'a str,
    args: &'a Args,
}

impl<'a> ArgReader<'a> {
    pub fn new(connector: &'a str, action: &'a str, args: &'a Args) -> Self {
        ArgReader { connector, action, args }
    }

    /// `connector.action`, for messages.
    pub fn context(&self) -> String {
        format!("{}.{}", self.connector, self.action)
    }

    fn present(&self, name: &str) -> Option<&'a Value> {
        self.args.get(name).filter(|v| !v.is_null())
    }

    fn missing(&self, name: &str) -> ConnectorError {
        ConnectorError::invalid_argument(format!(
            "{}.{}: argument `{name}` is missing",
            self.connector, self.action
        ))
    }

    pub fn wrong(&self, name: &str, expected: &str, found: &Value) -> ConnectorError {
        ConnectorError::invalid_argument(format!(
            "{}.{}: argument `{name}` must be {expected}, found {}",
            self.connector,
            self.action,
            json_kind(found)
        ))
    }

    pub fn invalid(&self, name: &str, why: impl std::fmt::Display) -> ConnectorError {
        ConnectorError::invalid_argument(format!(
            "{}.{}: argument `{name}` {why}",
            self.connector, self.action
        ))
    }

    pub fn str(&self, name: &str) -> Result<&'a str, ConnectorError> {
        self.opt_str(name)?.ok_or_else(|| self.missing(name))
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, ConnectorError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong(name, "a string", other)),
        }
    }

    pub fn int(&self, name: &str) -> Result<i64, ConnectorError> {
        match self.present(name) {
            None => Err(self.missing(name)),
            Some(v) => v.as_i64().ok_or_else(|| self.wrong(name, "an integer", v)),
        }
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, ConnectorError> {
        match self.present(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.wrong(name, "true or false", other)),
        }
    }

    pub fn record(&self, name: &str) -> Result<&'a Map<String, Value>, ConnectorError> {
        match self.present(name) {
            None => Err(self.missing(name)),
            Some(Value::Object(map)) => Ok(map),
            Some(other) => Err(self.wrong(name, "a record", other)),
        }
    }

    /// A string field of a record argument, e.g. `message.id`.
    pub fn field(&self, name: &str, field: &str) -> Result<&'a str, ConnectorError> {
        match self.record(name)?.get(field) {
            Some(Value::String(s)) => Ok(s),
            Some(other) if !other.is_null() => Err(self.wrong(&format!("{name}.{field}"), "a string", other)),
            _ => Err(self.invalid(name, format_args!("has no `{field}` field"))),
        }
    }

    /// A `duration` argument in seconds; `default_secs` when absent.
    pub fn duration_secs(&self, name: &str, default_secs: i64) -> Result<i64, ConnectorError> {
        match self.present(name) {
            None => Ok(default_secs),
            Some(Value::Number(n)) => n
                .as_i64()
                .filter(|ms| *ms >= 0)
                .map(|ms| ms / 1000)
                .ok_or_else(|| self.invalid(name, "must be a non-negative number of milliseconds")),
            Some(Value::String(s)) => parse_duration(s).map(|ms| ms / 1000).ok_or_else(|| {
                self.invalid(name, format_args!("is not a duration: `{s}` (write e.g. `7d`, `90m`, `1h30m`)"))
            }),
            Some(other) => Err(self.wrong(name, "a duration", other)),
        }
    }
}

/// Parse `500ms`, `15s`, `30m`, `2h`, `7d`, or a sequence such as `1h30m`, into
/// milliseconds (the language's duration syntax). `None` on anything else, on a negative
/// duration, and on overflow.
pub fn parse_duration(text: &str) -> Option<i64> {
    crate::value::parse_duration(text).ok().filter(|ms| *ms >= 0 && !text.trim_start().starts_with('-'))
}

/// Parse an RFC 3339 time into seconds since the Unix epoch.
pub fn parse_time(text: &str) -> Option<i64> {
    let dt = mail_parser::DateTime::parse_rfc3339(text.trim())?;
    dt.is_valid().then(|| dt.to_timestamp())
}

/// Format seconds since the Unix epoch as RFC 3339 in UTC.
pub fn format_time(secs: i64) -> String {
    mail_parser::DateTime::from_timestamp(secs).to_rfc3339()
}

pub(crate) fn now_secs() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

pub(crate) fn now_rfc3339() -> String {
    format_time(now_secs())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("7d"), Some(7 * 86_400_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("15"), None);
        assert_eq!(parse_duration("m5"), None);
        assert_eq!(parse_duration("3w"), None);
        assert_eq!(parse_duration("99999999999999999d"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn times_round_trip() {
        let t = parse_time("2026-11-27T13:05:00Z").unwrap();
        assert_eq!(format_time(t), "2026-11-27T13:05:00Z");
        assert_eq!(parse_time("2026-11-27T14:05:00+01:00"), Some(t));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn reader_errors_name_the_parameter() {
        let args: Args = json!({"since": "soon", "n": "x"}).as_object().unwrap().clone();
        let r = ArgReader::new("mail", "search", &args);
        let err = r.str("sender").unwrap_err();
        assert_eq!(err.message, "mail.search: argument `sender` is missing");
        let err = r.duration_secs("since", 0).unwrap_err();
        assert!(err.message.contains("`since` is not a duration: `soon`"), "{}", err.message);
        assert_eq!(r.duration_secs("absent", 42).unwrap(), 42);
        assert!(r.int("n").is_err());
    }
}
