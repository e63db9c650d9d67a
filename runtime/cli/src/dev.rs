//! `geyser dev NAME [--dir DIR]`: the author loop. Builds the project in DIR (Rust,
//! JavaScript or Python, laid out as `geyser new` makes them), deploys it as NAME, then
//! rebuilds and redeploys whenever a source file changes. Changes are found by polling
//! modification times (every 300 ms; build outputs, dependencies and tool directories are not
//! watched). A failed build is printed and the deployed version stays.

use crate::Client;
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Directories never watched: build outputs, installed dependencies, tool environments.
const SKIPPED: [&str; 7] = [
    "target",
    "node_modules",
    ".venv",
    ".deps",
    ".git",
    "__pycache__",
    ".cargo",
];

const POLL: Duration = Duration::from_millis(300);

/// How to build a project and where its component lands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevProject {
    pub build: String,
    pub artifact: PathBuf,
}

/// Recognises a project by its manifest: `package.json` (JavaScript), `build.sh` (Python),
/// `Cargo.toml` (Rust).
pub fn detect(dir: &Path) -> Result<DevProject> {
    if dir.join("package.json").exists() {
        let build = if dir.join("node_modules").exists() {
            "npm run build"
        } else {
            "npm install && npm run build"
        };
        return Ok(DevProject {
            build: build.to_owned(),
            artifact: dir.join("app.wasm"),
        });
    }
    if dir.join("build.sh").exists() {
        return Ok(DevProject {
            build: "./build.sh".to_owned(),
            artifact: dir.join("app.wasm"),
        });
    }
    let manifest = dir.join("Cargo.toml");
    if manifest.exists() {
        let text = std::fs::read_to_string(&manifest)
            .with_context(|| format!("cannot read {}", manifest.display()))?;
        let parsed: toml::Value = text
            .parse()
            .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
        let Some(name) = parsed
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
        else {
            bail!("{} has no [package] name", manifest.display());
        };
        return Ok(DevProject {
            build: "cargo build --release".to_owned(),
            artifact: dir.join(format!(
                "target/wasm32-wasip2/release/{}.wasm",
                name.replace('-', "_")
            )),
        });
    }
    bail!(
        "{} holds no Geyser project (package.json, build.sh or Cargo.toml, as `geyser new` writes)",
        dir.display()
    )
}

/// Every watched file under `dir` with its modification time.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, SystemTime> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !SKIPPED.contains(&name.as_ref()) {
                    pending.push(path);
                }
            } else if !name.ends_with(".wasm")
                && name != "package-lock.json"
                && name != "Cargo.lock"
                && let Ok(modified) = entry.metadata().and_then(|m| m.modified())
            {
                files.insert(path, modified);
            }
        }
    }
    files
}

/// Builds and deploys once, then again after every change, until interrupted.
pub async fn run(client: &Client, name: &str, dir: &Path) -> Result<()> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("no directory {}", dir.display()))?;
    let mut seen = BTreeMap::new();
    loop {
        let now = snapshot(&dir);
        if now != seen {
            seen = now;
            // Detected each round: the first `npm install` changes the JavaScript build line.
            let project = detect(&dir)?;
            println!("building {name}: {}", project.build);
            let status = tokio::process::Command::new("sh")
                .args(["-c", &project.build])
                .current_dir(&dir)
                .status()
                .await
                .context("cannot run sh")?;
            if status.success() {
                if let Err(err) = client
                    .deploy(name, &project.artifact, None, None, None, false)
                    .await
                {
                    println!("deploy failed: {err:#}");
                }
            } else {
                println!("build failed ({status}); the deployed version stays");
            }
            // `seen` is what this build started from: a file saved while it ran builds again.
            println!("watching {} for changes (Ctrl-C stops)", dir.display());
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_are_recognised_by_their_manifest() {
        let dir = tempfile::tempdir().unwrap();
        assert!(detect(dir.path()).is_err());
        std::fs::write(
            dir.path().join("Cargo.toml"),
            "[package]\nname = \"my-fn\"\n",
        )
        .unwrap();
        let rust = detect(dir.path()).unwrap();
        assert_eq!(rust.build, "cargo build --release");
        assert!(
            rust.artifact
                .ends_with("target/wasm32-wasip2/release/my_fn.wasm")
        );
        std::fs::write(dir.path().join("build.sh"), "").unwrap();
        assert_eq!(detect(dir.path()).unwrap().build, "./build.sh");
        std::fs::write(dir.path().join("package.json"), "{}").unwrap();
        assert_eq!(
            detect(dir.path()).unwrap().build,
            "npm install && npm run build"
        );
    }

    #[test]
    fn outputs_and_dependencies_are_not_watched() {
        let dir = tempfile::tempdir().unwrap();
        for file in [
            "app.py",
            "node_modules/x/index.js",
            "target/a.rs",
            "app.wasm",
            "src/app.js",
        ] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        let watched: Vec<String> = snapshot(dir.path())
            .keys()
            .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
            .collect();
        assert_eq!(watched, ["app.py", "src/app.js"]);
    }
}
