//! Host capabilities a guest may import from the `geyser:function` WIT package — the tenant's kv
//! namespace, logging, and publishing — and the standard `wasi:keyvalue` over the same kv. Each invocation gets its own [`Capabilities`], bound to
//! the tenant that owns the function — that binding is what scopes every call.

mod keyvalue;
mod kv;
mod logging;
mod output;
mod publish;
pub mod v0_1;

pub use logging::{LOG_CAPTURE_BYTES, LogBuffer};
pub use output::CapturedOutput;
pub use publish::PublishContext;

use geyser_core::{Kv, TenantId};
use std::sync::Arc;

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "geyser:function/imports",
    imports: { default: async },
});

pub use geyser::function as wit;

/// What the capabilities of one invocation act on.
pub struct Capabilities {
    /// The tenant that owns the function: every kv call is scoped by it.
    pub tenant: TenantId,
    /// The tenant's kv: the store (through the quota guard), or a Kafka delivery's transaction.
    pub kv: Arc<dyn Kv>,
    pub logs: LogBuffer,
    /// `None` when the node has no event bus.
    pub publish: Option<PublishContext>,
}

/// A store's data that holds an invocation's [`Capabilities`] (the linker never names the
/// concrete store type, as wasmtime-wasi-http's `WasiHttpView` does for its context).
pub trait CapabilitiesView: Send {
    fn capabilities(&mut self) -> &mut Capabilities;
}

/// Adds every geyser capability — the current contract and every earlier one still served
/// (`v0_1`) — and wasi:keyvalue, to the linker.
pub fn add_to_linker<T: CapabilitiesView + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    Imports::add_to_linker::<_, wasmtime::component::HasSelf<Capabilities>>(
        linker,
        |state: &mut T| state.capabilities(),
    )?;
    v0_1::add_to_linker(linker)?;
    keyvalue::add_to_linker(linker)
}
