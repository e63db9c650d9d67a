//! Host capabilities a guest may import from the `geyser:function` WIT package: the tenant's kv
//! namespace, logging, and publishing. Each invocation gets its own [`Capabilities`], bound to
//! the tenant that owns the function — that binding is what scopes every call.

mod kv;
mod logging;
mod output;
mod publish;

pub use logging::{LOG_CAPTURE_BYTES, LogBuffer};
pub use output::CapturedOutput;

use geyser_functions::{Store, TenantId};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "geyser:function/host",
    imports: { default: async },
});

pub use geyser::function as wit;

/// What the capabilities of one invocation act on.
pub struct Capabilities {
    pub tenant: TenantId,
    pub store: Store,
    pub logs: LogBuffer,
}

/// Adds every geyser capability to the linker.
pub fn add_to_linker(
    linker: &mut wasmtime::component::Linker<crate::sandbox::InvocationState>,
) -> wasmtime::Result<()> {
    Host_::add_to_linker::<_, wasmtime::component::HasSelf<Capabilities>>(linker, |state| {
        state.capabilities()
    })
}
