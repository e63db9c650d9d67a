//! `first-calls URL TENANT PREFIX N`: calls `/fn/TENANT/PREFIX{i}/` once for each i in 0..N, one
//! after the other on one keep-alive connection, and prints the latency percentiles. Run it after
//! the functions were evicted to measure cold starts, right after to compare with warm calls.

use geyser_bench::summary;
use std::time::Instant;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, tenant, prefix, n] = args.as_slice() else {
        anyhow::bail!("usage: first-calls URL TENANT PREFIX N");
    };
    let n: usize = n.parse()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()?;
    // Open the connection first, so the first function's figure is not the TCP handshake.
    client.get(format!("{url}/healthz")).send().await?;
    let mut latencies = Vec::with_capacity(n);
    for i in 0..n {
        let sent = Instant::now();
        let response = client
            .get(format!("{url}/fn/{tenant}/{prefix}{i}/"))
            .send()
            .await?;
        let status = response.status();
        response.bytes().await?;
        latencies.push(sent.elapsed());
        anyhow::ensure!(status.is_success(), "{prefix}{i}: {status}");
    }
    latencies.sort_unstable();
    println!("{} (n={n})", summary(&latencies));
    Ok(())
}
