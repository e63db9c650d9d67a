//! `deploy-storm URL VICTIM_TENANT DEPLOYERS FUNCTIONS`: the victim's hello latency while
//! DEPLOYERS tenants (keys in the environment, `STORM_KEYS`, comma-separated) each deploy a
//! different component that is slow to compile (FUNCTIONS functions), all at once. Prints the
//! victim's latencies alone and during the storm, and each deploy's status and time.

use geyser_bench::{summary, with_custom_section};
use std::time::{Duration, Instant};

async fn hellos(
    client: &reqwest::Client,
    url: &str,
    tenant: &str,
    n: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let sent = Instant::now();
        let response = client
            .get(format!("{url}/fn/{tenant}/hello/"))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "hello: {}",
            response.status()
        );
        response.bytes().await?;
        latencies.push(sent.elapsed());
    }
    Ok(latencies)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, victim, deployers, functions] = args.as_slice() else {
        anyhow::bail!("usage: deploy-storm URL VICTIM_TENANT DEPLOYERS FUNCTIONS");
    };
    let deployers: usize = deployers.parse()?;
    let keys: Vec<String> = std::env::var("STORM_KEYS")?
        .split(',')
        .map(str::to_owned)
        .collect();
    anyhow::ensure!(
        keys.len() >= deployers,
        "STORM_KEYS names fewer than {deployers} keys"
    );
    let component = geyser_test_support::slow_to_compile_component(functions.parse()?);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()?;
    let mut quiet = hellos(&client, url, victim, 200).await?;
    quiet.sort_unstable();

    let started = Instant::now();
    let storm: Vec<_> = keys
        .iter()
        .take(deployers)
        .enumerate()
        .map(|(i, key)| {
            let (url, key) = (url.clone(), key.clone());
            let bytes = with_custom_section(&component, &format!("storm-{i}"));
            tokio::spawn(async move {
                let sent = Instant::now();
                let status = reqwest::Client::new()
                    .put(format!("{url}/v1/functions/big"))
                    .bearer_auth(key)
                    .body(bytes)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                (status, sent.elapsed())
            })
        })
        .collect();
    let mut during = Vec::new();
    while storm.iter().any(|d| !d.is_finished()) {
        during.extend(hellos(&client, url, victim, 5).await?);
    }
    let took = started.elapsed();
    during.sort_unstable();
    println!(
        "component: {} bytes, {functions} functions; {deployers} deploys at once, storm lasted {:.1} s",
        component.len(),
        took.as_secs_f64()
    );
    for (i, deploy) in storm.into_iter().enumerate() {
        let (status, elapsed) = deploy.await?;
        println!("deploy {i}: {status} after {:.2} s", elapsed.as_secs_f64());
    }
    println!(
        "victim alone:        {} (n={})",
        summary(&quiet),
        quiet.len()
    );
    println!(
        "victim during storm: {} (n={})",
        summary(&during),
        during.len()
    );
    Ok(())
}
