//! State recording (NEST's multimeter, `[[record]]` and `--record-state`): recorded membranes equal the
//! closed form at the stamps NEST would give them; a mixed-model network records the same tables (and
//! spikes) on 1, 2 and 4 ranks and 1-3 threads, also through a checkpoint resumed on another layout;
//! bad recordings are refused before the run with exit 2, naming what is wrong.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use arrow_array::{Array, Float64Array, UInt32Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use common::recordings::{table, Row};
use common::{run_cajal, scratch_dir};

const IAF_PSC_EXP: &str = "model = \"iaf_psc_exp\", C_m = 250.0, tau_m = 10.0, tau_syn_ex = 0.5, tau_syn_in = 0.5, \
                           t_ref = 2.0, E_L = -65.0, V_reset = -65.0, V_th = -50.0";

/// Single neurons under DC: `A` (iaf_psc_exp, I_e 500 pA: fires first at 13.9 ms) and `D` (iaf_psc_delta,
/// NEST's defaults, I_e 300 pA: settles at -58 mV, below threshold). 2 ms warm-up, 20 ms analysed.
fn dc_model(dir: &Path) -> PathBuf {
    let text = format!(
        r#"model = "network"
[simulation]
dt_ms = 0.1
t_presim_ms = 2.0
t_sim_ms = 20.0
seed = 1
[scaling]
N = 1.0
[[populations]]
name = "A"
size = 3
V_m = -65.0
neuron = {{ {IAF_PSC_EXP}, I_e = 500.0 }}
[[populations]]
name = "D"
size = 2
V_m = -70.0
neuron = {{ model = "iaf_psc_delta", I_e = 300.0 }}
[[record]]
population = "D"
variables = ["V_m"]
interval_ms = 0.5
format = "npy"
"#
    );
    let path = dir.join("dc.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A mixed network: iaf_psc_exp, iaf_psc_alpha and iaf_psc_delta populations, connected with each other,
/// each with a Poisson background, recorded with two multimeters from the file.
fn mixed_model(dir: &Path) -> PathBuf {
    let text = format!(
        r#"model = "network"
[simulation]
dt_ms = 0.1
t_presim_ms = 5.0
t_sim_ms = 40.0
seed = 7
[scaling]
N = 1.0
[[populations]]
name = "X"
size = 40
V_m = -60.0
neuron = {{ {IAF_PSC_EXP}, I_e = 200.0 }}
background = {{ rate_hz = 8000.0, weight = 87.8, delay_ms = 1.5 }}
[[populations]]
name = "Y"
size = 30
V_m = -62.0
neuron = {{ model = "iaf_psc_alpha", I_e = 150.0 }}
background = {{ rate_hz = 9000.0, weight = 60.0, delay_ms = 1.0 }}
[[populations]]
name = "Z"
size = 30
V_m = -65.0
neuron = {{ model = "iaf_psc_delta", I_e = 0.0 }}
background = {{ rate_hz = 12000.0, weight = 0.9, delay_ms = 1.2 }}
[[projections]]
source = "X"
target = "Y"
rule = "fixed_indegree"
indegree = 10
weight = 50.0
delay_ms = 1.5
[[projections]]
source = "Y"
target = "Z"
rule = "pairwise_bernoulli"
p = 0.3
weight = 0.5
delay_ms = 1.0
[[projections]]
source = "Z"
target = "X"
rule = "fixed_indegree"
indegree = 8
weight = -120.0
delay_ms = 2.0
[[record]]
population = "Z"
ids = "0-4,20"
variables = ["V_m"]
interval_ms = 0.3
[[record]]
population = "Y"
label = "alpha"
variables = ["I_syn_ex", "V_m"]
interval_ms = 0.1
"#
    );
    let path = dir.join("mixed.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run_ok(args: &[&str]) -> serde_json::Value {
    let o = run_cajal(args, Duration::from_secs(120));
    assert!(o.status.success(), "cajal {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    let out = args.iter().position(|a| *a == "--out").map(|i| PathBuf::from(args[i + 1])).unwrap();
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn recorded_membranes_equal_the_closed_form_at_nests_stamps() {
    let dir = scratch_dir("state-dc");
    let model = dc_model(&dir);
    let out = dir.join("out");
    let o = out.to_str().unwrap();
    run_ok(&[
        "run",
        model.to_str().unwrap(),
        "--out",
        o,
        "--threads",
        "2",
        "--record-state",
        "A[0,2]:V_m+I_syn_ex@0.1",
    ]);
    let v_free = |v0: f64, e_l: f64, i_e: f64, tau: f64, c: f64, t: f64| {
        let decay = (-t / tau).exp();
        e_l + (v0 - e_l) * decay + i_e * tau / c * (1.0 - decay)
    };

    // iaf_psc_exp, every step after the 2 ms warm-up: stamps 2.1, 2.2, ..., 22.0 for neurons 0 and 2 only.
    let a = table(&out, "A");
    assert_eq!(a.len(), 2 * 200);
    for (k, (id, t, vals)) in a.iter().enumerate() {
        let (t, step) = (f64::from_bits(*t), 21 + (k % 200) as u64);
        assert_eq!(*id, if k < 200 { 0 } else { 2 });
        assert_eq!(t, step as f64 / 10.0, "the state after step s is stamped (s + 1) dt");
        assert_eq!(f64::from_bits(vals[1]), 0.0, "no synaptic input");
        let v = f64::from_bits(vals[0]);
        // It fires in step 138 (stamp 13.9 ms) and is held at V_reset for t_ref = 2 ms.
        if t <= 13.8 + 1e-9 {
            let want = v_free(-65.0, -65.0, 500.0, 10.0, 250.0, t);
            assert!((v - want).abs() < 1e-9, "A at {t} ms: {v} vs {want}");
        } else if t <= 15.9 + 1e-9 {
            assert_eq!(v, -65.0, "refractory at {t} ms");
        }
    }
    assert!(a.iter().any(|(_, t, v)| f64::from_bits(*t) > 14.0 && f64::from_bits(v[0]) < -64.0), "no reset seen");

    // iaf_psc_delta (NEST's defaults: C_m 250, tau_m 10, E_L -70) every 0.5 ms: stamps 2.5, 3.0, ..., 22.0.
    let d = table(&out, "D");
    assert_eq!(d.len(), 2 * 40);
    for (k, (id, t, vals)) in d.iter().enumerate() {
        let t = f64::from_bits(*t);
        assert_eq!(*id, 3 + (k / 40) as u32, "node ids are the network's gids");
        assert_eq!(t, 2.5 + 0.5 * (k % 40) as f64);
        let want = v_free(-70.0, -70.0, 300.0, 10.0, 250.0, t);
        let v = f64::from_bits(vals[0]);
        assert!((v - want).abs() < 1e-9, "D at {t} ms: {v} vs {want}");
    }
    let index = std::fs::read_to_string(out.join("state/D_index.csv")).unwrap();
    assert_eq!(index, "column,name\n0,node_id\n1,time_ms\n2,V_m\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The recording tables and sorted Parquet spikes of a run's output folder.
fn everything(out: &Path) -> (Vec<Row>, Vec<Row>, Vec<Row>) {
    (table(out, "Z"), table(out, "alpha"), table(out, "X"))
}

/// Every spike of `out/spikes` (Parquet parts), as (sender, time bits), sorted.
fn parquet_spikes(out: &Path) -> Vec<(u32, u64)> {
    let mut spikes = Vec::new();
    for e in std::fs::read_dir(out.join("spikes")).unwrap() {
        let path = e.unwrap().path();
        assert!(path.extension().is_some_and(|x| x == "parquet"), "{}", path.display());
        let reader =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap().build().unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let ids = batch.column(0).as_any().downcast_ref::<UInt32Array>().unwrap();
            let t = batch.column(1).as_any().downcast_ref::<Float64Array>().unwrap();
            spikes.extend((0..batch.num_rows()).map(|r| (ids.value(r), t.value(r).to_bits())));
        }
    }
    spikes.sort_by(|a, b| (a.0, f64::from_bits(a.1)).partial_cmp(&(b.0, f64::from_bits(b.1))).unwrap());
    spikes
}

/// Every spike of `out/spikes` (CSV files), as (sender, time bits), sorted.
fn csv_spikes(out: &Path) -> Vec<(u32, u64)> {
    let mut spikes = Vec::new();
    for e in std::fs::read_dir(out.join("spikes")).unwrap() {
        for line in std::fs::read_to_string(e.unwrap().path()).unwrap().lines().skip(1) {
            let (s, t) = line.split_once(',').unwrap();
            spikes.push((s.parse().unwrap(), t.parse::<f64>().unwrap().to_bits()));
        }
    }
    spikes.sort_by(|a, b| (a.0, f64::from_bits(a.1)).partial_cmp(&(b.0, f64::from_bits(b.1))).unwrap());
    spikes
}

#[test]
fn a_mixed_network_records_the_same_tables_on_any_layout_and_through_a_resume_elsewhere() {
    let dir = scratch_dir("state-layouts");
    let model = mixed_model(&dir);
    let m = model.to_str().unwrap();
    // The flag adds a third recording (all of X, two variables, NEST's default interval of 1 ms).
    let record = ["--record-state", "X:V_m+I_syn_in"];
    let one = dir.join("one");
    let base = run_ok(&[&["run", m, "--out", one.to_str().unwrap(), "--threads", "1"], &record[..]].concat());
    let reference = everything(&one);
    let (z, alpha, x) = &reference;
    // Stamps are multiples of 0.3 ms from time 0 (not from the warm-up's end): 5.1, 5.4, ..., 45.0.
    assert_eq!(z.len(), 6 * (450 / 3 - 50 / 3), "6 neurons every 0.3 ms over (5, 45] ms");
    assert_eq!(alpha.len(), 30 * 400);
    assert_eq!(x.len(), 40 * 40);
    assert_eq!(f64::from_bits(z[0].1), 5.1);
    assert!(alpha.iter().any(|r| f64::from_bits(r.2[0]) > 0.0), "synaptic input is recorded");
    assert!(base["spike_count"].as_u64().unwrap() > 50, "the network is active: {base}");
    let csv = csv_spikes(&one);

    let layouts: [&[&str]; 4] = [
        &["--threads", "3"],
        &["--ranks", "2", "--threads", "2", "--spike-format", "parquet"],
        &["--ranks", "4", "--threads", "1", "--state-format", "npy"],
        &["--ranks", "2", "--threads", "3"],
    ];
    for (k, layout) in layouts.iter().enumerate() {
        let out = dir.join(format!("layout{k}"));
        let s = run_ok(&[&["run", m, "--out", out.to_str().unwrap()], &record[..], layout].concat());
        assert_eq!(s["spikes_digest"], base["spikes_digest"], "{layout:?}");
        assert!(everything(&out) == reference, "{layout:?}: the recordings differ");
        if layout.contains(&"parquet") {
            assert_eq!(parquet_spikes(&out), csv, "{layout:?}: Parquet spikes are the CSV spikes");
        }
    }

    // 2 ranks x 2 threads, a checkpoint every 10 ms, stopped at 25 ms (in the middle of a part), resumed
    // on 3 ranks x 1 thread: the same tables, no row twice, none lost.
    let split = dir.join("split");
    let ck = dir.join("ck");
    let (sp, ckp) = (split.to_str().unwrap(), ck.to_str().unwrap());
    let o = run_cajal(
        &[
            &["run", m, "--out", sp, "--ranks", "2", "--threads", "2", "--spike-format", "parquet"],
            &record[..],
            &["--checkpoint-to", ckp, "--checkpoint-every", "10", "--stop-after", "25"],
        ]
        .concat(),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // What a failed attempt to resume would have left: a finished part past the checkpoint, an unfinished
    // one. The resume removes both.
    let state = split.join("state");
    let part = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("alpha-rank0-0-100"))
        .unwrap();
    std::fs::copy(&part, state.join("alpha-rank0-250-300.parquet")).unwrap();
    std::fs::copy(&part, state.join("alpha-rank1-250.parquet.partial")).unwrap();
    std::fs::copy(&part, split.join("spikes/Y-rank0-250.parquet.partial")).unwrap();
    let resumed = run_ok(&["resume", ckp, "--ranks", "3", "--threads", "1", "--out", sp]);
    assert_eq!(resumed["spikes_digest"], base["spikes_digest"]);
    assert!(everything(&split) == reference, "the resumed recordings differ from the straight run's");
    assert_eq!(parquet_spikes(&split), csv, "resumed Parquet spikes");
    let _ = std::fs::remove_dir_all(&dir);
}

fn refused(args: &[String], mention: &[&str]) {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = run_cajal(&args, Duration::from_secs(60));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "cajal {args:?}: {err}");
    for m in mention {
        assert!(err.contains(m), "cajal {args:?}: `{m}` not in: {err}");
    }
}

#[test]
fn bad_recordings_are_refused_before_the_run_naming_what_is_wrong() {
    let dir = scratch_dir("state-bad");
    let model = dc_model(&dir);
    let (m, out) = (model.to_str().unwrap(), dir.join("out"));
    let o = out.to_str().unwrap();
    let run = |extra: &[&'static str]| -> Vec<String> {
        ["run", m, "--out", o].iter().chain(extra).map(|s| (*s).to_owned()).collect()
    };
    // A variable the model lacks: the message lists the model's recordables.
    refused(
        &run(&["--record-state", "A:V_x"]),
        &["--record-state A:V_x", "V_x", "iaf_psc_exp", "V_m, I_syn_ex, I_syn_in"],
    );
    refused(&run(&["--record-state", "D:I_syn_ex"]), &["iaf_psc_delta", "its recordables are: V_m"]);
    refused(&run(&["--record-state", "Q:V_m"]), &["no population Q", "A, D"]);
    refused(&run(&["--record-state", "A[3]:V_m"]), &["neuron 3 is not in population A of 3"]);
    refused(&run(&["--record-state", "A:V_m@0.25"]), &["--record-state A:V_m@0.25", "multiple of dt"]);
    refused(&run(&["--record-state", "A[0-:V_m"]), &["--record-state A[0-:V_m"]);
    refused(&run(&["--record-state", "A:V_m", "--state-format", "hdf5"]), &["hdf5"]);
    // The model file's own record table, through --set.
    refused(&run(&["--set", "record.0.variables=[\"V_x\"]"]), &["record.0", "V_x", "its recordables are: V_m"]);
    // Every neuron every step for 10^11 ms: far more than any disk holds; refused before anything is built.
    refused(
        &run(&["--record-state", "A:V_m+I_syn_ex+I_syn_in@0.1", "--t-sim", "100000000000"]),
        &["GiB", "free", "state recordings"],
    );
    assert!(!out.join("state").exists(), "nothing was written");
    let _ = std::fs::remove_dir_all(&dir);
}
