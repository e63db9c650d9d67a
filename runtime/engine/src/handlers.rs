//! The three kinds of function a component can be, by what it exports, and their
//! pre-instantiated forms: `wasi:http/incoming-handler`, `geyser:function/event-handler`,
//! `geyser:function/schedule-handler`.

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

pub use event::geyser::function::types::Event;
pub use schedule::geyser::function::types::Tick;

/// A function version ready to instantiate, typed by what it exports. A component may export
/// several handlers (HTTP next to an event handler); each trigger uses the one it needs.
#[derive(Clone)]
pub struct Prepared {
    pub http: Option<ProxyPre<InvocationState>>,
    pub event: Option<event::EventFunctionPre<InvocationState>>,
    pub schedule: Option<schedule::ScheduleFunctionPre<InvocationState>>,
}

impl Prepared {
    /// Types an instance-pre by its exports; `None` when it exports no handler Geyser knows.
    pub fn classify(pre: InstancePre<InvocationState>) -> Option<Prepared> {
        let prepared = Prepared {
            http: ProxyPre::new(pre.clone()).ok(),
            event: event::EventFunctionPre::new(pre.clone()).ok(),
            schedule: schedule::ScheduleFunctionPre::new(pre).ok(),
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
