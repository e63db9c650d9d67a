//! The client side of the `geyser` command: [`Client`] speaks a node's HTTP API (`GEYSER_URL`,
//! `GEYSER_API_KEY`), [`scaffold`] writes a new function project (`geyser new`), [`dev`] rebuilds and redeploys
//! one on save (`geyser dev`). `anyhow` is
//! fine here: this is the binary's edge. It links neither wasmtime nor librdkafka, so a client
//! build never pulls them in.

mod aliases;
pub mod app;
mod client;
pub mod dev;
pub mod scaffold;

pub use aliases::AliasChange;
pub use client::{Client, LogFilter, read_secret};
