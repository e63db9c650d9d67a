//! Test helpers: builds the guest components the tests deploy — `examples/*` and
//! `tests/fixtures/*` — from source, once per test process, into their own target directory (so
//! the build does not wait on the lock of the `cargo test` that runs us); and creates fresh
//! PostgreSQL databases.

pub mod kafka;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Guest packages the tests use, by package name.
const GUESTS: &[&str] = &[
    "example-hello",
    "example-ticket-reservation",
    "geyser-fixture-probe",
    "geyser-fixture-legacy-counter",
    "geyser-fixture-wstd",
    "geyser-fixture-ticker",
    "example-ad-reports-ingest",
    "example-ad-reports-report",
    "example-ad-reports-api",
    "example-event-counter",
    "geyser-fixture-init-trap",
];

/// A component whose core module has `functions` functions of arithmetic: slow to compile
/// (20,000 take seconds), and with no handler, so its deploy ends 400 once compiled. For the
/// compile-admission test and the deploy-storm benchmark.
pub fn slow_to_compile_component(functions: usize) -> Vec<u8> {
    let mut text = String::from("(component (core module");
    for i in 0..functions {
        text.push_str(&format!(
            " (func (export \"f{i}\") (param i32) (result i32) local.get 0"
        ));
        for k in 0..60 {
            text.push_str(&format!(" i32.const {k} i32.add i32.const {i} i32.mul"));
        }
        text.push(')');
    }
    text.push_str(") (core instance (instantiate 0)))");
    wat::parse_str(&text).expect("the generated component is valid text")
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("tests/support sits two levels below the workspace root")
        .to_path_buf()
}

fn build_all() -> Result<PathBuf, String> {
    let root = workspace_root();
    let target_dir = root.join("target").join("test-guests");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .env("CARGO_TARGET_DIR", &target_dir)
        // Flags meant for the host build (coverage, sanitizers) do not apply to guests.
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    for guest in GUESTS {
        command.args(["-p", guest]);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run cargo to build guests: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building guest components failed (is the wasm32-wasip2 target installed? \
             `rustup target add wasm32-wasip2`):\n{}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(target_dir.join("wasm32-wasip2").join("release"))
}

/// The bytes of a guest component, e.g. `guest("example_hello")`.
pub fn guest(file_stem: &str) -> Vec<u8> {
    std::fs::read(guest_path(file_stem)).expect("guest component was built")
}

/// The path of a built guest component.
pub fn guest_path(file_stem: &str) -> PathBuf {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match DIR.get_or_init(build_all) {
        Ok(dir) => dir.join(format!("{file_stem}.wasm")),
        Err(err) => panic!("{err}"),
    }
}

/// A JavaScript or Python guest built from source with its own toolchain (npm, PyPI): runs
/// `build` with `sh` in `dir` (relative to the workspace root) once per test process and
/// returns `dir/artifact`. Python builds share the componentize-py of `scripts/guest-tools.sh`.
pub fn polyglot_guest(dir: &str, build: &str, artifact: &str) -> PathBuf {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    static BUILT: Mutex<BTreeMap<String, Result<PathBuf, String>>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let result = built.entry(dir.to_owned()).or_insert_with(|| {
        let root = workspace_root();
        let output = Command::new("sh")
            .args(["-c", build])
            .current_dir(root.join(dir))
            .env("GEYSER_PY_TOOLS", root.join("target/guest-tools/py"))
            .output()
            .map_err(|e| format!("cannot run sh: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "`{build}` in {dir} failed:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(root.join(dir).join(artifact))
    });
    match result {
        Ok(path) => path.clone(),
        Err(err) => panic!("{err}"),
    }
}

/// The PostgreSQL database that hosts the per-test databases (`GEYSER_TEST_POSTGRES_URL`).
pub fn postgres_admin_url() -> String {
    std::env::var("GEYSER_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Creates an empty database and returns its URL. `scripts/postgres-up.sh` drops those of
/// earlier runs.
pub async fn fresh_postgres_database() -> String {
    use sqlx::Connection;
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let admin_url = postgres_admin_url();
    let name = format!(
        "geyser_e2e_{}_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst),
        rand::random::<u32>()
    );
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .unwrap_or_else(|e| {
            panic!("PostgreSQL must run at {admin_url} (scripts/test.sh starts it): {e}")
        });
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b)
        .unwrap_or(&admin_url);
    format!("{base}/{name}")
}
