//! `cajal run models/optic_lobe.toml`: the documented contract (central voltages as CSV, flyvis' regression
//! response within 1e-4, shortest round-trip floats), the same bytes on 1, 2 and 4 in-process ranks with any
//! thread count, NPY and all-column recording, frames from files, the warm-up, and clear errors (an NPY
//! stimulus whose shape overflows its byte count among them).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::time::Duration;

use common::{repo, run_cajal, scratch_dir};

const PARAMS: &str = "tests/data/optic_lobe/pretrained_flow_0000_000.json";

/// Runs the optic lobe with `extra` flags into `out`; panics with stderr on failure.
fn run_lobe(out: &Path, extra: &[&str]) {
    let mut args = vec!["run", "models/optic_lobe.toml", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run_cajal(&args, Duration::from_secs(300));
    assert!(o.status.success(), "cajal {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
}

/// The contract command of the README, with extra flags.
fn contract(out: &Path, extra: &[&str]) -> String {
    contract_with(out, "constant:0.5", ("0", "240"), extra)
}

/// The contract command with another stimulus and (warm-up, simulated) ms.
fn contract_with(out: &Path, stimulus: &str, (presim, sim): (&str, &str), extra: &[&str]) -> String {
    let mut args = vec!["--params", PARAMS, "--dt-ms", "20", "--t-presim", presim, "--t-sim", sim];
    args.extend_from_slice(&["--stimulus", stimulus, "--record", "central-voltages"]);
    args.extend_from_slice(extra);
    run_lobe(out, &args);
    std::fs::read_to_string(out.join("central_voltages.csv")).unwrap()
}

/// `text` parses to `v` and no decimal with fewer significant digits does.
fn assert_shortest(text: &str, v: f64) {
    let digits = text.trim_start_matches('-').replace('.', "").trim_start_matches('0').trim_end_matches('0').len();
    assert!(digits <= 17, "{text}");
    if digits > 1 {
        let shorter = format!("{:.*e}", digits - 2, v);
        assert_ne!(shorter.parse::<f64>().unwrap(), v, "{text} is not the shortest form ({shorter} round-trips)");
    }
}

fn flyvis_reference() -> serde_json::Value {
    let text = std::fs::read_to_string(repo().join("tests/data/optic_lobe/steady_state_flow_0000_000.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_contract_command_matches_flyvis_regression_response_within_1e_4() {
    let dir = scratch_dir("lobe-contract");
    let csv = contract(&dir, &[]);
    let reference = flyvis_reference();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let types: Vec<&str> = reference["cell_types"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(header, types, "the 65 cell types in connectome order, and nothing else");
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 12, "one row per step");
    let expected = reference["voltage"].as_array().unwrap();
    for (k, (row, want)) in rows.iter().zip(expected).enumerate() {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells.len(), 65);
        for (t, (cell, w)) in cells.iter().zip(want.as_array().unwrap()).enumerate() {
            let v: f64 = cell.parse().unwrap();
            assert_shortest(cell, v);
            let w = w.as_f64().unwrap();
            assert!((v - w).abs() < 1e-4, "row {k} ({} steps), {}: {v} vs flyvis {w}", k + 1, types[t]);
        }
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["neurons"], 45_669);
    assert_eq!(summary["synapses"], 1_513_231);
    assert_eq!(summary["steps"], 12);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_same_bytes_on_1_2_and_4_ranks_and_any_thread_count() {
    let dir = scratch_dir("lobe-ranks");
    let base = contract(&dir.join("1x1"), &["--threads", "1"]);
    for (ranks, threads, balancer) in
        [("1", "3", "round-robin"), ("2", "1", "round-robin"), ("2", "2", "cost-blocks"), ("4", "1", "round-robin")]
    {
        let out = dir.join(format!("{ranks}x{threads}-{balancer}"));
        let csv = contract(&out, &["--ranks", ranks, "--threads", threads, "--balancer", balancer]);
        assert_eq!(csv, base, "{ranks} ranks x {threads} threads, {balancer}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn all_column_recording_to_npy_agrees_with_csv_and_names_each_column() {
    let dir = scratch_dir("lobe-npy");
    let flags = ["--params", PARAMS, "--t-sim", "100", "--record", "all-voltages", "--record-types", "T4a,Mi1"];
    run_lobe(&dir.join("csv"), &flags);
    run_lobe(&dir.join("npy"), &[&flags[..], &["--record-format", "npy", "--ranks", "2"]].concat());
    let (shape, values) = cajal_core::npy::read_2d(&dir.join("npy/voltages.npy")).unwrap();
    assert_eq!(shape, (5, 2 * 721), "5 steps x (721 Mi1 + 721 T4a)");
    let csv = std::fs::read_to_string(dir.join("csv/voltages.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0], "Mi1@-15:0", "types in file order, then columns by u, v");
    assert_eq!(header[721], "T4a@-15:0");
    let from_csv: Vec<f64> = lines.flat_map(|l| l.split(',').map(|x| x.parse::<f64>().unwrap())).collect();
    assert_eq!(from_csv, values);
    let index = std::fs::read_to_string(dir.join("npy/voltages_index.csv")).unwrap();
    assert_eq!(index.lines().count(), 1 + 2 * 721);
    assert!(index.lines().nth(1).unwrap().starts_with("0,"), "{index:.80}");
    assert!(index.contains(",T4a,0,0\n"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn frames_from_csv_and_npy_files_drive_the_photoreceptors_like_the_same_constant() {
    let dir = scratch_dir("lobe-frames");
    let constant = contract(&dir.join("constant"), &[]);
    let row = vec!["0.5"; 721].join(",");
    std::fs::write(dir.join("frames.csv"), format!("{row}\n{row}\n")).unwrap();
    let mut w = cajal_core::npy::NpyWriter::create(&dir.join("frames.npy"), 1, 721).unwrap();
    w.write(&[0.5; 721]).unwrap();
    w.finish().unwrap();
    for file in ["frames.csv", "frames.npy"] {
        let spec = format!("frames:{}", dir.join(file).display());
        let csv = contract_with(&dir.join(file.replace('.', "-")), &spec, ("0", "240"), &[]);
        assert_eq!(csv, constant, "{file}");
    }
    // A different movie gives a different response.
    let half = contract_with(&dir.join("dark"), "constant:0.1", ("0", "240"), &[]);
    assert_ne!(half, constant);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_warm_up_is_not_recorded_and_holds_the_first_frame() {
    let dir = scratch_dir("lobe-presim");
    let whole = contract(&dir.join("whole"), &[]);
    let tail = contract_with(&dir.join("tail"), "constant:0.5", ("40", "200"), &[]);
    let whole_rows: Vec<&str> = whole.lines().collect();
    let tail_rows: Vec<&str> = tail.lines().collect();
    assert_eq!(tail_rows.len(), 1 + 10);
    assert_eq!(tail_rows[0], whole_rows[0]);
    assert_eq!(&tail_rows[1..], &whole_rows[3..], "after a 2-step warm-up under the same input");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_a_parameter_file_the_model_runs_from_flyvis_initial_values() {
    use cajal_models::optic_lobe::dynamics::GradedNetwork;
    use cajal_models::optic_lobe::recipe::initial_params;
    use cajal_models::optic_lobe::Connectome;
    let dir = scratch_dir("lobe-initial");
    run_lobe(&dir, &["--t-sim", "100", "--record-types", "R1,T4a,Mi1"]);
    let csv = std::fs::read_to_string(dir.join("central_voltages.csv")).unwrap();
    assert_eq!(csv.lines().next().unwrap(), "R1,Mi1,T4a", "types in connectome order");
    let rows: Vec<Vec<f64>> = csv.lines().skip(1).map(|l| l.split(',').map(|x| x.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 5);
    // The one-process reference integrator (synapses expanded in flyvis' order, weights per synapse)
    // with flyvis' initial values, input 0.5 (the model file's default stimulus), dt 20 ms.
    let c = Connectome::read(&repo().join("models/optic_lobe/fib25-fib19_v2.2.json"), 15, true).unwrap();
    let central: Vec<u32> = ["R1", "Mi1", "T4a"]
        .iter()
        .map(|n| c.gid(c.types.iter().position(|t| t.name == *n).unwrap(), (0, 0)).unwrap())
        .collect();
    let mut expected = Vec::new();
    GradedNetwork::new(&c, &initial_params(&c)).run(0.02, 5, 0.5, |_, v| {
        expected.push(central.iter().map(|&g| v[g as usize]).collect::<Vec<_>>());
    });
    assert_eq!(rows, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn recordings_longer_than_one_flush_arrive_whole_and_in_order_from_several_ranks() {
    let dir = scratch_dir("lobe-long");
    let flags = ["--params", PARAMS, "--t-sim", "6000", "--stimulus", "flash:1:0:400", "--record-types", "T4a,T5a,Mi1"];
    run_lobe(&dir.join("one"), &flags);
    run_lobe(&dir.join("four"), &[&flags[..], &["--ranks", "4", "--threads", "1"]].concat());
    let one = std::fs::read_to_string(dir.join("one/central_voltages.csv")).unwrap();
    assert_eq!(one.lines().count(), 1 + 300, "300 steps: more than one 256-step flush");
    assert_eq!(std::fs::read_to_string(dir.join("four/central_voltages.csv")).unwrap(), one);
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_bad(args: &[&str]) -> String {
    let o = run_cajal(args, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(2), "cajal {args:?} should exit 2; stderr: {stderr}");
    stderr
}

#[test]
fn bad_optic_lobe_input_exits_2_and_says_what_is_wrong() {
    let dir = scratch_dir("lobe-bad");
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let lobe = |extra: &[&str]| {
        let mut a = vec!["run", "models/optic_lobe.toml", "--out", out, "--t-sim", "40"];
        a.extend_from_slice(extra);
        run_bad(&a)
    };
    let text = std::fs::read_to_string(repo().join(PARAMS)).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["edges_syn_count"].as_array_mut().unwrap().truncate(2000);
    let short = dir.join("short.json");
    std::fs::write(&short, v.to_string()).unwrap();
    let e = lobe(&["--params", short.to_str().unwrap()]);
    assert!(e.contains("short.json") && e.contains("edges_syn_count") && e.contains("2355"), "{e}");
    let e = lobe(&["--stimulus", "edge:0:10:sideways"]);
    assert!(e.contains("stimulus `edge:0:10:sideways`") && e.contains("on or off"), "{e}");
    let e = lobe(&["--record-types", "T4a,T99"]);
    assert!(e.contains("recording.types") && e.contains("T99"), "{e}");
    let e = lobe(&["--sync-timer"]);
    assert!(e.contains("--sync-timer") && e.contains("optic_lobe"), "{e}");
    let broken = dir.join("broken.json");
    let connectome = std::fs::read_to_string(repo().join("models/optic_lobe/fib25-fib19_v2.2.json")).unwrap();
    std::fs::write(&broken, &connectome[..connectome.len() / 2]).unwrap();
    let e = lobe(&["--set", &format!("connectome.file=\"{}\"", broken.display())]);
    assert!(e.contains("broken.json") && e.contains("not a flyvis connectome"), "{e}");
    let e = run_bad(&["run", "models/microcircuit.toml", "--out", out, "--params", PARAMS]);
    assert!(e.contains("--params") && e.contains("optic_lobe"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn npy_frames_whose_shape_overflows_exit_2_naming_the_file_and_shape() {
    // Issue 13, point 9: (721, 2^61) float64 frames are 721 x 2^64 bytes; the byte count wrapped to 0, an
    // empty data section passed, and transposing 2^61 frames panicked (exit 101).
    let dir = scratch_dir("lobe-npy-overflow");
    let frames = dir.join("huge.npy");
    let shape = "(721, 2305843009213693952)";
    let header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}\n");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    std::fs::write(&frames, bytes).unwrap();
    let out = dir.join("out");
    let stimulus = format!("frames:{}", frames.display());
    let e = run_bad(&["run", "models/optic_lobe.toml", "--stimulus", &stimulus, "--out", out.to_str().unwrap()]);
    assert!(e.contains("huge.npy") && e.contains(shape) && e.contains("too large"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
