//! The three kinds of function a component can be, by what it exports, and their
//! pre-instantiated forms: `wasi:http/incoming-handler`, `geyser:function/event-handler`,
//! `geyser:function/schedule-handler` — the handlers of the current contract or of an earlier
//! one still served (0.1.0), whichever the component was built against.

use crate::sandbox::InvocationState;
use geyser_core::{FunctionKind, Handlers};
use wasmtime::component::InstancePre;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// Bindings of the event-function world (imports shared with [`crate::capabilities`]).
pub mod event {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "geyser:function/event-function",
        imports: { default: async },
        exports: { default: async },
        with: {
            "geyser:function/kv": crate::capabilities::wit::kv,
            "geyser:function/logging": crate::capabilities::wit::logging,
            "geyser:function/publish": crate::capabilities::wit::publish,
        },
    });
}

/// Bindings of the schedule-function world.
pub mod schedule {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "geyser:function/schedule-function",
        imports: { default: async },
        exports: { default: async },
        with: {
            "geyser:function/kv": crate::capabilities::wit::kv,
            "geyser:function/logging": crate::capabilities::wit::logging,
            "geyser:function/publish": crate::capabilities::wit::publish,
        },
    });
}

/// The 0.1.0 handler worlds (imports shared with [`crate::capabilities::v0_1`]).
pub mod v0_1 {
    pub mod event {
        wasmtime::component::bindgen!({
            path: "../../wit/v0.1.0",
            world: "geyser:function/event-function",
            imports: { default: async },
            exports: { default: async },
            with: {
                "geyser:function/kv": crate::capabilities::v0_1::wit::kv,
                "geyser:function/logging": crate::capabilities::v0_1::wit::logging,
                "geyser:function/publish": crate::capabilities::v0_1::wit::publish,
            },
        });
    }

    pub mod schedule {
        wasmtime::component::bindgen!({
            path: "../../wit/v0.1.0",
            world: "geyser:function/schedule-function",
            imports: { default: async },
            exports: { default: async },
            with: {
                "geyser:function/kv": crate::capabilities::v0_1::wit::kv,
                "geyser:function/logging": crate::capabilities::v0_1::wit::logging,
                "geyser:function/publish": crate::capabilities::v0_1::wit::publish,
            },
        });
    }
}

pub use event::geyser::function::types::Event;
pub use schedule::geyser::function::types::Tick;

type Store = wasmtime::Store<InvocationState>;

/// An event handler, of whichever contract version the component exports.
#[derive(Clone)]
pub enum EventPre {
    Current(event::EventFunctionPre<InvocationState>),
    V0_1(v0_1::event::EventFunctionPre<InvocationState>),
}

impl EventPre {
    fn new(pre: &InstancePre<InvocationState>) -> Option<EventPre> {
        event::EventFunctionPre::new(pre.clone())
            .map(EventPre::Current)
            .or_else(|_| v0_1::event::EventFunctionPre::new(pre.clone()).map(EventPre::V0_1))
            .ok()
    }

    /// Instantiates the component in `store` and calls its handler with `event`.
    pub async fn handle(
        &self,
        store: &mut Store,
        event: &Event,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            EventPre::Current(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance
                    .geyser_function_event_handler()
                    .call_handle(&mut *store, event)
                    .await
            }
            EventPre::V0_1(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                let event = v0_1::event::geyser::function::types::Event {
                    id: event.id.clone(),
                    source: event.source.clone(),
                    topic: event.topic.clone(),
                    key: event.key.clone(),
                    payload: event.payload.clone(),
                    headers: event.headers.clone(),
                    attempt: event.attempt,
                };
                instance
                    .geyser_function_event_handler()
                    .call_handle(&mut *store, &event)
                    .await
            }
        }
    }
}

/// A schedule handler, of whichever contract version the component exports.
#[derive(Clone)]
pub enum TickPre {
    Current(schedule::ScheduleFunctionPre<InvocationState>),
    V0_1(v0_1::schedule::ScheduleFunctionPre<InvocationState>),
}

impl TickPre {
    fn new(pre: &InstancePre<InvocationState>) -> Option<TickPre> {
        schedule::ScheduleFunctionPre::new(pre.clone())
            .map(TickPre::Current)
            .or_else(|_| v0_1::schedule::ScheduleFunctionPre::new(pre.clone()).map(TickPre::V0_1))
            .ok()
    }

    /// Instantiates the component in `store` and calls its handler with `tick`.
    pub async fn on_tick(
        &self,
        store: &mut Store,
        tick: &Tick,
    ) -> wasmtime::Result<Result<(), String>> {
        match self {
            TickPre::Current(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                instance
                    .geyser_function_schedule_handler()
                    .call_on_tick(&mut *store, tick)
                    .await
            }
            TickPre::V0_1(pre) => {
                let instance = pre.instantiate_async(&mut *store).await?;
                let tick = v0_1::schedule::geyser::function::types::Tick {
                    schedule: tick.schedule.clone(),
                    scheduled_time: tick.scheduled_time.clone(),
                    fire_time: tick.fire_time.clone(),
                    payload: tick.payload.clone(),
                };
                instance
                    .geyser_function_schedule_handler()
                    .call_on_tick(&mut *store, &tick)
                    .await
            }
        }
    }
}

/// A function version ready to instantiate, typed by what it exports. A component may export
/// several handlers (HTTP next to an event handler); each trigger uses the one it needs.
#[derive(Clone)]
pub struct Prepared {
    pub http: Option<ProxyPre<InvocationState>>,
    pub event: Option<EventPre>,
    pub schedule: Option<TickPre>,
    /// The engine it was compiled by (the one its stores must be made with).
    pub engine: wasmtime::Engine,
}

impl Prepared {
    /// Types an instance-pre by its exports; `None` when it exports no handler Geyser knows.
    pub fn classify(pre: InstancePre<InvocationState>) -> Option<Prepared> {
        let prepared = Prepared {
            http: ProxyPre::new(pre.clone()).ok(),
            event: EventPre::new(&pre),
            schedule: TickPre::new(&pre),
            engine: pre.component().engine().clone(),
        };
        (!prepared.handlers().is_empty()).then_some(prepared)
    }

    pub fn handlers(&self) -> Handlers {
        let mut handlers = Handlers::default();
        if self.http.is_some() {
            handlers.insert(FunctionKind::Http);
        }
        if self.event.is_some() {
            handlers.insert(FunctionKind::Event);
        }
        if self.schedule.is_some() {
            handlers.insert(FunctionKind::Schedule);
        }
        handlers
    }
}
