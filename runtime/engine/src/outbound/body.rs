//! Outbound bodies, metered and bounded: bytes counted into the invocation's figures, a size
//! limit, and (for responses) a between-bytes timeout and the invocation's deadline.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use wasmtime_wasi_http::Error;

/// When a body that stalls is cut: `between` after its last frame, and never past `deadline`.
pub struct Stall {
    pub between: Duration,
    pub deadline: Instant,
    timer: Pin<Box<Sleep>>,
}

impl Stall {
    pub fn new(between: Duration, deadline: Instant) -> Stall {
        Stall {
            between,
            deadline,
            timer: Box::pin(tokio::time::sleep_until(next_cut(between, deadline))),
        }
    }

    fn reset(&mut self) {
        self.timer
            .as_mut()
            .reset(next_cut(self.between, self.deadline));
    }
}

/// `between` from now, or the deadline if that is sooner (or `between` is unbounded).
fn next_cut(between: Duration, deadline: Instant) -> Instant {
    Instant::now()
        .checked_add(between)
        .map_or(deadline, |at| at.min(deadline))
}

/// A body whose data is counted into `counter` and cut with `too_large` past `limit` bytes.
pub struct Metered<B> {
    inner: B,
    counter: Arc<AtomicU64>,
    seen: u64,
    limit: u64,
    too_large: fn(u64) -> Error,
    stall: Option<Stall>,
    /// The invocation's concurrency slot for this call, held until the response body is done.
    _slot: Option<OwnedSemaphorePermit>,
}

impl<B> Metered<B> {
    pub fn new(
        inner: B,
        counter: Arc<AtomicU64>,
        limit: u64,
        too_large: fn(u64) -> Error,
    ) -> Metered<B> {
        Metered {
            inner,
            counter,
            seen: 0,
            limit,
            too_large,
            stall: None,
            _slot: None,
        }
    }

    pub fn with_stall(mut self, stall: Stall) -> Self {
        self.stall = Some(stall);
        self
    }

    pub fn holding(mut self, slot: OwnedSemaphorePermit) -> Self {
        self._slot = Some(slot);
        self
    }
}

impl<B> Body for Metered<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Error>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let len = data.len() as u64;
                    this.seen = this.seen.saturating_add(len);
                    this.counter.fetch_add(len, Ordering::Relaxed);
                    if this.seen > this.limit {
                        return Poll::Ready(Some(Err((this.too_large)(this.limit))));
                    }
                }
                if let Some(stall) = &mut this.stall {
                    stall.reset();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let stalled = this
                    .stall
                    .as_mut()
                    .is_some_and(|stall| stall.timer.as_mut().poll(cx).is_ready());
                if stalled {
                    Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
                } else {
                    Poll::Pending
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
