//! Helpers shared by the integration tests: running the `cajal` binary with a timeout in a fresh
//! directory, and reading its summary.

#![allow(clippy::unwrap_used)] // tests fail loudly by design
#![allow(dead_code)]

pub mod recordings;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty directory for one test.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cajal-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `cajal` with `args`, failing the test if it runs longer than `limit`. Output goes to files (a pipe
/// nobody reads could fill up and stall the child), read back when it ends.
pub fn run_cajal(args: &[&str], limit: Duration) -> Output {
    let dir = scratch_dir(&format!("output-{}", NEXT_RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    let (out_path, err_path) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(env!("CARGO_BIN_EXE_cajal"))
        .args(args)
        .current_dir(repo())
        .env_remove("CAJAL_LOG")
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("cajal {args:?} ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output =
        Output { status, stdout: std::fs::read(&out_path).unwrap(), stderr: std::fs::read(&err_path).unwrap() };
    let _ = std::fs::remove_dir_all(&dir);
    output
}

/// Distinguishes the output folders of concurrent runs within one test binary.
static NEXT_RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Runs the microcircuit and returns its parsed summary.json; panics with stderr if the run fails.
pub fn run_microcircuit(out: &Path, extra: &[&str]) -> serde_json::Value {
    let out_s = out.to_str().unwrap();
    let mut args = vec!["run", "models/microcircuit.toml", "--out", out_s];
    args.extend_from_slice(extra);
    let o = run_cajal(&args, Duration::from_secs(600));
    assert!(o.status.success(), "cajal {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A cluster config for tests: `ranks` x 1 thread on one node, the job's files under `dir`, the test's own
/// cajal binary, the launcher and continuation given.
pub fn test_cluster_config(dir: &Path, ranks: u32, launcher: &str, continuation: &str) -> PathBuf {
    let text = format!(
        r#"[job]
name = "cajal-test"
nodes = 1
ntasks_per_node = {ranks}
cpus_per_task = 1
time = "00:30:00"
signal_lead_s = 120
output = "{out}/job-%j.out"

[node]
cores = {cores}

[launcher]
command = "{launcher}"

[environment]
setup = ["export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1"]

[checkpoint]
url = "{ck}"
every_ms = 500.0
keep = 2
continue = "{continuation}"

[run]
binary = "{binary}"
workdir = "{workdir}"
"#,
        out = dir.display(),
        cores = ranks.max(2),
        ck = dir.join("checkpoints").display(),
        binary = env!("CARGO_BIN_EXE_cajal"),
        workdir = repo().display(),
    );
    let path = dir.join("cluster.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `mpirun -n <n> cajal` with the settings Open MPI needs in containers (root, oversubscription, yielding
/// when idle so that oversubscribed ranks do not starve each other, local launch), run from the repository.
pub fn mpirun_cajal(n: usize) -> Command {
    let mut cmd = Command::new("mpirun");
    cmd.args(["-n", &n.to_string(), "--oversubscribe", "--bind-to", "none"])
        .arg(env!("CARGO_BIN_EXE_cajal"))
        .current_dir(repo())
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .env("OMPI_MCA_mpi_yield_when_idle", "1")
        .env("OMPI_MCA_plm_rsh_agent", "");
    cmd
}

/// Runs the model file `model` and returns its parsed summary.json; panics with stderr if the run fails.
pub fn run_microcircuit_model(model: &str, out: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["run", model, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run_cajal(&args, Duration::from_secs(600));
    assert!(o.status.success(), "cajal {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// A `connectome` model file of two populations A and B reading `nodes` and `edges.csv` beside it:
/// microcircuit neurons (iaf_psc_exp, t_ref 2 ms), no background, initial V_m -65 mV unless the node table
/// says otherwise, `t_sim_ms` after no warm-up, `seed`.
pub fn two_population_connectome(nodes: &str, t_sim_ms: f64, seed: u64) -> String {
    format!(
        r#"model = "connectome"
[simulation]
dt_ms = 0.1
t_presim_ms = 0.0
t_sim_ms = {t_sim_ms:?}
seed = {seed}
[tables]
nodes = "{nodes}"
edges = "edges.csv"
[neuron]
model = "iaf_psc_exp"
C_m = 250.0
tau_m = 10.0
tau_syn_ex = 0.5
tau_syn_in = 0.5
E_L = -65.0
V_th = -50.0
V_reset = -65.0
t_ref = 2.0
I_e = 0.0
[populations]
names = ["A", "B"]
V0_mean = [-65.0, -65.0]
V0_std = [0.0, 0.0]
I_e = [0.0, 0.0]
bg_rate_hz = [0.0, 0.0]
bg_weight_pA = [0.0, 0.0]
bg_delay_ms = [1.0, 1.0]
"#
    )
}

/// models/hpc_benchmark.toml made small for tests: 225 neurons (scale 0.02), in-degrees of 400 E and
/// 100 I, 20 ms warm-up + 100 ms.
pub const SMALL_HPC: [&str; 14] = [
    "--scale",
    "0.02",
    "--set",
    "projections.0.indegree=400",
    "--set",
    "projections.1.indegree=400",
    "--set",
    "projections.2.indegree=100",
    "--set",
    "projections.3.indegree=100",
    "--t-presim",
    "20",
    "--t-sim",
    "100",
];

/// Memory the kernel says is available (`MemAvailable`), in bytes.
pub fn available_memory_bytes() -> f64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kib: f64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib * 1024.0
}
