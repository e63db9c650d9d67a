//! `geyser:function/logging` plus the capture of stdout/stderr: every line an invocation
//! produces, bounded per invocation, to be stored for its tenant.

use super::Capabilities;
use super::wit::logging::{Host, Level};
use std::sync::{Arc, Mutex};

/// Bytes of log text kept per invocation and per stream; the rest is dropped with a marker.
pub const LOG_CAPTURE_BYTES: usize = 64 << 10;

/// Lines logged through the logging interface, in order, bounded in total size.
#[derive(Clone, Default)]
pub struct LogBuffer {
    inner: Arc<Mutex<Lines>>,
}

#[derive(Default)]
struct Lines {
    lines: Vec<(i64, &'static str, String)>,
    bytes: usize,
    truncated: bool,
}

impl LogBuffer {
    pub fn push(&self, level: &'static str, message: &str) {
        let mut lines = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if lines.bytes + message.len() > LOG_CAPTURE_BYTES {
            lines.truncated = true;
            return;
        }
        lines.bytes += message.len();
        lines
            .lines
            .push((geyser_core::now_ms(), level, message.to_owned()));
    }

    /// The lines so far, with a final marker if some were dropped.
    pub fn take(&self) -> Vec<(i64, &'static str, String)> {
        let mut lines = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = std::mem::take(&mut lines.lines);
        if lines.truncated {
            out.push((
                geyser_core::now_ms(),
                "warn",
                format!("[geyser] log output truncated at {LOG_CAPTURE_BYTES} bytes"),
            ));
        }
        out
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

impl Host for Capabilities {
    async fn log(&mut self, level: Level, message: String) {
        self.logs.push(level_name(level), &message);
    }
}
