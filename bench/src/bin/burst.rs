//! `burst URL N BODY`: fires N POST requests with a JSON body at once (one connection each)
//! and prints status counts, latency percentiles and throughput. `BURST_HEADER="name: value"`
//! adds a header to each (`prefer: respond-async` for an asynchronous burst).

use geyser_bench::percentile;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, n, body] = args.as_slice() else {
        anyhow::bail!("usage: burst URL N JSON_BODY");
    };
    let n: usize = n.parse()?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()?;
    let extra = std::env::var("BURST_HEADER").ok().and_then(|h| {
        h.split_once(':')
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
    });
    let start = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let mut request = client
                .post(url)
                .header("content-type", "application/json")
                .body(body.clone());
            if let Some((name, value)) = &extra {
                request = request.header(name.as_str(), value.as_str());
            }
            tokio::spawn(async move {
                let sent = Instant::now();
                let status = match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                (status, sent.elapsed())
            })
        })
        .collect();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut latencies = Vec::with_capacity(n);
    for task in tasks {
        let (status, latency) = task.await?;
        *statuses.entry(status).or_default() += 1;
        latencies.push(latency);
    }
    let total = start.elapsed();
    latencies.sort_unstable();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "requests:    {n} in {:.2} s ({:.0} req/s)",
        total.as_secs_f64(),
        n as f64 / total.as_secs_f64()
    );
    println!("statuses:    {statuses:?} (0 = transport error)");
    println!(
        "latency:     p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(percentile(&latencies, 0.50)),
        ms(percentile(&latencies, 0.95)),
        ms(percentile(&latencies, 0.99)),
        ms(latencies[latencies.len() - 1])
    );
    Ok(())
}
