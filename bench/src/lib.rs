//! Helpers shared by the load tools in `src/bin`.

use std::time::Duration;

/// The `p` quantile (0..=1) of sorted latencies, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// "p50 …ms, p99 …ms, max …ms" of sorted latencies (not empty).
pub fn summary(sorted: &[Duration]) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(percentile(sorted, 0.50)),
        ms(percentile(sorted, 0.99)),
        ms(sorted[sorted.len() - 1])
    )
}

/// `component` with a custom section named `geyser-bench` holding `tag` appended: the same
/// code, but different bytes and so a different artifact hash.
pub fn with_custom_section(component: &[u8], tag: &str) -> Vec<u8> {
    const NAME: &[u8] = b"geyser-bench";
    let mut payload = Vec::new();
    leb128(&mut payload, NAME.len());
    payload.extend_from_slice(NAME);
    payload.extend_from_slice(tag.as_bytes());
    let mut out = Vec::with_capacity(component.len() + payload.len() + 6);
    out.extend_from_slice(component);
    out.push(0); // custom section id
    leb128(&mut out, payload.len());
    out.extend_from_slice(&payload);
    out
}

fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}
