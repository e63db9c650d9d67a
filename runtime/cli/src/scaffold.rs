//! `geyser new NAME --http|--event|--schedule`: a function crate that builds and deploys as
//! generated.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Http,
    Event,
    Schedule,
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

pub fn run(name: &str, kind: Kind, dir: Option<PathBuf>, sdk: Option<PathBuf>) -> Result<()> {
    if !valid_name(name) {
        bail!(
            "invalid function name {name:?}: use 1 to 63 characters of a-z, 0-9 and '-', starting with a letter"
        );
    }
    let sdk = sdk.unwrap_or_else(default_sdk_path);
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "geyser-sdk not found at {} (pass --sdk PATH to a checkout's sdk/ directory)",
            sdk.display()
        )
    })?;
    let root = dir.unwrap_or_else(|| PathBuf::from(name));
    if root.exists() {
        bail!("{} already exists", root.display());
    }
    std::fs::create_dir_all(root.join("src"))?;
    std::fs::create_dir_all(root.join(".cargo"))?;
    let crate_name = name.replace('-', "_");
    let files: [(&str, String); 5] = [
        ("Cargo.toml", cargo_toml(name, &sdk)),
        (
            ".cargo/config.toml",
            "[build]\ntarget = \"wasm32-wasip2\"\n".to_owned(),
        ),
        (".gitignore", "/target\n".to_owned()),
        ("src/lib.rs", source(name, kind)),
        ("README.md", readme(name, &crate_name, kind)),
    ];
    for (path, contents) in files {
        std::fs::write(root.join(path), contents)
            .with_context(|| format!("cannot write {path}"))?;
    }
    println!(
        "created {} function {name} in {}",
        kind_name(kind),
        root.display()
    );
    println!("build:  cd {} && cargo build --release", root.display());
    println!("deploy: geyser deploy {name} target/wasm32-wasip2/release/{crate_name}.wasm");
    Ok(())
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Http => "an HTTP",
        Kind::Event => "an event",
        Kind::Schedule => "a scheduled",
    }
}

fn cargo_toml(name: &str, sdk: &Path) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
crate-type = ["cdylib"]

[dependencies]
geyser-sdk = {{ path = "{sdk}" }}
serde = {{ version = "1", features = ["derive"] }}
serde_json = "1"

[profile.release]
opt-level = "s"
strip = true

# A standalone crate, not part of any enclosing workspace.
[workspace]
"#,
        sdk = sdk.display().to_string().replace('\\', "/")
    )
}

fn source(name: &str, kind: Kind) -> String {
    match kind {
        Kind::Http => format!(
            r#"//! {name}: an HTTP function on Geyser.

use geyser_sdk::http::{{Request, Response, Result, Router}};

#[geyser_sdk::http]
fn handle(req: Request) -> Result {{
    Router::new()
        .get("/", |_req, _params| Ok(Response::text(200, "hello from {name}\n")))
        .get("/count", |_req, _params| {{
            // The tenant's key-value store: durable, shared by every node, atomic increments.
            let n = geyser_sdk::kv::increment("{name}/count", 1)?;
            geyser_sdk::info!("counted {{n}}");
            Ok(Response::json(200, &serde_json::json!({{ "count": n }})))
        }})
        .handle(&req)
}}
"#
        ),
        Kind::Event => format!(
            r#"//! {name}: an event function on Geyser. Returning `Err` makes the host retry the event.

use geyser_sdk::event::Event;

#[geyser_sdk::event]
fn handle(event: Event) -> Result<(), String> {{
    let n = geyser_sdk::kv::increment("{name}/events", 1).map_err(|e| e.to_string())?;
    geyser_sdk::info!("event {{}} on {{}}: {{}} bytes (#{{n}})", event.id, event.topic, event.payload.len());
    Ok(())
}}
"#
        ),
        Kind::Schedule => format!(
            r#"//! {name}: a scheduled function on Geyser.

use geyser_sdk::schedule::Tick;

#[geyser_sdk::schedule]
fn on_tick(tick: Tick) -> Result<(), String> {{
    // The scheduled time identifies the tick: store by it to stay idempotent.
    geyser_sdk::kv::set("{name}/last-tick", tick.scheduled_time.as_bytes()).map_err(|e| e.to_string())?;
    geyser_sdk::info!("tick of {{}} due {{}} fired {{}}", tick.schedule, tick.scheduled_time, tick.fire_time);
    Ok(())
}}
"#
        ),
    }
}

fn readme(name: &str, crate_name: &str, kind: Kind) -> String {
    let try_it = match kind {
        Kind::Http => format!(
            "curl $GEYSER_URL/fn/<your-tenant>/{name}/\ncurl $GEYSER_URL/fn/<your-tenant>/{name}/count"
        ),
        Kind::Event => format!(
            "# deliver one event by hand (Kafka bindings deliver them in production)\n\
             curl -X POST -H \"authorization: Bearer $GEYSER_API_KEY\" -d 'hello' \\\n  \"$GEYSER_URL/v1/functions/{name}/events?topic=demo\""
        ),
        Kind::Schedule => format!(
            "# fire one tick by hand (cron schedules fire them in production)\n\
             curl -X POST -H \"authorization: Bearer $GEYSER_API_KEY\" \"$GEYSER_URL/v1/functions/{name}/ticks\""
        ),
    };
    format!(
        r#"# {name}

{kind} function for Geyser, generated by `geyser new`.

```sh
rustup target add wasm32-wasip2        # once
cargo build --release                  # target is set in .cargo/config.toml
export GEYSER_URL=http://127.0.0.1:8080 GEYSER_API_KEY=gsk_...
geyser deploy {name} target/wasm32-wasip2/release/{crate_name}.wasm
{try_it}
geyser logs {name}
```
"#,
        kind = match kind {
            Kind::Http => "An HTTP",
            Kind::Event => "An event",
            Kind::Schedule => "A scheduled",
        }
    )
}
