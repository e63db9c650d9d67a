//! The three kinds of function a component can be, by what it exports, and their
//! pre-instantiated forms: `wasi:http/incoming-handler`, `geyser:function/event-handler`,
//! `geyser:function/schedule-handler`.

use crate::sandbox::InvocationState;
use geyser_functions::FunctionKind;
use wasmtime::component::InstancePre;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// Bindings of the event-function world (imports shared with [`crate::capabilities`]).
pub mod event {
    wasmtime::component::bindgen!({
        path: "../wit",
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
        path: "../wit",
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

/// A function version ready to instantiate, typed by what it exports.
#[derive(Clone)]
pub enum Prepared {
    Http(ProxyPre<InvocationState>),
    Event(event::EventFunctionPre<InvocationState>),
    Schedule(schedule::ScheduleFunctionPre<InvocationState>),
}

impl Prepared {
    /// Types an instance-pre by its exports; `None` when it exports no handler Geyser knows.
    pub fn classify(pre: InstancePre<InvocationState>) -> Option<Prepared> {
        if let Ok(http) = ProxyPre::new(pre.clone()) {
            return Some(Prepared::Http(http));
        }
        if let Ok(event) = event::EventFunctionPre::new(pre.clone()) {
            return Some(Prepared::Event(event));
        }
        schedule::ScheduleFunctionPre::new(pre)
            .ok()
            .map(Prepared::Schedule)
    }

    pub fn kind(&self) -> FunctionKind {
        match self {
            Prepared::Http(_) => FunctionKind::Http,
            Prepared::Event(_) => FunctionKind::Event,
            Prepared::Schedule(_) => FunctionKind::Schedule,
        }
    }
}
