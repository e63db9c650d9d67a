//! `deploy-many URL API_KEY WASM PREFIX N CONCURRENCY`: deploys N functions `PREFIX0..PREFIX{N-1}`,
//! CONCURRENCY uploads at a time. Each upload is the component with a custom section naming its
//! index appended, so every function is a distinct artifact (its own hash, its own compile) as it
//! would be for N different users. Prints the total time and the per-deploy latency percentiles.

use geyser_bench::{summary, with_custom_section};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, key, wasm, prefix, n, concurrency] = args.as_slice() else {
        anyhow::bail!("usage: deploy-many URL API_KEY WASM PREFIX N CONCURRENCY");
    };
    let n: usize = n.parse()?;
    let component = Arc::new(std::fs::read(wasm)?);
    let gate = Arc::new(Semaphore::new(concurrency.parse()?));
    let client = reqwest::Client::new();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let permit = gate.clone().acquire_owned().await?;
        let body = with_custom_section(&component, &format!("{prefix}{i}"));
        let request = client
            .put(format!("{url}/v1/functions/{prefix}{i}"))
            .bearer_auth(key)
            .body(body);
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let response = request.send().await?;
            let status = response.status();
            let text = response.text().await?;
            drop(permit);
            anyhow::ensure!(status.is_success(), "deploy {i}: {status} {text}");
            anyhow::Ok(sent.elapsed())
        }));
    }
    let mut latencies = Vec::with_capacity(n);
    for task in tasks {
        latencies.push(task.await??);
    }
    let total = start.elapsed();
    latencies.sort_unstable();
    println!(
        "deployed:    {n} distinct functions in {:.1} s ({:.1}/s, {} at a time)",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64(),
        concurrency
    );
    println!(
        "per deploy:  {} ({} bytes each)",
        summary(&latencies),
        component.len()
    );
    Ok(())
}
