//! Write Geyser functions in plain Rust.
//!
//! Annotate one function with [`http`]; use [`kv`] for the tenant's durable key-value store,
//! [`log`] macros for logs the tenant can read, and [`http::Router`] for paths. Build with
//! `cargo build --release --target wasm32-wasip2` and deploy the `.wasm` with `geyser deploy`.
//!
//! ```no_run
//! use geyser_sdk::http::{Request, Response, Result, Router};
//!
//! #[geyser_sdk::http]
//! fn handle(req: Request) -> Result {
//!     Router::new()
//!         .get("/hello/:name", |_req, params| {
//!             let name = params.get("name").unwrap_or("world");
//!             let visits = geyser_sdk::kv::increment(&format!("visits/{name}"), 1)?;
//!             geyser_sdk::info!("greeted {name} ({visits} visits)");
//!             Ok(Response::text(200, format!("hello {name}, visit {visits}")))
//!         })
//!         .handle(&req)
//! }
//! ```

pub mod event;
pub mod fetch;
pub mod http;
pub mod kv;
pub mod log;
pub mod publish;
pub mod schedule;
mod serve;

pub use geyser_sdk_macros::{event, http, schedule};

/// Bindings of the host's `geyser:function` imports, generated from the shared `wit/` dir.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "geyser:function/imports",
    });
}

/// A fresh random id (128 bits from the host's secure random source, lower-case hex).
pub fn unique_id() -> String {
    let high = wasi::random::random::get_random_u64();
    let low = wasi::random::random::get_random_u64();
    format!("{high:016x}{low:016x}")
}

/// Milliseconds since the Unix epoch, from the host's wall clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[doc(hidden)]
pub mod __private {
    pub use crate::bindings as imports;
    pub use crate::serve::serve_http;
    pub use wasi;
    pub use wit_bindgen;
}
