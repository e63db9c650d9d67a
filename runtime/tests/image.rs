//! The container image as `scripts/image.sh` builds it (podman, a local Debian base, the binary
//! this build made): it runs as a non-root user, its data directory is a volume, `geyser` is
//! its entrypoint, and a node started from it answers `/readyz`.

mod common;

use common::{BIN, free_port};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn podman(args: &[&str]) -> std::process::Output {
    Command::new("podman")
        .arg("--runtime")
        .arg("runc")
        .args(args)
        .output()
        .expect("run podman (scripts/image.sh installs it)")
}

/// Removes the container and the image on drop.
struct Cleanup {
    container: String,
    image: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", &self.container]);
        let _ = podman(&["rmi", "-f", &self.image]);
    }
}

#[test]
fn the_image_runs_a_ready_node_as_a_non_root_user() {
    let tag = format!("localhost/geyser:test-{}", std::process::id());
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/image.sh");
    let built = Command::new(script)
        .env("GEYSER_BIN", BIN)
        .env("IMAGE_TAG", &tag)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&built.stdout);
    assert!(
        built.status.success(),
        "image.sh failed: {stdout}{}",
        String::from_utf8_lossy(&built.stderr)
    );
    assert_eq!(stdout.trim(), format!("image: {tag}"));
    let container = format!("geyser-test-{}", std::process::id());
    let _cleanup = Cleanup {
        container: container.clone(),
        image: tag.clone(),
    };

    let inspect = podman(&[
        "image",
        "inspect",
        &tag,
        "--format",
        "{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Volumes}}",
    ]);
    let config = String::from_utf8_lossy(&inspect.stdout);
    assert_eq!(
        config.trim(),
        "geyser|[\"/usr/local/bin/geyser\"]|{\"/var/lib/geyser\":{}}"
    );

    let port = free_port();
    let run = podman(&[
        "run",
        "-d",
        "--name",
        &container,
        "--network",
        "host",
        "--ulimit",
        "nofile=20000:20000",
        "--ulimit",
        "nproc=32768:32768",
        "-e",
        "GEYSER_ADMIN_KEY=admin-image",
        &tag,
        "serve",
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let body = common::client_runtime().block_on(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let reply = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await;
            if let Ok(reply) = reply
                && reply.status() == 200
            {
                break reply.text().await.unwrap();
            }
            assert!(
                Instant::now() < deadline,
                "the container's node never became ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert!(body.contains("\"ready\":true"), "{body}");
    let id = podman(&["exec", &container, "id", "-u"]);
    assert_eq!(String::from_utf8_lossy(&id.stdout).trim(), "10001");
    // The data directory is the volume, written by the node as that user.
    let listed = podman(&["exec", &container, "ls", "/var/lib/geyser"]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("geyser.db"), "{listed}");
}
