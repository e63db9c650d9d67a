//! `geyser:function@0.1.0`, the first released contract, still linked so components built
//! against it run unchanged. Each call goes to the current implementation; what 0.1.0 cannot
//! express is mapped to its nearest case (a quota refusal is `unavailable`, its message
//! naming the quota).

use super::Capabilities;
use super::wit as current;

wasmtime::component::bindgen!({
    path: "../../wit/v0.1.0",
    world: "geyser:function/imports",
    imports: { default: async },
});

pub use geyser::function as wit;
use wit::kv::KvError;

fn downgrade(err: current::kv::KvError) -> KvError {
    use current::kv::KvError as Now;
    match err {
        Now::InvalidKey(m) => KvError::InvalidKey(m),
        Now::ValueTooLarge(m) => KvError::ValueTooLarge(m),
        Now::NotANumber(m) => KvError::NotANumber(m),
        Now::Unavailable(m) | Now::QuotaExceeded(m) => KvError::Unavailable(m),
    }
}

impl wit::kv::Host for Capabilities {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, KvError> {
        current::kv::Host::get(self, key).await.map_err(downgrade)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), KvError> {
        current::kv::Host::set(self, key, value)
            .await
            .map_err(downgrade)
    }

    async fn delete(&mut self, key: String) -> Result<bool, KvError> {
        current::kv::Host::delete(self, key)
            .await
            .map_err(downgrade)
    }

    async fn increment(&mut self, key: String, delta: i64) -> Result<i64, KvError> {
        current::kv::Host::increment(self, key, delta)
            .await
            .map_err(downgrade)
    }

    async fn compare_and_swap(
        &mut self,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    ) -> Result<bool, KvError> {
        current::kv::Host::compare_and_swap(self, key, expected, new)
            .await
            .map_err(downgrade)
    }

    async fn list_keys(&mut self, prefix: String, limit: u32) -> Result<Vec<String>, KvError> {
        current::kv::Host::list_keys(self, prefix, limit)
            .await
            .map_err(downgrade)
    }
}

impl wit::logging::Host for Capabilities {
    async fn log(&mut self, level: wit::logging::Level, message: String) {
        use current::logging::Level as Now;
        use wit::logging::Level as Then;
        let level = match level {
            Then::Trace => Now::Trace,
            Then::Debug => Now::Debug,
            Then::Info => Now::Info,
            Then::Warn => Now::Warn,
            Then::Error => Now::Error,
        };
        current::logging::Host::log(self, level, message).await
    }
}

impl wit::publish::Host for Capabilities {
    async fn publish(
        &mut self,
        topic: String,
        key: Option<Vec<u8>>,
        payload: Vec<u8>,
    ) -> Result<(), String> {
        current::publish::Host::publish(self, topic, key, payload).await
    }
}

/// Adds the 0.1.0 imports to the linker.
pub fn add_to_linker<T: super::CapabilitiesView + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    Imports::add_to_linker::<_, wasmtime::component::HasSelf<Capabilities>>(
        linker,
        |state: &mut T| state.capabilities(),
    )
}
