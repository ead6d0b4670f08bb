//! Checkpoint and resume through a real S3 server (moto on 127.0.0.1, started by scripts/test.sh, which
//! exports AWS_ENDPOINT_URL, the credentials and CAJAL_TEST_S3_BUCKET).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{run_cajal, run_microcircuit, scratch_dir};

fn bucket() -> String {
    std::env::var("CAJAL_TEST_S3_BUCKET")
        .expect("CAJAL_TEST_S3_BUCKET is set by scripts/test.sh (S3 tests need its server)")
}

#[test]
fn a_run_checkpointed_to_s3_resumes_bit_for_bit_on_other_ranks() {
    let base = scratch_dir("s3-ckpt");
    let plan = ["--scale", "0.1", "--t-presim", "500", "--t-sim", "500", "--no-spikes"];
    let straight = run_microcircuit(&base.join("straight"), &plan);
    let url = format!("s3://{}/resume-{}", bucket(), std::process::id());
    let out = base.join("out");
    let mut run =
        vec!["run", "models/microcircuit.toml", "--out", out.to_str().unwrap(), "--ranks", "2", "--threads", "1"];
    run.extend_from_slice(&plan);
    run.extend_from_slice(&[
        "--checkpoint-to",
        &url,
        "--checkpoint-every",
        "100",
        "--stop-after",
        "400",
        "--keep",
        "2",
        "--part-size-mib",
        "5",
        "--zstd-level",
        "3",
    ]);
    let o = run_cajal(&run, Duration::from_secs(300));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let list = run_cajal(&["checkpoints", "list", &url], Duration::from_secs(60));
    let listing = String::from_utf8_lossy(&list.stdout).into_owned();
    assert_eq!(listing.lines().count(), 2, "retention keeps the newest 2: {listing}");
    assert!(listing.contains("step 4000") && listing.contains("latest"), "{listing}");
    let inspect = run_cajal(&["checkpoints", "inspect", &url], Duration::from_secs(60));
    let manifest: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(manifest["zstd_level"], 3, "--zstd-level reaches the shards");
    assert_eq!(manifest["ranks"], 2);
    let v = run_cajal(&["checkpoints", "verify", &url], Duration::from_secs(60));
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stderr));
    let o = run_cajal(
        &["resume", &url, "--ranks", "3", "--threads", "1", "--out", out.to_str().unwrap()],
        Duration::from_secs(300),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for key in ["spikes_digest", "spike_count", "populations"] {
        assert_eq!(s[key], straight[key], "{key}");
    }
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn checkpointing_to_a_missing_bucket_is_a_clear_error() {
    let base = scratch_dir("s3-missing");
    let o = run_cajal(
        &[
            "run",
            "models/microcircuit.toml",
            "--scale",
            "0.02",
            "--t-sim",
            "10",
            "--t-presim",
            "0",
            "--out",
            base.to_str().unwrap(),
            "--checkpoint-to",
            "s3://no-such-bucket-cajal/run",
        ],
        Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no-such-bucket-cajal") && stderr.contains("bucket does not exist"), "{stderr}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn s3_settings_can_come_from_a_storage_config_file_instead_of_the_environment() {
    let base = scratch_dir("s3-config");
    let endpoint = std::env::var("AWS_ENDPOINT_URL").expect("set by scripts/test.sh");
    let config = base.join("storage.toml");
    std::fs::write(
        &config,
        format!("[s3]\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\nallow_http = true\n"),
    )
    .unwrap();
    let url = format!("s3://{}/config-{}", bucket(), std::process::id());
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_cajal"))
            .args(args)
            .current_dir(common::repo())
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_REGION")
            .output()
            .unwrap()
    };
    let (cfg, out) = (config.to_str().unwrap(), base.join("out"));
    let o = run(&[
        "run",
        "models/microcircuit.toml",
        "--scale",
        "0.02",
        "--t-presim",
        "0",
        "--t-sim",
        "50",
        "--no-spikes",
        "--out",
        out.to_str().unwrap(),
        "--checkpoint-to",
        &url,
        "--stop-after",
        "20",
        "--storage-config",
        cfg,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["checkpoints", "verify", &url, "--storage-config", cfg]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&["resume", &url, "--storage-config", cfg, "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::write(&config, "[s3]\nendpiont = \"http://x\"\n").unwrap();
    let o = run(&["checkpoints", "verify", &url, "--storage-config", cfg]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("s3.endpiont") && stderr.contains("unknown S3 setting"), "{stderr}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn a_rate_network_checkpointed_to_s3_resumes_to_the_same_voltages() {
    let base = scratch_dir("s3-sernn");
    let plan = ["--t-presim", "50", "--t-sim", "300", "--threads", "1"];
    let run_to = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec!["run", "models/sernn.toml", "--out", out.to_str().unwrap()];
        args.extend_from_slice(&plan);
        args.extend_from_slice(extra);
        let o = run_cajal(&args, Duration::from_secs(120));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    run_to(&base.join("straight"), &[]);
    let url = format!("s3://{}/sernn-{}", bucket(), std::process::id());
    let out = base.join("out");
    run_to(&out, &["--ranks", "2", "--checkpoint-to", &url, "--checkpoint-every", "100", "--stop-after", "200"]);
    let o = run_cajal(&["resume", &url, "--ranks", "3", "--threads", "1"], Duration::from_secs(120));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let voltages = |d: &std::path::Path| std::fs::read(d.join("voltages.csv")).unwrap();
    assert!(voltages(&out) == voltages(&base.join("straight")), "resumed from S3, the voltages differ");
    let _ = std::fs::remove_dir_all(&base);
}
