//! Per-neuron parameters and initial potentials from a node table's columns (`I_e`, `V_th`, `V_m`, ...):
//! each neuron fires as the closed-form solution for its own parameters predicts, CSV and Parquet tables
//! agree on any layout, and bad values are refused naming file, row or neuron, and value.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::time::Duration;

use common::{run_cajal, run_microcircuit_model, scratch_dir, two_population_connectome};

/// Columns: I_e (pA), V_th (mV), V_m (initial, mV). Neuron 0 stays below rheobase (375 pA), 1 and 2 fire
/// periodically, 3 has the current of 2 but a threshold it cannot reach, 4 starts above threshold.
const NODES: [(u32, &str, f64, f64, f64); 5] = [
    (0, "A", 0.0, -50.0, -65.0),
    (1, "A", 400.0, -50.0, -65.0),
    (2, "A", 1000.0, -50.0, -65.0),
    (3, "A", 1000.0, -20.0, -65.0),
    (4, "B", 0.0, -50.0, -40.0),
];

fn write_tables(dir: &Path, nodes_csv: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("nodes.csv"), nodes_csv).unwrap();
    // One synapse, too weak to matter, so the network has a delay.
    std::fs::write(dir.join("edges.csv"), "pre,post,weight,delay_ms\n2,0,0.001,1.0\n").unwrap();
    std::fs::write(dir.join("model.toml"), two_population_connectome("nodes.csv", 1000.0, 1)).unwrap();
    std::fs::write(dir.join("model-parquet.toml"), two_population_connectome("nodes.parquet", 1000.0, 1)).unwrap();
}

fn nodes_csv() -> String {
    let mut text = String::from("id,population,I_e,V_th,V_m\n");
    for (id, pop, i_e, v_th, v_m) in NODES {
        text.push_str(&format!("{id},{pop},{i_e},{v_th},{v_m}\n"));
    }
    text
}

/// Spike times (ms) per sender from every spike file of a run.
fn spikes_by_sender(out: &Path) -> std::collections::BTreeMap<u32, Vec<f64>> {
    let mut by = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(out.join("spikes")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines().skip(1) {
            let (sender, t) = line.split_once(',').unwrap();
            by.entry(sender.parse().unwrap()).or_insert_with(Vec::new).push(t.parse().unwrap());
        }
    }
    by
}

#[test]
fn node_table_parameters_give_each_neuron_its_own_threshold_current_and_start() {
    let dir = scratch_dir("node-params");
    write_tables(&dir, &nodes_csv());
    let summary =
        run_microcircuit_model(dir.join("model.toml").to_str().unwrap(), &dir.join("out"), &["--threads", "1"]);
    let spikes = spikes_by_sender(&dir.join("out"));
    // A neuron driven from rest by a constant current I reaches threshold after t* = -tau ln(1 - theta/(I R))
    // (R = tau / C, theta = V_th - E_L), then stays refractory for t_ref. On the 0.1 ms grid a spike is
    // stamped at the end of the step that crosses, so the first spike comes at t* rounded up to the grid
    // and every interval lies within two steps above t_ref + t*.
    let (tau, c, t_ref, dt) = (10.0, 250.0, 2.0, 0.1);
    for (id, i_e) in [(1u32, 400.0f64), (2, 1000.0)] {
        let t_star = -tau * (1.0 - 15.0 / (i_e * tau / c)).ln();
        let times = &spikes[&id];
        assert!(
            times[0] >= t_star && times[0] <= t_star + dt + 1e-9,
            "neuron {id}: first {} ms, t* {t_star}",
            times[0]
        );
        for w in times.windows(2) {
            let isi = w[1] - w[0];
            assert!(isi >= t_ref + t_star - 1e-9 && isi <= t_ref + t_star + 2.0 * dt, "neuron {id}: interval {isi} ms");
        }
        assert!(times.last().unwrap() + t_ref + t_star + 2.0 * dt > 1000.0, "neuron {id}: fires to the end");
    }
    assert!(!spikes.contains_key(&0), "below rheobase");
    assert!(!spikes.contains_key(&3), "its own V_th of -20 mV is out of reach");
    assert_eq!(spikes[&4], vec![0.1], "starts above threshold: fires in the first step only");
    // The same table as Parquet, on two ranks and with the METIS balancer: the same spikes.
    let column = |k: usize| NODES.iter().map(|n| [n.2, n.3, n.4][k]).collect::<Vec<f64>>();
    let batch = cajal_net::parquet_tables::node_batch(
        NODES.iter().map(|n| n.0).collect(),
        NODES.iter().map(|n| n.1.to_owned()).collect(),
        None,
        vec![("I_e", column(0)), ("V_th", column(1)), ("V_m", column(2))],
    )
    .unwrap();
    cajal_net::parquet_tables::TableWriter::create(&dir.join("nodes.parquet"), &batch).unwrap().finish().unwrap();
    for layout in [&["--ranks", "2", "--threads", "1"][..], &["--ranks", "2", "--balancer", "metis"]] {
        let parquet = run_microcircuit_model(
            dir.join("model-parquet.toml").to_str().unwrap(),
            &dir.join("out-parquet"),
            &[&["--no-spikes"], layout].concat(),
        );
        assert_eq!(parquet["spikes_digest"], summary["spikes_digest"], "{layout:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_node_parameters_exit_2_and_name_the_row_or_neuron_and_value() {
    let dir = scratch_dir("node-params-bad");
    let good = nodes_csv();
    let case = |name: &str, nodes: &str| {
        let d = dir.join(name);
        write_tables(&d, nodes);
        let o = run_cajal(
            &["run", d.join("model.toml").to_str().unwrap(), "--t-sim", "10", "--out", d.join("out").to_str().unwrap()],
            Duration::from_secs(60),
        );
        let e = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{name}: {e}");
        e
    };
    let e = case("text", &good.replacen("1,A,400,", "1,A,four hundred,", 1));
    assert!(e.contains("nodes.csv") && e.contains("row 3") && e.contains("I_e `four hundred` is not a number"), "{e}");
    let e = case("nan", &good.replacen("2,A,1000,-50,", "2,A,1000,NaN,", 1));
    assert!(e.contains("row 4") && e.contains("V_th `NaN` is not a finite number"), "{e}");
    let e = case("case", &good.replacen("I_e,V_th,V_m", "I_e,v_th,V_m", 1));
    assert!(e.contains("nodes.csv") && e.contains("column `v_th` is not `V_th`"), "{e}");
    let with_c_m = good.replacen("V_m\n", "V_m,C_m\n", 1).replace("\n", ",250\n").replacen(",250\n", "\n", 1);
    let e = case("capacitance", &with_c_m.replacen("3,A,1000,-20,-65,250", "3,A,1000,-20,-65,-1", 1));
    assert!(e.contains("nodes.csv: row 5") && e.contains("C_m"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
