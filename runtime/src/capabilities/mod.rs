//! Host capabilities a guest may import from the `geyser:function` WIT package: the tenant's kv
//! namespace, logging, and publishing. Each invocation gets its own [`Capabilities`], bound to
//! the tenant that owns the function — that binding is what scopes every call.

mod kv;
mod logging;
mod output;
mod publish;

pub use logging::{LOG_CAPTURE_BYTES, LogBuffer};
pub use output::CapturedOutput;
pub use publish::PublishContext;

use geyser_functions::{KvTransaction, Store, TenantId};
use std::sync::Arc;

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
    /// Set for a Kafka delivery: kv calls run in its transaction (see [`KvTransaction`]).
    pub kv_transaction: Option<Arc<tokio::sync::Mutex<KvTransaction>>>,
    pub logs: LogBuffer,
    /// `None` when the node has no Kafka.
    pub publish: Option<PublishContext>,
    /// Enforces the tenant's kv key quota on writes that may create a key.
    pub quotas: Arc<crate::quotas::QuotaGuard>,
}

/// Adds every geyser capability to the linker.
pub fn add_to_linker(
    linker: &mut wasmtime::component::Linker<crate::sandbox::InvocationState>,
) -> wasmtime::Result<()> {
    Host_::add_to_linker::<_, wasmtime::component::HasSelf<Capabilities>>(linker, |state| {
        state.capabilities()
    })
}
