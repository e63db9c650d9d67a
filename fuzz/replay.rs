//! The inputs a fuzz target's replay test runs: the committed corpus and every crash found
//! (minimized) for `target`. Included with `#[path]` by the stable replay tests of the crates
//! under `runtime/` (so `../../fuzz` from their manifest directory).

use std::path::{Path, PathBuf};

pub fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut files = Vec::new();
    for dir in [
        root.join("corpus").join(target),
        root.join("artifacts").join(target),
    ] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            files.extend(entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    files
}
