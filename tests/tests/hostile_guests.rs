//! Hostile guests beyond the probe's (tests/spine.rs covers loops, memory bombs, recursion,
//! huge and endless bodies, sandbox escapes): a component that traps while it is instantiated.

use geyser_e2e::{Backend, TestServer, guest, usage_row};
use reqwest::StatusCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_traps_during_instantiation_is_a_metered_trap() {
    let node = TestServer::start(Backend::Sqlite, |_| {});
    let api = node.api();
    let t = api.create_tenant("init-trap").await;
    // Deploy compiles and links it; nothing of it runs yet.
    api.deploy_ok(&t, "bad", "", guest("geyser_fixture_init_trap"))
        .await;
    api.deploy_ok(&t, "hello", "", guest("example_hello")).await;
    for _ in 0..3 {
        let reply = api.invoke(&t.name, "bad", "/").await;
        assert_eq!(
            reply.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{}",
            reply.body
        );
        assert_eq!(reply.json()["error"]["code"], "trap", "{}", reply.body);
        // The node keeps serving, the same tenant included.
        assert_eq!(
            api.invoke(&t.name, "hello", "/").await.status,
            StatusCode::OK
        );
    }
    let usage = api.usage_when(&t.key, 6).await;
    assert_eq!(usage_row(&usage, "bad")["outcomes"]["trap"], 3, "{usage}");
    assert_eq!(usage_row(&usage, "hello")["outcomes"]["ok"], 3, "{usage}");
}
