//! The tenant's key-value store: durable, shared by every node, and private to the tenant —
//! another tenant's function using the same key name sees its own value.
//!
//! Keys are 1–256 bytes, values at most 1 MiB. [`increment`] and [`compare_and_swap`] are
//! atomic across concurrent invocations and nodes.

use crate::bindings::geyser::function::kv as host;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;

/// Why a kv call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    InvalidKey(String),
    ValueTooLarge(String),
    NotANumber(String),
    Unavailable(String),
    /// The write would create a key beyond the tenant's key quota.
    QuotaExceeded(String),
    /// A stored value was not the JSON the caller expected.
    Json(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidKey(m)
            | Error::ValueTooLarge(m)
            | Error::NotANumber(m)
            | Error::Unavailable(m)
            | Error::QuotaExceeded(m)
            | Error::Json(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}

impl From<host::KvError> for Error {
    fn from(err: host::KvError) -> Self {
        match err {
            host::KvError::InvalidKey(m) => Error::InvalidKey(m),
            host::KvError::ValueTooLarge(m) => Error::ValueTooLarge(m),
            host::KvError::NotANumber(m) => Error::NotANumber(m),
            host::KvError::Unavailable(m) => Error::Unavailable(m),
            host::KvError::QuotaExceeded(m) => Error::QuotaExceeded(m),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub fn get(key: &str) -> Result<Option<Vec<u8>>> {
    Ok(host::get(key)?)
}

pub fn set(key: &str, value: &[u8]) -> Result<()> {
    Ok(host::set(key, value)?)
}

/// Returns whether the key existed.
pub fn delete(key: &str) -> Result<bool> {
    Ok(host::delete(key)?)
}

/// Atomically adds `delta` to the integer at `key` (absent counts as 0); returns the new value.
pub fn increment(key: &str, delta: i64) -> Result<i64> {
    Ok(host::increment(key, delta)?)
}

/// Atomically sets `key` to `new` if it holds `expected` (`None`: if absent). Returns whether
/// it did.
pub fn compare_and_swap(key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool> {
    Ok(host::compare_and_swap(key, expected, new)?)
}

/// Keys that start with `prefix`, in order, at most `limit`.
pub fn list_keys(prefix: &str, limit: u32) -> Result<Vec<String>> {
    Ok(host::list_keys(prefix, limit)?)
}

/// The JSON value at `key`, if any.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    match get(key)? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Json(format!("value at {key:?} is not the expected JSON: {e}"))),
        None => Ok(None),
    }
}

/// Stores `value` as JSON.
pub fn set_json<T: Serialize>(key: &str, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::Json(e.to_string()))?;
    set(key, &bytes)
}
