//! `geyser new NAME [--lang rust|js|python] --http|--event|--schedule`: a function project
//! that builds with its language's own tools and deploys as generated. Each language module
//! gives the files, the build command and where the component lands.

mod js;
mod python;
mod rust;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    Event,
    Schedule,
}

impl Kind {
    /// `http`, `event`, `schedule`: the SDK worlds' prefix and the build tools' argument.
    fn word(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Event => "event",
            Kind::Schedule => "schedule",
        }
    }

    fn article(self) -> &'static str {
        match self {
            Kind::Http => "an HTTP",
            Kind::Event => "an event",
            Kind::Schedule => "a scheduled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Rust,
    Js,
    Python,
}

/// A generated project: its files (path, contents, executable), the build command run inside
/// it, and the component the build writes (relative to the project).
struct Project {
    files: Vec<(&'static str, String, bool)>,
    build: String,
    artifact: String,
}

/// Where this binary's SDK sources were when it was built (a checkout of this repository).
fn default_sdk_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk")
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && name.as_bytes()[0].is_ascii_lowercase()
}

/// How to try the function once deployed, for its README.
fn try_it(name: &str, kind: Kind) -> String {
    match kind {
        Kind::Http => format!(
            "curl $GEYSER_URL/fn/<your-tenant>/{name}/\ncurl $GEYSER_URL/fn/<your-tenant>/{name}/count"
        ),
        Kind::Event => format!(
            "# deliver one event by hand (Kafka bindings deliver them in production)\n\
             curl -X POST -H \"authorization: Bearer $GEYSER_API_KEY\" -d '{{\"amount\": 2}}' \\\n  \"$GEYSER_URL/v1/functions/{name}/events?topic=demo\""
        ),
        Kind::Schedule => format!(
            "# fire one tick by hand (cron schedules fire them in production)\n\
             curl -X POST -H \"authorization: Bearer $GEYSER_API_KEY\" \"$GEYSER_URL/v1/functions/{name}/ticks\""
        ),
    }
}

/// The README's lines after the build: set the server, deploy, try, read the logs.
fn readme_tail(name: &str, artifact: &str, kind: Kind) -> String {
    format!(
        "export GEYSER_URL=http://127.0.0.1:8080 GEYSER_API_KEY=gy_...   # gy_ + 64 hex, from `geyser tenant create`\n\
         geyser deploy {name} {artifact}\n{}\ngeyser logs {name} --follow",
        try_it(name, kind)
    )
}

pub fn run(
    name: &str,
    lang: Lang,
    kind: Kind,
    dir: Option<PathBuf>,
    sdk: Option<PathBuf>,
) -> Result<()> {
    if !valid_name(name) {
        bail!(
            "invalid function name {name:?}: use 1 to 63 characters of a-z, 0-9 and '-', starting with a letter"
        );
    }
    let sdk = sdk.unwrap_or_else(default_sdk_path);
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the Geyser SDKs were not found at {} (pass --sdk PATH to a checkout's sdk/ directory)",
            sdk.display()
        )
    })?;
    let root = dir.unwrap_or_else(|| PathBuf::from(name));
    if root.exists() {
        bail!("{} already exists", root.display());
    }
    let project = match lang {
        Lang::Rust => rust::project(name, kind, &sdk),
        Lang::Js => js::project(name, kind, &sdk.join("js"))?,
        Lang::Python => python::project(name, kind, &sdk.join("python"))?,
    };
    for (path, contents, executable) in &project.files {
        let file = root.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&file, contents).with_context(|| format!("cannot write {path}"))?;
        if *executable {
            make_executable(&file)?;
        }
    }
    println!(
        "created {} {lang:?} function {name} in {}",
        kind.article(),
        root.display()
    );
    println!("build:  cd {} && {}", root.display(), project.build);
    println!("deploy: geyser deploy {name} {}", project.artifact);
    Ok(())
}

#[cfg(unix)]
fn make_executable(file: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", file.display()))
}

#[cfg(not(unix))]
fn make_executable(_file: &Path) -> Result<()> {
    Ok(())
}

/// "An HTTP" from "an HTTP".
fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A path as the generated files spell it (forward slashes).
fn spelled(path: &Path) -> String {
    path.display().to_string().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(valid_name("hello-fn"));
        assert!(!valid_name("Hello"));
        assert!(!valid_name("9lives"));
        assert!(!valid_name(""));
    }

    #[test]
    fn every_language_writes_a_build_and_an_artifact() {
        let dir = tempfile::tempdir().unwrap();
        for lang in [Lang::Rust, Lang::Js, Lang::Python] {
            for kind in [Kind::Http, Kind::Event, Kind::Schedule] {
                let root = dir.path().join(format!("{lang:?}-{}", kind.word()));
                run("demo-fn", lang, kind, Some(root.clone()), None).unwrap();
                assert!(root.join("README.md").exists(), "{lang:?} {kind:?}");
                let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
                assert!(readme.contains("gy_..."), "{readme}");
                assert!(!readme.contains("gsk_"), "{readme}");
            }
        }
        assert!(
            run(
                "demo-fn",
                Lang::Js,
                Kind::Http,
                Some(dir.path().join("Js-http")),
                None
            )
            .is_err()
        );
    }
}
