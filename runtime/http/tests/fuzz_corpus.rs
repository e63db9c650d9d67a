//! Replays the gateway fuzz target's committed corpus and every crash it found (minimized, in
//! `fuzz/artifacts/gateway`) through the same entry on stable, and pins what known inputs mean.

use geyser_http::gateway::fuzz_gateway_target;
#[path = "../../../fuzz/replay.rs"]
mod replay;
use replay::inputs;

#[test]
fn gateway_corpus_and_crashes_parse_without_panicking() {
    let files = inputs("gateway");
    assert!(files.len() >= 5, "the corpus is committed: {files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let target = fuzz_gateway_target(&bytes);
        let name = file.file_name().unwrap().to_string_lossy();
        let guest = |t: &Option<geyser_http::gateway::GatewayTarget>| {
            t.as_ref()
                .and_then(|t| t.guest_uri.as_ref().ok())
                .map(ToString::to_string)
        };
        match name.as_ref() {
            "plain" => assert_eq!(guest(&target).as_deref(), Some("/"), "{name}"),
            "query" => assert_eq!(guest(&target).as_deref(), Some("/a/b?x=1&y=%20"), "{name}"),
            "absolute" => {
                // The authority of an absolute-form target never reaches the guest.
                assert_eq!(guest(&target).as_deref(), Some("/x"), "{name}")
            }
            "badnames" | "notenant" | "asterisk" => assert!(target.is_none(), "{name}"),
            _ => {}
        }
    }
}
