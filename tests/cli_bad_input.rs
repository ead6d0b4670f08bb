//! Bad-input contract of `cajal run`: every kind of bad input exits with code 2 and an `error:` message naming the file, key and value.
//!
//! Each test runs the real binary with a watchdog (a hang fails the test), in its own temporary
//! directory, and checks the exit code and stderr. One positive control checks that a tiny valid run
//! succeeds and writes `summary.json`.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::ffi::OsStr;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a child may run before it counts as a hang.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The exit code of bad input.
const EXIT_BAD_INPUT: i32 = 2;

/// A per-test directory under the system temp dir, removed on drop.
struct TestDir(PathBuf);

impl TestDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("cajal-cli-bad-input-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test's temporary directory");
        Self(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Writes `text` to `name` in this directory and returns the path as a string.
    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).expect("write a variant model file");
        path.display().to_string()
    }

    /// The output directory to pass as `--out`, so that no run writes into the source tree.
    fn out(&self) -> String {
        self.path("out").display().to_string()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn model_path() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models/microcircuit.toml").display().to_string()
}

fn model_text() -> String {
    std::fs::read_to_string(model_path()).expect("read models/microcircuit.toml")
}

/// The model file with the first line that starts with `prefix` (after indentation) replaced by `line`.
fn model_with_line(prefix: &str, line: &str) -> String {
    let text = model_text();
    let mut found = false;
    let lines: Vec<&str> = text
        .lines()
        .map(|l| {
            if !found && l.trim_start().starts_with(prefix) {
                found = true;
                line
            } else {
                l
            }
        })
        .collect();
    assert!(found, "models/microcircuit.toml has no line starting with `{prefix}`");
    lines.join("\n") + "\n"
}

/// Runs the binary with `args` (stdout and stderr go to files, so a full pipe cannot stall it) and a
/// watchdog; returns the exit status and stderr. A child still running after [`TIMEOUT`] is killed and
/// the test fails.
fn run_cajal<S: AsRef<OsStr>>(args: &[S]) -> (ExitStatus, String) {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let logs = TestDir::new(&format!("run{n}"));
    let (out_path, err_path) = (logs.path("stdout"), logs.path("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_cajal"))
        .args(args)
        .env_remove("CAJAL_LOG")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("create the stdout file"))
        .stderr(File::create(&err_path).expect("create the stderr file"))
        .spawn()
        .expect("start the cajal binary");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            break status;
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
            panic!("cajal {:?} still running after {TIMEOUT:?} (hang); stderr so far:\n{stderr}", display(args));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    (status, stderr)
}

fn display<S: AsRef<OsStr>>(args: &[S]) -> Vec<String> {
    args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect()
}

/// Asserts that `cajal ARGS` exits with code 2, that stderr starts with `error:`, mentions each of
/// `must_mention` (case-insensitive) and does not report a panic.
fn expect_bad_input<S: AsRef<OsStr>>(args: &[S], must_mention: &[&str]) {
    let (status, stderr) = run_cajal(args);
    let shown = format!("cajal {:?}\nexit status: {status}\nstderr:\n{stderr}", display(args));
    assert!(!stderr.contains("panicked"), "the binary panicked\n{shown}");
    assert_eq!(status.code(), Some(EXIT_BAD_INPUT), "expected exit code 2 for bad input\n{shown}");
    assert!(stderr.starts_with("error:"), "stderr must start with `error:`\n{shown}");
    let lower = stderr.to_lowercase();
    for m in must_mention {
        assert!(lower.contains(&m.to_lowercase()), "stderr must mention `{m}`\n{shown}");
    }
    // A cause printed twice (`...: cause: cause`, from an error that both shows and chains its source)
    // makes the message harder to read.
    let first_line = stderr.lines().next().unwrap_or_default();
    let parts: Vec<&str> = first_line.split(": ").map(str::trim).filter(|p| p.len() > 8).collect();
    for (i, p) in parts.iter().enumerate() {
        assert!(!parts[i + 1..].contains(p), "stderr repeats `{p}`\n{shown}");
    }
}

/// `cajal run MODEL --out DIR` followed by `extra`.
fn run_args(model: &str, dir: &TestDir, extra: &[&str]) -> Vec<String> {
    let mut args = vec!["run".to_owned(), model.to_owned(), "--out".to_owned(), dir.out()];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// Writes a variant of the model file with one line replaced and expects it to be refused with a message
/// naming the file and `must_mention`.
fn expect_bad_file(test: &str, prefix: &str, line: &str, must_mention: &[&str]) {
    let dir = TestDir::new(test);
    let file = dir.write("model.toml", &model_with_line(prefix, line));
    let mut mention = vec![file.as_str()];
    mention.extend_from_slice(must_mention);
    expect_bad_input(&run_args(&file, &dir, &[]), &mention);
}

/// Runs the stock model with `--set` overrides (and other flags) and expects them to be refused.
fn expect_bad_flags(test: &str, extra: &[&str], must_mention: &[&str]) {
    let dir = TestDir::new(test);
    expect_bad_input(&run_args(&model_path(), &dir, extra), must_mention);
}

// ---- model kinds and subcommands ----

#[test]
fn unknown_model_kind() {
    expect_bad_file("unknown_model_kind", "model = \"microcircuit\"", "model = \"foo\"", &["`model`", "foo"]);
}

#[test]
fn unknown_neuron_model() {
    expect_bad_file(
        "unknown_neuron_model",
        "model = \"iaf_psc_exp\"",
        "model = \"lif_magic\"",
        &["neuron.model", "lif_magic"],
    );
}

#[test]
fn unknown_subcommand() {
    expect_bad_input(&["frobnicate"], &["frobnicate"]);
}

// ---- unreadable or broken model files ----

#[test]
fn missing_model_file() {
    let dir = TestDir::new("missing_model_file");
    let file = dir.path("does-not-exist.toml").display().to_string();
    expect_bad_input(&run_args(&file, &dir, &[]), &[&file]);
}

#[test]
fn empty_model_file() {
    let dir = TestDir::new("empty_model_file");
    let file = dir.write("empty.toml", "");
    expect_bad_input(&run_args(&file, &dir, &[]), &[&file, "empty"]);
}

#[test]
fn whitespace_and_comment_only_model_file() {
    let dir = TestDir::new("whitespace_and_comment_only_model_file");
    let file = dir.write("blank.toml", "  \n\t\n# only a comment\n   # and another\n\n");
    expect_bad_input(&run_args(&file, &dir, &[]), &[&file, "empty"]);
}

#[test]
fn truncated_model_file_mid_line() {
    let dir = TestDir::new("truncated_model_file_mid_line");
    let text = model_text();
    let mut cut = text.len() / 2;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let file = dir.write("truncated.toml", &text[..cut]);
    expect_bad_input(&run_args(&file, &dir, &[]), &[&file]);
}

#[test]
fn truncated_model_file_at_line_end() {
    let dir = TestDir::new("truncated_model_file_at_line_end");
    let text = model_text();
    let lines: Vec<&str> = text.lines().collect();
    let file = dir.write("truncated.toml", &(lines[..lines.len() / 2].join("\n") + "\n"));
    // The first half is valid TOML that lacks keys: the message must name the missing one.
    expect_bad_input(&run_args(&file, &dir, &[]), &[&file, "missing"]);
}

#[test]
fn malformed_toml_syntax() {
    expect_bad_file("malformed_toml_syntax", "tau_m =", "tau_m = = 10.0 ]", &["tau_m"]);
}

// ---- wrong types and non-finite numbers ----

#[test]
fn string_for_number_in_file() {
    expect_bad_file("string_for_number_in_file", "tau_m =", "tau_m = \"ten\"", &["neuron.tau_m", "ten"]);
}

#[test]
fn string_for_number_via_set() {
    expect_bad_flags("string_for_number_via_set", &["--set", "neuron.tau_m=ten"], &["neuron.tau_m", "ten"]);
}

#[test]
fn non_finite_numbers_in_file() {
    for (i, v) in ["nan", "inf", "-inf", "+inf"].iter().enumerate() {
        expect_bad_file(
            &format!("non_finite_numbers_in_file_{i}"),
            "tau_m =",
            &format!("tau_m = {v}"),
            &["neuron.tau_m", v.trim_start_matches('+')],
        );
    }
}

#[test]
fn non_finite_numbers_via_set() {
    for (i, v) in ["nan", "inf", "-inf"].iter().enumerate() {
        let set = format!("neuron.tau_m={v}");
        expect_bad_flags(&format!("non_finite_numbers_via_set_{i}"), &["--set", &set], &["neuron.tau_m", v]);
    }
}

// ---- values out of their domain ----

#[test]
fn non_positive_time_constants_and_capacitance() {
    let model = model_path();
    for key in ["neuron.tau_m", "neuron.tau_syn_ex", "neuron.tau_syn_in", "neuron.C_m"] {
        for value in ["0", "-2.5"] {
            let set = format!("{key}={value}");
            let test = format!("non_positive_{}_{}", key.replace('.', "_"), value.replace(['-', '.'], "m"));
            expect_bad_flags(&test, &["--set", &set], &[&model, key, value]);
        }
    }
}

#[test]
fn non_positive_time_step() {
    let model = model_path();
    for value in ["0", "-0.1"] {
        let set = format!("simulation.dt_ms={value}");
        let test = format!("non_positive_time_step_{}", value.replace(['-', '.'], "m"));
        expect_bad_flags(&test, &["--set", &set], &[&model, "simulation.dt_ms", value]);
    }
}

#[test]
fn delay_rounding_below_one_step() {
    let extra = ["--set", "connectivity.delay_rel_std=0", "--set", "connectivity.delay_exc_mean=0.04"];
    expect_bad_flags("delay_rounding_below_one_step", &extra, &[&model_path(), "connectivity.delay_exc_mean", "0.04"]);
}

#[test]
fn connection_probability_above_one() {
    let mention = [model_path(), "connectivity.conn_probs.0.0".into(), "1.5".into()];
    let mention: Vec<&str> = mention.iter().map(String::as_str).collect();
    expect_bad_flags("connection_probability_above_one", &["--set", "connectivity.conn_probs.0.0=1.5"], &mention);
}

#[test]
fn connection_probability_negative() {
    let mention = [model_path(), "connectivity.conn_probs.0.0".into(), "-0.1".into()];
    let mention: Vec<&str> = mention.iter().map(String::as_str).collect();
    expect_bad_flags("connection_probability_negative", &["--set", "connectivity.conn_probs.0.0=-0.1"], &mention);
}

#[test]
fn population_size_zero_in_file() {
    expect_bad_flags(
        "population_size_zero_in_file",
        &["--set", "populations.N_full.5=0"],
        &[&model_path(), "populations.N_full.5", "0"],
    );
}

#[test]
fn population_size_zero_after_scaling() {
    // At N = 0.0001, L5E (4850), L5I (1065) and L6I (2948) round to 0 neurons.
    expect_bad_flags(
        "population_size_zero_after_scaling",
        &["--scale", "0.0001"],
        &[&model_path(), "populations.N_full", "0.0001", "size 0"],
    );
}

// ---- command-line flags ----

#[test]
fn unknown_set_key() {
    expect_bad_flags("unknown_set_key", &["--set", "neuron.tau_x=3"], &[&model_path(), "neuron.tau_x"]);
}

#[test]
fn set_without_equals_sign() {
    expect_bad_flags("set_without_equals_sign", &["--set", "neuron.tau_m"], &["--set", "neuron.tau_m", "="]);
}

#[test]
fn zero_threads() {
    expect_bad_flags("zero_threads", &["--threads", "0"], &["--threads", "0"]);
}

#[test]
fn zero_scale() {
    expect_bad_flags("zero_scale", &["--scale", "0"], &["--scale", "0"]);
}

#[test]
fn negative_scale() {
    expect_bad_flags("negative_scale_eq", &["--scale=-1"], &["--scale", "-1"]);
    expect_bad_flags("negative_scale", &["--scale", "-1"], &["--scale", "-1"]);
}

#[test]
fn negative_t_sim() {
    expect_bad_flags("negative_t_sim_eq", &["--t-sim=-5"], &["--t-sim", "-5"]);
    expect_bad_flags("negative_t_sim", &["--t-sim", "-5"], &["--t-sim", "-5"]);
}

// ---- output directory ----

#[test]
fn unwritable_output_directory_in_proc() {
    let args =
        ["run", &model_path(), "--out", "/proc/forbidden", "--scale", "0.02", "--t-presim", "0", "--t-sim", "20"];
    expect_bad_input(&args, &["/proc/forbidden"]);
}

#[test]
fn output_directory_under_a_regular_file() {
    let dir = TestDir::new("output_directory_under_a_regular_file");
    let file = dir.write("plain-file", "not a directory\n");
    let out = format!("{file}/out");
    let args = ["run", &model_path(), "--out", &out, "--scale", "0.02", "--t-presim", "0", "--t-sim", "20"];
    expect_bad_input(&args, &[&out]);
}

// ---- positive control ----

#[test]
fn tiny_valid_run_succeeds_and_writes_summary() {
    let dir = TestDir::new("tiny_valid_run_succeeds_and_writes_summary");
    let out = dir.out();
    let args =
        ["run", &model_path(), "--scale", "0.02", "--t-presim", "0", "--t-sim", "20", "--threads", "1", "--out", &out];
    let (status, stderr) = run_cajal(&args);
    assert!(status.success(), "a tiny valid run must succeed; exit status: {status}\nstderr:\n{stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("error:"), "unexpected stderr:\n{stderr}");
    let text = std::fs::read_to_string(dir.path("out/summary.json")).expect("summary.json is written");
    let summary: serde_json::Value = serde_json::from_str(&text).expect("summary.json is valid JSON");
    let neurons = summary["neurons"].as_u64().expect("summary.json has an integer `neurons`");
    assert!(neurons > 0, "neurons = {neurons}");
    let digest = summary["spikes_digest"].as_str().expect("summary.json has a string `spikes_digest`");
    assert!(digest.len() == 16 && digest.chars().all(|c| c.is_ascii_hexdigit()), "spikes_digest = {digest:?}");
}

#[test]
fn background_delay_below_one_step() {
    expect_bad_flags(
        "background_delay_below_one_step",
        &["--set", "background.delay=0.01"],
        &["background.delay", "0.01", "step"],
    );
}

#[test]
fn background_rate_beyond_the_poisson_tables() {
    expect_bad_flags(
        "background_rate_beyond_the_poisson_tables",
        &["--set", "background.rate=1e7"],
        &["background.rate", "Poisson"],
    );
}

#[test]
fn a_model_too_big_for_this_machine_is_refused_before_allocating() {
    // Scale 9: 24 G synapses, about 240 GB on one rank: more than the test machines have.
    expect_bad_flags("a_model_too_big_for_this_machine", &["--scale", "9"], &["synapses of rank 0", "GiB"]);
}

#[test]
fn population_names_must_be_plain_and_distinct() {
    expect_bad_flags(
        "population_names_plain",
        &["--set", "populations.names.1=../../x"],
        &["populations.names.1", "letters"],
    );
    expect_bad_flags(
        "population_names_distinct",
        &["--set", "populations.names.1=L23E"],
        &["populations.names.1", "distinct"],
    );
}

#[test]
fn seed_beyond_2_pow_63_is_refused() {
    expect_bad_flags("seed_beyond_2_pow_63", &["--seed", "18446744073709551615"], &["--seed"]);
}

// ---- checkpoint storage ----

/// Without credentials, S3 is refused before any connection (object_store would otherwise ask the cloud
/// instance-metadata address), naming the variables and `--storage-config` keys that provide them.
#[test]
fn s3_without_credentials_says_which_variables_and_keys_give_them() {
    let dir = TestDir::new("s3_without_credentials");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cajal"));
    let args = ["run", &model_path(), "--scale", "0.02", "--t-sim", "10", "--out", &dir.out()];
    cmd.args(args).args(["--checkpoint-to", "s3://some-bucket/run"]);
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    // An endpoint on a closed loopback port: nothing may be contacted anyway.
    let o = cmd.env("AWS_ENDPOINT_URL", "http://127.0.0.1:9").stdin(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(EXIT_BAD_INPUT), "{stderr}");
    for needle in ["no S3 credentials found", "AWS_ACCESS_KEY_ID", "access_key_id", "--storage-config", "some-bucket"] {
        assert!(stderr.contains(needle), "stderr lacks `{needle}`: {stderr}");
    }
    assert!(!stderr.contains("169.254"), "{stderr}");
}
