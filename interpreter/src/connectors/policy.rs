//! The call policy a `[connectors.NAME]` table sets around every call of that connector,
//! whatever its implementation:
//!
//! - `timeout = "10s"`: a call that takes longer fails with kind `timeout`;
//! - `retries = 3`: a `read` call that fails with a retryable error (or times out) is tried
//!   again, up to 3 more times, with exponential backoff (250 ms, 500 ms, 1 s, ... capped at
//!   10 s). Calls with an effect (`write` and up) are never retried here: repeating them is
//!   the journal's business, which never repeats one;
//! - `rate = "4/min"`: at most 4 calls start in any sliding minute; further calls wait.
//!   Units: `s`, `min`, `h`, `d`, or a duration (`"10/30s"`).

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{Args, Connector, ConnectorError, parse_duration};

/// What a `[connectors.NAME]` table asks for. All parts are optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallPolicy {
    pub timeout: Option<Duration>,
    pub retries: u32,
    /// At most `calls` calls per `per`.
    pub rate: Option<(u32, Duration)>,
}

impl CallPolicy {
    /// Reads `timeout`, `retries` and `rate` from a connector table (`Null` when absent).
    /// Errors name the key and say what is expected.
    pub fn from_table(name: &str, table: &Value) -> Result<CallPolicy, String> {
        let mut policy = CallPolicy::default();
        let Value::Object(map) = table else { return Ok(policy) };
        if let Some(v) = map.get("timeout").filter(|v| !v.is_null()) {
            let ms = v.as_str().and_then(parse_duration).filter(|ms| *ms > 0).ok_or_else(|| {
                format!("connectors.{name}.timeout must be a duration such as \"10s\", got {v}")
            })?;
            policy.timeout = Some(Duration::from_millis(ms.unsigned_abs()));
        }
        if let Some(v) = map.get("retries").filter(|v| !v.is_null()) {
            policy.retries =
                v.as_u64().filter(|n| *n <= 10).and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                    format!("connectors.{name}.retries must be a whole number from 0 to 10, got {v}")
                })?;
        }
        if let Some(v) = map.get("rate").filter(|v| !v.is_null()) {
            policy.rate = Some(v.as_str().and_then(parse_rate).ok_or_else(|| {
                format!("connectors.{name}.rate must look like \"4/min\", \"10/s\" or \"100/h\", got {v}")
            })?);
        }
        Ok(policy)
    }

    pub fn is_default(&self) -> bool {
        *self == CallPolicy::default()
    }
}

/// `"4/min"` → (4, 60 s). The count must be positive.
fn parse_rate(text: &str) -> Option<(u32, Duration)> {
    let (count, unit) = text.split_once('/')?;
    let count: u32 = count.trim().parse().ok().filter(|n| *n > 0)?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => Duration::from_secs(1),
        "m" | "min" | "minute" => Duration::from_secs(60),
        "h" | "hour" => Duration::from_secs(3600),
        "d" | "day" => Duration::from_secs(86_400),
        other => Duration::from_millis(parse_duration(other).filter(|ms| *ms > 0)?.unsigned_abs()),
    };
    Some((count, per))
}

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A connector with its call policy applied.
pub struct Policed {
    inner: Box<dyn Connector>,
    name: String,
    policy: CallPolicy,
    /// Actions declared `effect read`: the only ones retried.
    reads: HashSet<String>,
    /// Start times of the calls in the current rate window.
    window: Mutex<VecDeque<Instant>>,
}

impl Policed {
    pub fn new(name: &str, inner: Box<dyn Connector>, policy: CallPolicy, reads: HashSet<String>) -> Policed {
        Policed { inner, name: name.to_string(), policy, reads, window: Mutex::new(VecDeque::new()) }
    }

    /// Waits until one more call fits in the rate window, then records it.
    async fn admit(&self) {
        let Some((calls, per)) = self.policy.rate else { return };
        let mut window = self.window.lock().await;
        loop {
            let now = Instant::now();
            while window.front().is_some_and(|t| now.duration_since(*t) >= per) {
                window.pop_front();
            }
            if window.len() < calls as usize {
                window.push_back(now);
                return;
            }
            if let Some(oldest) = window.front().copied() {
                tokio::time::sleep_until(oldest + per).await;
            }
        }
    }

    async fn attempt(&self, action: &str, args: &Args) -> Result<Value, ConnectorError> {
        self.admit().await;
        match self.policy.timeout {
            None => self.inner.call(action, args).await,
            Some(limit) => match tokio::time::timeout(limit, self.inner.call(action, args)).await {
                Ok(result) => result,
                Err(_) => Err(ConnectorError {
                    kind: "timeout".into(),
                    message: format!(
                        "{}.{action} did not answer within {} ms (connectors.{}.timeout)",
                        self.name,
                        limit.as_millis(),
                        self.name
                    ),
                    retryable: true,
                }),
            },
        }
    }
}

#[async_trait::async_trait]
impl Connector for Policed {
    async fn call(&self, action: &str, args: &Args) -> Result<Value, ConnectorError> {
        let retries = if self.reads.contains(action) { self.policy.retries } else { 0 };
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            match self.attempt(action, args).await {
                Err(e) if e.retryable && attempt < retries => {
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Err(mut e) if attempt > 0 => {
                    e.message = format!("{} (after {} attempts)", e.message, attempt + 1);
                    return Err(e);
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Fails with a retryable error `failures` times, then answers; optionally slow.
    struct Flaky {
        failures: u32,
        calls: AtomicU32,
        delay: Duration,
    }

    #[async_trait::async_trait]
    impl Connector for Flaky {
        async fn call(&self, _action: &str, _args: &Args) -> Result<Value, ConnectorError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            if n < self.failures {
                Err(ConnectorError {
                    kind: "unavailable".into(),
                    message: "try later".into(),
                    retryable: true,
                })
            } else {
                Ok(Value::from(n))
            }
        }
    }

    fn policed(failures: u32, delay: Duration, policy: CallPolicy) -> Policed {
        let reads = HashSet::from(["lookup".to_string()]);
        Policed::new("ti", Box::new(Flaky { failures, calls: AtomicU32::new(0), delay }), policy, reads)
    }

    #[test]
    fn reads_the_table_and_names_bad_keys() {
        let t = serde_json::json!({ "timeout": "10s", "retries": 3, "rate": "4/min" });
        let p = CallPolicy::from_table("vt", &t).unwrap();
        assert_eq!(p.timeout, Some(Duration::from_secs(10)));
        assert_eq!(p.retries, 3);
        assert_eq!(p.rate, Some((4, Duration::from_secs(60))));
        assert_eq!(parse_rate("10/30s"), Some((10, Duration::from_secs(30))));
        let err = CallPolicy::from_table("vt", &serde_json::json!({ "rate": "lots" })).unwrap_err();
        assert!(err.contains("connectors.vt.rate"), "{err}");
        let err = CallPolicy::from_table("vt", &serde_json::json!({ "retries": -1 })).unwrap_err();
        assert!(err.contains("connectors.vt.retries"), "{err}");
        assert!(CallPolicy::from_table("vt", &Value::Null).unwrap().is_default());
    }

    #[tokio::test(start_paused = true)]
    async fn retries_reads_with_backoff_but_never_effects() {
        let policy = CallPolicy { retries: 2, ..CallPolicy::default() };
        let c = policed(2, Duration::ZERO, policy.clone());
        let start = Instant::now();
        assert_eq!(c.call("lookup", &Args::new()).await.unwrap(), Value::from(2));
        // Two backoffs: 250 ms + 500 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(750));

        let c = policed(1, Duration::ZERO, policy);
        let err = c.call("block", &Args::new()).await.unwrap_err();
        assert_eq!(err.kind, "unavailable");
        assert_eq!(c.call("block", &Args::new()).await.unwrap(), Value::from(1));
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_slow_calls() {
        let policy = CallPolicy { timeout: Some(Duration::from_millis(100)), ..CallPolicy::default() };
        let c = policed(0, Duration::from_secs(5), policy);
        let err = c.call("lookup", &Args::new()).await.unwrap_err();
        assert_eq!(err.kind, "timeout");
        assert!(err.message.contains("connectors.ti.timeout"), "{}", err.message);
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limits_calls_in_a_sliding_window() {
        let policy = CallPolicy { rate: Some((2, Duration::from_secs(60))), ..CallPolicy::default() };
        let c = policed(0, Duration::ZERO, policy);
        let start = Instant::now();
        for _ in 0..5 {
            c.call("lookup", &Args::new()).await.unwrap();
        }
        // Calls 1-2 at 0 s, 3-4 at 60 s, 5 at 120 s.
        assert_eq!(start.elapsed(), Duration::from_secs(120));
    }
}
