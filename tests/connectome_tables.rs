//! Connectome import and export: `cajal export-connectome` (CSV or Parquet) then `cajal run` of the exported
//! model gives the spikes of the generated network (microcircuit and spatial sheet, with positions and the
//! spatial and METIS balancers, on several ranks that each read only their rows), and bad tables exit 2
//! naming file, row and value.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::time::Duration;

use common::{run_cajal, run_microcircuit_model, scratch_dir};

fn export(model: &str, out: &Path, extra: &[&str]) {
    let mut args = vec!["export-connectome", model, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run_cajal(&args, Duration::from_secs(300));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn an_exported_microcircuit_runs_again_to_the_same_spikes_on_any_layout() {
    let dir = scratch_dir("tables-mc");
    export("models/microcircuit.toml", &dir.join("tables"), &["--scale", "0.05"]);
    let flags = ["--t-presim", "100", "--t-sim", "300", "--no-spikes"];
    let generated = run_microcircuit_model(
        "models/microcircuit.toml",
        &dir.join("gen"),
        &[&flags[..], &["--scale", "0.05"]].concat(),
    );
    let imported = dir.join("tables/model.toml");
    let layouts: [&[&str]; 4] = [
        &["--threads", "1"],
        &["--ranks", "2", "--threads", "1"],
        &["--ranks", "3", "--balancer", "cost-blocks"],
        &["--ranks", "3", "--threads", "1", "--balancer", "metis"],
    ];
    for (k, layout) in layouts.into_iter().enumerate() {
        let s = run_microcircuit_model(
            imported.to_str().unwrap(),
            &dir.join(format!("imp{k}")),
            &[&flags[..], layout].concat(),
        );
        assert_eq!(s["spikes_digest"], generated["spikes_digest"], "{layout:?}");
        assert_eq!(s["synapses"], generated["synapses"]);
        let per_rank: u64 = s["per_rank"].as_array().unwrap().iter().map(|r| r["synapses"].as_u64().unwrap()).sum();
        assert_eq!(per_rank, s["synapses"].as_u64().unwrap(), "each rank holds only its own rows");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_exported_spatial_sheet_keeps_its_positions_for_the_spatial_balancer() {
    let dir = scratch_dir("tables-sheet");
    export("models/spatial_sheet.toml", &dir.join("tables"), &["--scale", "0.01"]);
    let header = std::fs::read_to_string(dir.join("tables/nodes.csv")).unwrap();
    assert!(header.starts_with("id,population,x,y,z\n0,E,"), "{:.60}", header);
    let flags = ["--t-presim", "50", "--t-sim", "150", "--no-spikes"];
    let generated = run_microcircuit_model(
        "models/spatial_sheet.toml",
        &dir.join("gen"),
        &[&flags[..], &["--scale", "0.01"]].concat(),
    );
    let s = run_microcircuit_model(
        dir.join("tables/model.toml").to_str().unwrap(),
        &dir.join("imp"),
        &[&flags[..], &["--ranks", "2", "--balancer", "spatial"]].concat(),
    );
    assert_eq!(s["spikes_digest"], generated["spikes_digest"]);
    // A model whose size comes from its tables is not scalable: --scale is refused by its kind, by name.
    let model = dir.join("tables/model.toml");
    let out = dir.join("scaled");
    let o = run_cajal(
        &["run", model.to_str().unwrap(), "--scale", "0.5", "--out", out.to_str().unwrap()],
        Duration::from_secs(60),
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("--scale") && e.contains("connectome model"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn parquet_tables_round_trip_and_bad_ones_are_refused() {
    let dir = scratch_dir("tables-parquet");
    export("models/spatial_sheet.toml", &dir.join("t"), &["--scale", "0.01", "--format", "parquet"]);
    let model = std::fs::read_to_string(dir.join("t/model.toml")).unwrap();
    assert!(model.contains("nodes = \"nodes.parquet\"") && model.contains("edges = \"edges.parquet\""));
    let flags = ["--t-presim", "50", "--t-sim", "150", "--no-spikes"];
    let generated = run_microcircuit_model(
        "models/spatial_sheet.toml",
        &dir.join("gen"),
        &[&flags[..], &["--scale", "0.01"]].concat(),
    );
    let imported = run_microcircuit_model(
        dir.join("t/model.toml").to_str().unwrap(),
        &dir.join("imp"),
        &[&flags[..], &["--ranks", "2", "--balancer", "spatial"]].concat(),
    );
    assert_eq!(imported["spikes_digest"], generated["spikes_digest"]);
    // Ids that do not start at 0, and a file that is not Parquet.
    let bad_nodes =
        cajal_net::parquet_tables::node_batch(vec![5, 6], vec!["E".into(), "E".into()], None, vec![]).unwrap();
    cajal_net::parquet_tables::TableWriter::create(&dir.join("t/nodes.parquet"), &bad_nodes).unwrap().finish().unwrap();
    let run_bad = |what: &str| {
        let o = run_cajal(
            &[
                "run",
                dir.join("t/model.toml").to_str().unwrap(),
                "--t-sim",
                "10",
                "--out",
                dir.join("o").to_str().unwrap(),
            ],
            Duration::from_secs(60),
        );
        let e = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{what}: {e}");
        e
    };
    let e = run_bad("ids");
    assert!(e.contains("nodes.parquet") && e.contains("row 1") && e.contains("id 5, expected 0"), "{e}");
    std::fs::write(dir.join("t/nodes.parquet"), b"not parquet at all").unwrap();
    let e = run_bad("garbage");
    assert!(e.contains("nodes.parquet") && e.contains("not a Parquet file"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_tables_exit_2_and_name_file_row_and_value() {
    let dir = scratch_dir("tables-bad");
    export("models/microcircuit.toml", &dir.join("t"), &["--scale", "0.02"]);
    let nodes = std::fs::read_to_string(dir.join("t/nodes.csv")).unwrap();
    let edges = std::fs::read_to_string(dir.join("t/edges.csv")).unwrap();
    let model = std::fs::read_to_string(dir.join("t/model.toml")).unwrap();
    let case = |name: &str, nodes_text: &str, edges_text: &str, model_text: &str| {
        let d = dir.join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("nodes.csv"), nodes_text).unwrap();
        std::fs::write(d.join("edges.csv"), edges_text).unwrap();
        std::fs::write(d.join("model.toml"), model_text).unwrap();
        let o = run_cajal(
            &["run", d.join("model.toml").to_str().unwrap(), "--t-sim", "10", "--out", d.join("out").to_str().unwrap()],
            Duration::from_secs(60),
        );
        let e = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{name}: {e}");
        e
    };
    let e = case("gap", &nodes.replacen("\n3,", "\n4,", 1), &edges, &model);
    assert!(e.contains("nodes.csv") && e.contains("row 5") && e.contains("id 4, expected 3"), "{e}");
    let e = case("duplicate", &nodes.replacen("\n3,", "\n2,", 1), &edges, &model);
    assert!(e.contains("nodes.csv") && e.contains("row 5") && e.contains("id 2, expected 3"), "{e}");
    let e = case("split", &format!("{nodes}{},L23E\n", nodes.lines().count() - 1), &edges, &model);
    assert!(e.contains("population L23E: its ids are not contiguous"), "{e}");
    // The first edge row with one field changed.
    let first: Vec<&str> = edges.lines().nth(1).unwrap().split(',').collect();
    let with = |field: usize, value: &str| {
        let mut row: Vec<&str> = first.clone();
        row[field] = value;
        edges.replacen(&first.join(","), &row.join(","), 1)
    };
    let e = case("range", &nodes, &with(0, "99999"), &model);
    assert!(e.contains("edges.csv") && e.contains("row 2") && e.contains("pre 99999 is out of range"), "{e}");
    let e = case("nan", &nodes, &with(2, "NaN"), &model);
    assert!(e.contains("row 2") && e.contains("weight `NaN` is not a finite number"), "{e}");
    let e = case("delay", &nodes, &with(3, "0.01"), &model);
    assert!(e.contains("row 2") && e.contains("0.01"), "{e}");
    let e = case("column", &nodes, &edges.replacen("delay_ms", "delay", 1), &model);
    assert!(e.contains("no column `delay_ms`"), "{e}");
    let e = case("parse", &nodes, &with(0, "five"), &model);
    assert!(e.contains("pre `five` is not an id"), "{e}");
    let e = case("names", &nodes, &edges, &model.replacen("\"L23E\", \"L23I\"", "\"L23I\", \"L23E\"", 1));
    assert!(e.contains("populations.names") && e.contains("id order"), "{e}");
    let o = run_cajal(
        &[
            "export-connectome",
            "models/microcircuit.toml",
            "--format",
            "hdf5",
            "--out",
            dir.join("p").to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("hdf5"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn edge_tables_of_synapse_counts_with_per_population_signs_give_the_same_network() {
    let dir = scratch_dir("tables-counts");
    export("models/microcircuit.toml", &dir.join("t"), &["--scale", "0.02"]);
    // The same synapses as counts: n_syn = |weight| with a 1 pA synapse, signed by the source population
    // (the microcircuit's weights keep the sign of their source: excitatory +, inhibitory -).
    let edges = std::fs::read_to_string(dir.join("t/edges.csv")).unwrap();
    let mut counts = String::from("pre,post,n_syn,delay_ms\n");
    for line in edges.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        counts.push_str(&format!("{},{},{},{}\n", f[0], f[1], f[2].trim_start_matches('-'), f[3]));
    }
    std::fs::write(dir.join("t/counts.csv"), counts).unwrap();
    let model = std::fs::read_to_string(dir.join("t/model.toml")).unwrap();
    let counted = model
        .replace("edges = \"edges.csv\"", "edges = \"counts.csv\"\nweight_per_synapse_pA = 1.0")
        .replace("bg_delay_ms = [", "sign = [1, -1, 1, -1, 1, -1, 1, -1]\nbg_delay_ms = [");
    std::fs::write(dir.join("t/counted.toml"), counted).unwrap();
    let flags = ["--t-presim", "50", "--t-sim", "150", "--no-spikes"];
    let weighted = run_microcircuit_model(dir.join("t/model.toml").to_str().unwrap(), &dir.join("w"), &flags);
    let from_counts = run_microcircuit_model(dir.join("t/counted.toml").to_str().unwrap(), &dir.join("c"), &flags);
    assert_eq!(from_counts["spikes_digest"], weighted["spikes_digest"]);
    // Without a weight per synapse, counts are refused; without delays, the model's default is used.
    let o = run_cajal(
        &[
            "run",
            dir.join("t/model.toml").to_str().unwrap(),
            "--set",
            "tables.edges=\"counts.csv\"",
            "--out",
            dir.join("x").to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("no column `weight`") && e.contains("n_syn"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_network_of_another_neuron_model_runs_alike_on_any_layout_and_through_a_checkpoint() {
    let dir = scratch_dir("tables-alpha");
    export("models/microcircuit.toml", &dir.join("tables"), &["--scale", "0.03"]);
    let model = dir.join("tables/model.toml");
    let model = model.to_str().unwrap();
    // The exported [neuron] table holds exactly iaf_psc_alpha's parameters too.
    let flags = ["--t-presim", "50", "--t-sim", "250", "--no-spikes", "--set", "neuron.model=\"iaf_psc_alpha\""];
    let exp = run_microcircuit_model(model, &dir.join("exp"), &flags[..4]);
    let one = run_microcircuit_model(model, &dir.join("one"), &[&flags[..], &["--threads", "1"]].concat());
    assert_ne!(one["spikes_digest"], exp["spikes_digest"], "the model changes the dynamics");
    assert!(one["spike_count"].as_u64().unwrap() > 100, "the alpha network is active: {}", one["spike_count"]);
    let three =
        run_microcircuit_model(model, &dir.join("three"), &[&flags[..], &["--ranks", "3", "--threads", "1"]].concat());
    assert_eq!(three["spikes_digest"], one["spikes_digest"], "3 ranks");
    let (ck, out) = (dir.join("ck"), dir.join("ck-out"));
    let ck_flags = ["--ranks", "2", "--threads", "1", "--checkpoint-to", ck.to_str().unwrap(), "--stop-after", "150"];
    let o = run_cajal(
        &[&["run", model, "--out", out.to_str().unwrap()][..], &flags[..], &ck_flags[..]].concat(),
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run_cajal(&["resume", ck.to_str().unwrap(), "--threads", "2"], Duration::from_secs(120));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let resumed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(resumed["spikes_digest"], one["spikes_digest"], "stopped on 2 ranks, resumed on 1");
    let _ = std::fs::remove_dir_all(&dir);
}
