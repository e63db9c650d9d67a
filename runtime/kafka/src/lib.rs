//! The Kafka trigger and `publish`: the only crate that speaks rdkafka. [`KafkaTrigger`]
//! supervises one consumer group member per stored binding (at-least-once delivery, processed
//! marks committed with the delivery's kv writes, dead letters after `max_attempts`); the
//! idempotent [`Publisher`] implements the engine's [`geyser_core::Publish`] and serves
//! dead-lettering. The HTTP edge reaches it only through [`geyser_core::EventBusControl`].

mod config;
mod consumer;
mod producer;
mod retry;
mod stats;
mod trigger;

pub use config::{KafkaConfig, KafkaConnection};
pub use consumer::ConsumerSettings;
pub use producer::{Outgoing, Publisher};
pub use stats::{BindingStats, KafkaStats};
pub use trigger::KafkaTrigger;
