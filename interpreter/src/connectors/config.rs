//! Reading a `[connectors.NAME]` table: typed keys, paths relative to the project root,
//! and errors that name the key.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

/// Keys any connector table may hold: the implementation choice and the settings the
/// engine applies around every call.
const COMMON_KEYS: &[&str] = &["impl", "interface", "timeout", "retries", "rate"];

pub(crate) struct Config<'a> {
    pub name: &'a str,
    table: Map<String, Value>,
    pub root: &'a Path,
}

impl<'a> Config<'a> {
    pub fn new(name: &'a str, value: &Value, root: &'a Path) -> Result<Self, String> {
        let table = match value {
            Value::Null => Map::new(),
            Value::Object(map) => map.clone(),
            other => {
                return Err(format!("connectors.{name} must be a table, found {}", json_kind(other)));
            }
        };
        Ok(Config { name, table, root })
    }

    /// Reject keys the implementation does not know, so a typo does not go unnoticed.
    pub fn expect_keys(&self, impl_name: &str, known: &[&str]) -> Result<(), String> {
        for key in self.table.keys() {
            if !known.contains(&key.as_str()) && !COMMON_KEYS.contains(&key.as_str()) {
                return Err(format!(
                    "connectors.{}: unknown key `{key}` for impl \"{impl_name}\"; known keys: {}",
                    self.name,
                    known.join(", ")
                ));
            }
        }
        Ok(())
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.table.get(key).filter(|v| !v.is_null())
    }

    pub fn str(&self, key: &str) -> Result<Option<&str>, String> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.wrong_type(key, "a string", other)),
        }
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.wrong_type(key, "true or false", other)),
        }
    }

    /// A path key, resolved against the project root; `default` is used when absent.
    pub fn path(&self, key: &str, default: &str) -> Result<PathBuf, String> {
        let raw = self.str(key)?.unwrap_or(default);
        if raw.trim().is_empty() {
            return Err(format!("connectors.{}.{key} is empty; give a path", self.name));
        }
        Ok(self.resolve(raw))
    }

    pub fn resolve(&self, raw: &str) -> PathBuf {
        let p = Path::new(raw);
        if p.is_absolute() { p.to_path_buf() } else { self.root.join(p) }
    }

    pub fn array(&self, key: &str) -> Result<&[Value], String> {
        match self.get(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(other) => Err(self.wrong_type(key, "an array", other)),
        }
    }

    pub fn wrong_type(&self, key: &str, expected: &str, found: &Value) -> String {
        format!("connectors.{}.{key} must be {expected}, found {}", self.name, json_kind(found))
    }
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}
