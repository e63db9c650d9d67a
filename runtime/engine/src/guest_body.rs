//! The response body of an HTTP invocation as the client receives it: the guest's body, which
//! ends cleanly only if the guest itself ended cleanly. A guest that traps or times out
//! mid-body makes the stream fail, so the client sees a broken response instead of a truncated
//! one that looks complete.

use crate::invoke::Finished;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};
use tokio::task::JoinHandle;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

pub struct GuestBody {
    inner: HyperOutgoingBody,
    /// The guest's task; awaited once the guest's body has ended.
    task: Option<JoinHandle<Finished>>,
    /// Set if the body is dropped before its end: the client went away (the invocation ends
    /// `cancelled`).
    client_gone: Arc<AtomicBool>,
}

impl GuestBody {
    pub(crate) fn new(
        inner: HyperOutgoingBody,
        task: JoinHandle<Finished>,
        client_gone: Arc<AtomicBool>,
    ) -> Self {
        Self {
            inner,
            task: Some(task),
            client_gone,
        }
    }
}

impl Drop for GuestBody {
    fn drop(&mut self) {
        if self.task.is_some() {
            self.client_gone.store(true, Ordering::Relaxed);
        }
    }
}

impl Body for GuestBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.task.is_some() {
            match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
                Some(Ok(frame)) => return Poll::Ready(Some(Ok(frame))),
                Some(Err(err)) => {
                    self.task = None;
                    return Poll::Ready(Some(Err(std::io::Error::other(format!(
                        "response body failed: {err:?}"
                    )))));
                }
                None => {}
            }
        }
        let Some(task) = self.task.as_mut() else {
            return Poll::Ready(None);
        };
        let finished = ready!(Pin::new(task).poll(cx));
        self.task = None;
        match finished {
            Ok(Finished { error: None, .. }) => Poll::Ready(None),
            Ok(Finished {
                error: Some(err), ..
            }) => Poll::Ready(Some(Err(std::io::Error::other(format!(
                "function failed mid-response: {err}"
            ))))),
            Err(join) => Poll::Ready(Some(Err(std::io::Error::other(format!(
                "invocation task failed: {join}"
            ))))),
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
