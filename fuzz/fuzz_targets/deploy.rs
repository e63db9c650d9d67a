//! Arbitrary bytes through the deploy path's checks: header, validation, compile, link. Any
//! outcome but a panic or a crash is fine; a refusal must be a `ComponentError`.
#![no_main]

use geyser_engine::{EngineConfig, Host};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        let dir = std::env::temp_dir().join("geyser-fuzz-cache");
        let config = EngineConfig {
            max_instances: 4,
            ..EngineConfig::default()
        };
        Host::new(&config, &dir).expect("engine")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = host().validate(data);
});
