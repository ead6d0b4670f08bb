//! Plastic networks on any layout and through checkpoints: a small hpc_benchmark (models/hpc_benchmark.toml
//! at scale 0.02 with reduced in-degrees) gives the same spikes and the same final weights (a digest over
//! every (pre, post, weight)) on 1, 2 and 4 ranks and 1-3 threads; a run stopped mid-way and resumed on
//! another layout is bit for bit the straight run, snapshots included; a damaged shard is refused; the
//! static variant and the weight summary say what they should.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::time::Duration;

use arrow_array::{Array, Float64Array, UInt32Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use common::{run_cajal, run_microcircuit_model, scratch_dir};

const MODEL: &str = "models/hpc_benchmark.toml";

use common::SMALL_HPC as SMALL;

fn run(out: &Path, extra: &[&str]) -> Value {
    let mut args = SMALL.to_vec();
    args.extend_from_slice(extra);
    run_microcircuit_model(MODEL, out, &args)
}

/// Every snapshot row (time bits, pre, post, weight bits) of a projection, sorted.
fn snapshot_rows(out: &Path, label: &str) -> Vec<(u64, u32, u32, u64)> {
    let mut rows = Vec::new();
    for e in std::fs::read_dir(out.join("weights")).unwrap() {
        let path = e.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(!name.ends_with(".partial"), "an unfinished part: {name}");
        if !name.starts_with(&format!("{label}-rank")) {
            continue;
        }
        let file = std::fs::File::open(&path).unwrap();
        for batch in ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap() {
            let b = batch.unwrap();
            let col = |k: usize| b.column(k).clone();
            let (pre, post) = (col(0), col(1));
            let pre = pre.as_any().downcast_ref::<UInt32Array>().unwrap();
            let post = post.as_any().downcast_ref::<UInt32Array>().unwrap();
            let (time, weight) = (col(2), col(3));
            let time = time.as_any().downcast_ref::<Float64Array>().unwrap();
            let weight = weight.as_any().downcast_ref::<Float64Array>().unwrap();
            for r in 0..b.num_rows() {
                rows.push((time.value(r).to_bits(), pre.value(r), post.value(r), weight.value(r).to_bits()));
            }
        }
    }
    rows.sort_unstable();
    rows
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_plastic_network_is_the_same_on_any_layout() {
    let dir = scratch_dir("plastic-layouts");
    let base = run(&dir.join("1x1"), &["--threads", "1", "--record-weights", "E->E@50"]);
    let p = &base["plasticity"];
    let ee = &p["projections"][0];
    assert_eq!(ee["projection"], "E->E");
    assert_eq!(ee["synapse_model"], "stdp_pl_synapse_hom");
    assert_eq!(ee["synapses"], 180 * 400);
    assert!(p["bytes_per_plastic_synapse"].as_f64().unwrap() <= 12.0, "{p}");
    let (lo, hi) = (ee["min_weight"].as_f64().unwrap(), ee["max_weight"].as_f64().unwrap());
    let j_e = 45.609600316540956;
    assert!(lo < j_e && hi > j_e, "weights must have both grown and shrunk: {lo} .. {hi}");
    let counts: u64 = ee["histogram_counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum();
    assert_eq!(counts, 180 * 400);
    assert!(base["synapses"].as_u64().unwrap() == 225 * 500, "{}", base["synapses"]);
    let snapshots = snapshot_rows(&dir.join("1x1"), "E-to-E");
    // Snapshots at 0, 50, 100 and 120 ms (the end), every E->E synapse each time.
    assert_eq!(snapshots.len(), 4 * 180 * 400);
    for layout in [&["--threads", "3"][..], &["--ranks", "2", "--threads", "2"], &["--ranks", "4", "--threads", "1"]] {
        let name = layout.join("");
        let mut args = layout.to_vec();
        args.extend(["--record-weights", "E->E@50"]);
        let s = run(&dir.join(&name), &args);
        assert_eq!(s["spikes_digest"], base["spikes_digest"], "{layout:?}");
        assert_eq!(s["plasticity"]["weights_digest"], p["weights_digest"], "{layout:?}");
        assert_eq!(snapshot_rows(&dir.join(&name), "E-to-E"), snapshots, "{layout:?}");
    }
    // The static variant: no plastic synapse, and other spikes.
    let fixed = run(&dir.join("static"), &["--threads", "2", "--set", "plastic=false"]);
    assert!(fixed.get("plasticity").is_none());
    assert_eq!(fixed["synapses"], base["synapses"]);
    assert_ne!(fixed["spikes_digest"], base["spikes_digest"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_plastic_run_resumes_on_another_layout_bit_for_bit_and_a_damaged_shard_is_refused() {
    let dir = scratch_dir("plastic-checkpoint");
    let straight = run(&dir.join("straight"), &["--threads", "2", "--record-weights", "E->E@10"]);
    let (ck, out) = (dir.join("ck"), dir.join("split"));
    let (cks, outs) = (ck.to_str().unwrap(), out.to_str().unwrap());
    // Stopped at 70 ms on 2 ranks x 1 thread, resumed on 1 rank x 3 threads.
    let first =
        ["--ranks", "2", "--threads", "1", "--record-weights", "E->E@10", "--checkpoint-to", cks, "--stop-after", "70"];
    let mut args = vec!["run", MODEL, "--out", outs];
    args.extend(SMALL);
    args.extend(first);
    let o = run_cajal(&args, Duration::from_secs(300));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A copy of the checkpoint with one byte of a shard flipped is refused before anything runs.
    let damaged = dir.join("damaged");
    copy_dir(&ck, &damaged);
    let name = std::fs::read_to_string(damaged.join("latest")).unwrap();
    let shard = damaged.join(name.trim()).join("shard-00001.bin");
    let mut bytes = std::fs::read(&shard).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 0x10;
    std::fs::write(&shard, &bytes).unwrap();
    let o = run_cajal(
        &["resume", damaged.to_str().unwrap(), "--threads", "1", "--out", dir.join("never").to_str().unwrap()],
        Duration::from_secs(120),
    );
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("shard-00001.bin") && stderr.contains("checksum"), "{stderr}");

    let o = run_cajal(&["resume", cks, "--threads", "3", "--out", outs], Duration::from_secs(300));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let resumed: Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(resumed["resumed_from_step"], 700);
    assert_eq!(resumed["spikes_digest"], straight["spikes_digest"]);
    assert_eq!(resumed["plasticity"]["weights_digest"], straight["plasticity"]["weights_digest"]);
    assert_eq!(snapshot_rows(&out, "E-to-E"), snapshot_rows(&dir.join("straight"), "E-to-E"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The plastic weights each neuron of a checkpoint holds, in the stored order, by gid.
fn checkpoint_weights(ck: &Path) -> std::collections::BTreeMap<u32, Vec<f64>> {
    let name = std::fs::read_to_string(ck.join("latest")).unwrap();
    let dir = ck.join(name.trim());
    let mut out = std::collections::BTreeMap::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if !path.file_name().unwrap().to_string_lossy().starts_with("shard-") {
            continue;
        }
        let shard = cajal::checkpoint::ShardState::decode(&std::fs::read(&path).unwrap(), "test").unwrap();
        let p = shard.plastic.as_ref().unwrap();
        let mut at = 0;
        for (j, gid) in shard.gids().enumerate() {
            let n = p.weight_counts[j] as usize;
            out.insert(gid, p.weights[at..at + n].to_vec());
            at += n;
        }
    }
    out
}

#[test]
fn a_checkpoints_weights_export_as_an_edge_table_that_runs_again() {
    let dir = scratch_dir("plastic-export");
    let (ck, out) = (dir.join("ck"), dir.join("run"));
    let mut args = vec!["run", MODEL, "--out", out.to_str().unwrap()];
    args.extend(SMALL);
    args.extend(["--threads", "2", "--checkpoint-to", ck.to_str().unwrap(), "--stop-after", "70"]);
    let o = run_cajal(&args, Duration::from_secs(300));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let export = dir.join("export");
    let o = run_cajal(
        &["export-connectome", "--from-checkpoint", ck.to_str().unwrap(), "--out", export.to_str().unwrap()],
        Duration::from_secs(300),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Each neuron's plastic rows, ordered by (source, delay) keeping file order, carry the checkpoint's
    // weights in its stored order.
    let stored = checkpoint_weights(&ck);
    let text = std::fs::read_to_string(export.join("edges.csv")).unwrap();
    let mut rows: std::collections::BTreeMap<u32, Vec<(u32, String, f64)>> = Default::default();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("pre,post,weight,delay_ms,synapse"));
    let mut total = 0;
    for line in lines {
        let f: Vec<&str> = line.split(',').collect();
        total += 1;
        if f[4] == "E->E" {
            rows.entry(f[1].parse().unwrap()).or_default().push((
                f[0].parse().unwrap(),
                f[3].to_owned(),
                f[2].parse().unwrap(),
            ));
        } else {
            assert_eq!(f[4], "", "{line}");
        }
    }
    assert_eq!(total, 225 * 500);
    let mut moved = 0;
    for (gid, weights) in &stored {
        let mut mine = rows.remove(gid).unwrap_or_default();
        mine.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let exported: Vec<f64> = mine.iter().map(|r| r.2).collect();
        assert_eq!(&exported, weights, "neuron {gid}");
        moved += weights.iter().filter(|&&w| w != 45.609600316540956).count();
    }
    assert!(rows.is_empty() && moved > 1000, "{moved}");
    // The export runs, and its first snapshot holds the checkpoint's weights as its initial ones.
    let again = dir.join("again");
    let model = export.join("model.toml");
    let s = run_microcircuit_model(
        model.to_str().unwrap(),
        &again,
        &["--t-presim", "0", "--t-sim", "1", "--record-weights", "E->E", "--threads", "2"],
    );
    assert_eq!(s["synapses"], 225 * 500);
    let mut initial: Vec<u64> = snapshot_rows(&again, "E-to-E").iter().filter(|r| r.0 == 0).map(|r| r.3).collect();
    let mut expected: Vec<u64> = stored.values().flatten().map(|w| w.to_bits()).collect();
    initial.sort_unstable();
    expected.sort_unstable();
    assert_eq!(initial, expected);
    let _ = std::fs::remove_dir_all(&dir);
}
