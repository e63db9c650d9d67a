//! Arbitrary request-target bytes through the gateway's parsing: never a panic, and an
//! accepted target always leaves the guest an absolute path with no authority.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = geyser_http::gateway::fuzz_gateway_target(data);
});
