//! `wasi:keyvalue` (0.2.0-draft: store, atomics, batch) over the tenant's kv — the same keys,
//! limits and quota as `geyser:function/kv`, so a component written for the standard
//! interface runs unchanged. One bucket: `open("")` or `open("default")`; any other
//! identifier is `no-such-store`. Batches are not atomic (the interface does not promise it).

use super::Capabilities;
use geyser_core::kv::KvError as Failure;
use wasmtime::component::Resource;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/wasi-keyvalue",
        world: "wasi:keyvalue/imports",
        imports: { default: async },
        with: { "wasi:keyvalue/store.bucket": super::Bucket },
    });
}

use bindings::wasi::keyvalue::{atomics, batch, store};
use store::{Error, KeyResponse};

/// The tenant's one bucket. It holds nothing: the invocation's `Capabilities` know the tenant.
pub struct Bucket;

/// Keys per `list-keys` page.
const PAGE: u64 = 1000;
/// Keys `list-keys` walks in all (its cursor is an offset into the ordered keys).
const MAX_LISTED: u64 = 100_000;
/// The one bucket's handle (every `open` returns it; it has no state to drop).
const BUCKET_REP: u32 = 0;

fn guest_error(err: Failure) -> Error {
    match err {
        Failure::Backend(inner) => {
            tracing::error!(error = %inner, "kv store failure");
            Error::Other("the key-value store is unavailable; retry".into())
        }
        other => Error::Other(other.to_string()),
    }
}

/// Adds wasi:keyvalue to the linker.
pub fn add_to_linker<T: super::CapabilitiesView + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
) -> wasmtime::Result<()> {
    bindings::Imports::add_to_linker::<_, wasmtime::component::HasSelf<Capabilities>>(
        linker,
        |state: &mut T| state.capabilities(),
    )
}

impl store::Host for Capabilities {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>, Error> {
        match identifier.as_str() {
            "" | "default" => Ok(Resource::new_own(BUCKET_REP)),
            _ => Err(Error::NoSuchStore),
        }
    }
}

impl store::HostBucket for Capabilities {
    async fn get(&mut self, _: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>, Error> {
        self.kv.get(self.tenant, &key).await.map_err(guest_error)
    }

    async fn set(&mut self, _: Resource<Bucket>, key: String, value: Vec<u8>) -> Result<(), Error> {
        self.kv
            .set(self.tenant, &key, &value)
            .await
            .map_err(guest_error)
    }

    async fn delete(&mut self, _: Resource<Bucket>, key: String) -> Result<(), Error> {
        self.kv
            .delete(self.tenant, &key)
            .await
            .map(|_| ())
            .map_err(guest_error)
    }

    async fn exists(&mut self, _: Resource<Bucket>, key: String) -> Result<bool, Error> {
        Ok(self
            .kv
            .get(self.tenant, &key)
            .await
            .map_err(guest_error)?
            .is_some())
    }

    async fn list_keys(
        &mut self,
        _: Resource<Bucket>,
        cursor: Option<u64>,
    ) -> Result<KeyResponse, Error> {
        let start = cursor.unwrap_or(0);
        if start >= MAX_LISTED {
            return Ok(KeyResponse {
                keys: Vec::new(),
                cursor: None,
            });
        }
        let end = (start + PAGE).min(MAX_LISTED);
        // One more than the page tells whether another page follows.
        let wanted = u32::try_from(end + 1).unwrap_or(u32::MAX);
        let all = self
            .kv
            .list_keys(self.tenant, "", wanted)
            .await
            .map_err(guest_error)?;
        let more = all.len() as u64 > end;
        let keys: Vec<String> = all
            .into_iter()
            .skip(usize::try_from(start).unwrap_or(usize::MAX))
            .take(usize::try_from(end - start).unwrap_or(usize::MAX))
            .collect();
        Ok(KeyResponse {
            keys,
            cursor: (more && end < MAX_LISTED).then_some(end),
        })
    }

    async fn drop(&mut self, _: Resource<Bucket>) -> wasmtime::Result<()> {
        Ok(())
    }
}

impl atomics::Host for Capabilities {
    async fn increment(
        &mut self,
        _: Resource<Bucket>,
        key: String,
        delta: u64,
    ) -> Result<u64, Error> {
        let delta = i64::try_from(delta)
            .map_err(|_| Error::Other(format!("delta {delta} exceeds {}", i64::MAX)))?;
        let value = self
            .kv
            .increment(self.tenant, &key, delta)
            .await
            .map_err(guest_error)?;
        u64::try_from(value)
            .map_err(|_| Error::Other(format!("value at {key:?} is negative ({value})")))
    }
}

impl batch::Host for Capabilities {
    async fn get_many(
        &mut self,
        _: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, Error> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let value = self.kv.get(self.tenant, &key).await.map_err(guest_error)?;
            out.push(value.map(|v| (key, v)));
        }
        Ok(out)
    }

    async fn set_many(
        &mut self,
        _: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<(), Error> {
        for (key, value) in key_values {
            self.kv
                .set(self.tenant, &key, &value)
                .await
                .map_err(guest_error)?;
        }
        Ok(())
    }

    async fn delete_many(&mut self, _: Resource<Bucket>, keys: Vec<String>) -> Result<(), Error> {
        for key in keys {
            self.kv
                .delete(self.tenant, &key)
                .await
                .map_err(guest_error)?;
        }
        Ok(())
    }
}
