//! CPU fairness between guests. Most invocations run for well under a millisecond; a guest
//! that keeps computing past `engine.long_guest_after_ms` becomes *long*, and from then on it
//! may compute only while it holds one of the node's few long-guest turns (by default one core
//! fewer than the machine has). At every epoch tick a long guest hands its turn back and queues
//! for the next; turns go round-robin over tenants, then over each tenant's guests. So however
//! many endless loops one tenant runs, the HTTP front and everyone's short invocations keep a
//! core, and another tenant's long guest gets as many turns as that tenant.

use geyser_core::TenantId;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The node's long-guest turns.
#[derive(Debug)]
pub struct FairGate {
    slots: usize,
    state: Mutex<GateState>,
    /// Turns taken after waiting (a long guest that found every turn taken).
    waited: AtomicU64,
}

#[derive(Debug, Default)]
struct GateState {
    busy: usize,
    /// Tenants with waiting guests, in the order their next turn comes.
    order: VecDeque<TenantId>,
    waiting: HashMap<TenantId, VecDeque<oneshot::Sender<Turn>>>,
}

/// The right of a long guest to compute until its next epoch tick. Dropping it hands the turn
/// to the next waiting guest (of the next tenant in line).
#[derive(Debug)]
pub struct Turn {
    /// `None` only for a turn taken back from a channel whose guest went away.
    gate: Option<Arc<FairGate>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(gate) = self.gate.take() {
            gate.release();
        }
    }
}

impl FairGate {
    pub fn new(slots: usize) -> Arc<FairGate> {
        Arc::new(FairGate {
            slots: slots.max(1),
            state: Mutex::new(GateState::default()),
            waited: AtomicU64::new(0),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Long guests computing now.
    pub fn busy(&self) -> usize {
        self.lock().busy
    }

    /// Long guests waiting for a turn now.
    pub fn waiting(&self) -> usize {
        self.lock().waiting.values().map(VecDeque::len).sum()
    }

    /// Turns that had to be waited for, so far.
    pub fn waited(&self) -> u64 {
        self.waited.load(Ordering::Relaxed)
    }

    /// A turn for a guest of `tenant`: at once if one is free and nobody waits, else when the
    /// round-robin comes to it. If the future is dropped after the turn was handed over, the
    /// turn (dropped with the channel) goes on to the next in line.
    pub fn acquire(
        self: &Arc<Self>,
        tenant: TenantId,
    ) -> impl std::future::Future<Output = Option<Turn>> + Send + 'static {
        let receiver = {
            let mut state = self.lock();
            if state.busy < self.slots && state.order.is_empty() {
                state.busy += 1;
                Err(Turn {
                    gate: Some(self.clone()),
                })
            } else {
                let (sender, receiver) = oneshot::channel();
                let state = &mut *state;
                let queue = state.waiting.entry(tenant).or_default();
                if queue.is_empty() {
                    state.order.push_back(tenant);
                }
                queue.push_back(sender);
                Ok(receiver)
            }
        };
        let gate = self.clone();
        async move {
            match receiver {
                Err(turn) => Some(turn),
                Ok(receiver) => {
                    let turn = receiver.await.ok();
                    gate.waited.fetch_add(1, Ordering::Relaxed);
                    turn
                }
            }
        }
    }

    /// A turn ended: hand it to the first waiting guest of the next tenant in line, or free it.
    fn release(self: &Arc<Self>) {
        loop {
            let sender = {
                let mut state = self.lock();
                let Some(tenant) = state.order.pop_front() else {
                    state.busy = state.busy.saturating_sub(1);
                    return;
                };
                let queue = state.waiting.get_mut(&tenant);
                let sender = queue.and_then(VecDeque::pop_front);
                if state.waiting.get(&tenant).is_some_and(|q| !q.is_empty()) {
                    state.order.push_back(tenant);
                } else {
                    state.waiting.remove(&tenant);
                }
                sender
            };
            let Some(sender) = sender else { continue };
            // The turn travels in the channel: if its guest went away, it comes back here
            // through `Drop` and goes on to the next.
            match sender.send(Turn {
                gate: Some(self.clone()),
            }) {
                Ok(()) => return,
                // Still ours: taken back without releasing, it goes to the next in line.
                Err(mut turn) => drop(turn.gate.take()),
            }
        }
    }
}

/// The turn a long guest holds while it computes: taken at an epoch tick, handed back at the
/// next one, and whenever the guest stops computing (its task waits for I/O or a timer) —
/// a guest blocked on an outbound call must not keep a turn from the others.
#[derive(Debug, Default, Clone)]
pub struct HeldTurn(Arc<Mutex<Option<Turn>>>);

impl HeldTurn {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Turn>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn hold(&self, turn: Option<Turn>) {
        *self.lock() = turn;
    }

    pub fn release(&self) {
        drop(self.lock().take());
    }
}

/// Polls a guest's future and hands its turn back whenever a poll ends (the guest waits, or
/// is done): a turn is held only while the guest computes.
pub struct ReleaseWhenWaiting<F> {
    inner: std::pin::Pin<Box<F>>,
    held: HeldTurn,
}

impl<F> ReleaseWhenWaiting<F> {
    pub fn new(inner: F, held: HeldTurn) -> Self {
        ReleaseWhenWaiting {
            inner: Box::pin(inner),
            held,
        }
    }
}

impl<F: std::future::Future> std::future::Future for ReleaseWhenWaiting<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let result = self.inner.as_mut().poll(cx);
        // Waiting (or done): not computing any more.
        self.held.release();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_next_tenant_in_line_gets_the_turn() {
        let gate = FairGate::new(1);
        let (a, b) = (TenantId(1), TenantId(2));
        let held = gate.acquire(a).await.unwrap();
        let a2 = tokio::spawn(gate.acquire(a));
        while gate.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        let b1 = tokio::spawn(gate.acquire(b));
        while gate.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        let a3 = tokio::spawn(gate.acquire(a));
        while gate.waiting() < 3 {
            tokio::task::yield_now().await;
        }
        drop(held);
        let turn = a2.await.unwrap().unwrap();
        assert!(!b1.is_finished() && !a3.is_finished());
        drop(turn);
        // b before a's third guest.
        let turn = b1.await.unwrap().unwrap();
        assert!(!a3.is_finished());
        drop(turn);
        drop(a3.await.unwrap().unwrap());
        assert_eq!(gate.busy(), 0);
    }

    #[tokio::test]
    async fn a_turn_handed_to_a_guest_that_went_away_goes_on() {
        let gate = FairGate::new(1);
        let held = gate.acquire(TenantId(1)).await.unwrap();
        let gone = gate.acquire(TenantId(2));
        let next = tokio::spawn(gate.acquire(TenantId(3)));
        while gate.waiting() < 2 {
            tokio::task::yield_now().await;
        }
        drop(gone);
        drop(held);
        drop(next.await.unwrap().unwrap());
        assert_eq!(gate.busy(), 0);
    }
}
