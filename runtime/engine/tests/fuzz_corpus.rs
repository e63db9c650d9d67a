//! Replays the deploy fuzz target's committed corpus and every crash it found (minimized, in
//! `fuzz/artifacts/deploy`) through the same entry, `Host::validate`, on stable: the test
//! command checks them without an instrumented build. Known shapes must get their refusal.

use geyser_engine::{ComponentError, EngineConfig, Host};
#[path = "../../../fuzz/replay.rs"]
mod replay;
use replay::inputs;

#[test]
fn deploy_corpus_and_crashes_are_refused_or_accepted_without_panicking() {
    let cache = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        max_instances: 4,
        ..EngineConfig::default()
    };
    let host = Host::new(&config, cache.path()).unwrap();
    let files = inputs("deploy");
    assert!(files.len() >= 5, "the corpus is committed: {files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let result = host.validate(&bytes);
        let name = file.file_name().unwrap().to_string_lossy();
        match name.as_ref() {
            "empty" | "text" => assert!(matches!(result, Err(ComponentError::NotWasm)), "{name}"),
            "core-module" => assert!(matches!(result, Err(ComponentError::CoreModule)), "{name}"),
            "empty-component" => {
                assert!(matches!(result, Err(ComponentError::NoHandler)), "{name}")
            }
            "truncated-section" => {
                assert!(matches!(result, Err(ComponentError::Invalid(_))), "{name}")
            }
            _ => {}
        }
    }
}
