//! A guest's stdout or stderr: kept in memory up to a bound, the rest silently discarded (a
//! chatty guest must not trap because it printed too much).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

#[derive(Clone)]
pub struct CapturedOutput {
    inner: Arc<Mutex<Captured>>,
}

struct Captured {
    bytes: Vec<u8>,
    capacity: usize,
    truncated: bool,
}

impl CapturedOutput {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Captured {
                bytes: Vec::new(),
                capacity,
                truncated: false,
            })),
        }
    }

    /// The captured text, split into lines (a final partial line included).
    pub fn lines(&self) -> (Vec<String>, bool) {
        let captured = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let text = String::from_utf8_lossy(&captured.bytes);
        let lines = text.lines().map(str::to_owned).collect();
        (lines, captured.truncated)
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut captured = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let room = captured.capacity.saturating_sub(captured.bytes.len());
        let take = room.min(buf.len());
        captured.bytes.extend_from_slice(&buf[..take]);
        if take < buf.len() {
            captured.truncated = true;
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
