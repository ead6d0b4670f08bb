//! The spatial sheet model: about 500 synapses per neuron at any scale, the same spikes on 1, 2 and 4 ranks
//! with any thread count and every balancer, every rank's remote spikes reported, the spatial balancer
//! sending at least 3x fewer of them than round-robin, and a checkpoint of a spatial decomposition resuming
//! on another rank count and balancer.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use common::{run_microcircuit_model, scratch_dir};

const SHORT: [&str; 7] = ["--scale", "0.01", "--t-presim", "50", "--t-sim", "200", "--no-spikes"];

#[test]
fn the_sheet_keeps_its_in_degree_when_scaled_and_fires_at_a_few_hertz() {
    for scale in ["0.01", "0.03"] {
        let dir = scratch_dir(&format!("sheet-scale-{scale}"));
        let s = run_microcircuit_model(
            "models/spatial_sheet.toml",
            &dir,
            &["--scale", scale, "--t-presim", "100", "--t-sim", "300", "--no-spikes"],
        );
        let per_neuron = s["synapses"].as_f64().unwrap() / s["neurons"].as_f64().unwrap();
        assert!((per_neuron - 500.0).abs() < 10.0, "scale {scale}: {per_neuron} synapses per neuron");
        for pop in s["populations"].as_array().unwrap() {
            let rate = pop["rate_hz"].as_f64().unwrap();
            assert!((1.0..30.0).contains(&rate), "scale {scale}, {}: {rate} Hz", pop["name"]);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    // Smaller, the sheet would be narrower than the neighbourhoods.
    let dir = scratch_dir("sheet-too-small");
    let o = common::run_cajal(
        &["run", "models/spatial_sheet.toml", "--scale", "0.005", "--out", dir.to_str().unwrap()],
        std::time::Duration::from_secs(60),
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("scaling.N") && e.contains("N >= 0.0100"), "{e}");
}

#[test]
fn the_same_spikes_on_1_2_and_4_ranks_with_all_four_balancers() {
    let dir = scratch_dir("sheet-ranks");
    let base = run_microcircuit_model(
        "models/spatial_sheet.toml",
        &dir.join("1"),
        &[&SHORT[..], &["--threads", "1"]].concat(),
    );
    for (ranks, threads, balancer) in [
        ("2", "1", "round-robin"),
        ("2", "2", "cost-blocks"),
        ("2", "1", "spatial"),
        ("2", "1", "metis"),
        ("4", "1", "round-robin"),
        ("4", "1", "cost-blocks"),
        ("4", "2", "spatial"),
        ("4", "1", "metis"),
    ] {
        let flags = [&SHORT[..], &["--ranks", ranks, "--threads", threads, "--balancer", balancer]].concat();
        let s = run_microcircuit_model(
            "models/spatial_sheet.toml",
            &dir.join(format!("{ranks}-{threads}-{balancer}")),
            &flags,
        );
        assert_eq!(s["spikes_digest"], base["spikes_digest"], "{ranks} ranks x {threads} threads, {balancer}");
        assert_eq!(s["synapses"], base["synapses"]);
        let per_rank = s["per_rank"].as_array().unwrap();
        assert_eq!(per_rank.len(), ranks.parse::<usize>().unwrap());
        for r in per_rank {
            let sent = r["remote_spikes_sent"].as_u64().unwrap();
            assert_eq!(sent * 8, r["bytes_sent"].as_u64().unwrap());
            assert!(sent > 0, "{balancer}: rank {} sent no spikes", r["rank"]);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_spatial_and_metis_balancers_send_at_least_3x_fewer_remote_spikes_than_round_robin() {
    let dir = scratch_dir("sheet-remote");
    // A 0.8 mm sheet cut into four 0.4 mm squares: with the model's 0.2 mm neighbourhoods nearly every neuron
    // would be near a cut, so the test narrows them to 0.05 mm (the regime of a large sheet on few ranks).
    let mut flags: Vec<String> =
        ["--scale", "0.04", "--t-presim", "50", "--t-sim", "200", "--no-spikes", "--ranks", "4"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
    for p in 0..4 {
        flags.extend(["--set".into(), format!("projections.{p}.cutoff_mm=0.05")]);
        flags.extend(["--set".into(), format!("projections.{p}.length_mm=0.025")]);
    }
    flags.extend(["--threads".into(), "1".into()]);
    let remote = |balancer: &str| {
        let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
        args.extend_from_slice(&["--balancer", balancer]);
        let s = run_microcircuit_model("models/spatial_sheet.toml", &dir.join(balancer), &args);
        let sent: u64 =
            s["per_rank"].as_array().unwrap().iter().map(|r| r["remote_spikes_sent"].as_u64().unwrap()).sum();
        (sent, s["spikes_digest"].clone(), s["balancer"].clone())
    };
    let (round_robin, digest, _) = remote("round-robin");
    let (spatial, spatial_digest, name) = remote("spatial");
    assert_eq!(spatial_digest, digest);
    assert_eq!(name, "spatial", "summary.json records the balancer by its command-line name");
    assert!(spatial * 3 <= round_robin, "spatial {spatial} vs round-robin {round_robin} remote spikes");
    let (metis, metis_digest, _) = remote("metis");
    assert_eq!(metis_digest, digest);
    assert!(metis * 3 <= round_robin, "metis {metis} vs round-robin {round_robin} remote spikes");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_checkpoint_of_a_spatial_decomposition_resumes_on_other_ranks_and_balancers() {
    let dir = scratch_dir("sheet-resume");
    let straight = run_microcircuit_model("models/spatial_sheet.toml", &dir.join("straight"), &SHORT);
    let ck = dir.join("ck");
    let out = dir.join("out");
    let mut args = vec!["run", "models/spatial_sheet.toml", "--out", out.to_str().unwrap()];
    args.extend_from_slice(&SHORT);
    args.extend_from_slice(&[
        "--ranks",
        "2",
        "--balancer",
        "spatial",
        "--checkpoint-to",
        ck.to_str().unwrap(),
        "--stop-after",
        "150",
    ]);
    let o = common::run_cajal(&args, std::time::Duration::from_secs(120));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = common::run_cajal(&["resume", ck.to_str().unwrap(), "--ranks", "3"], std::time::Duration::from_secs(120));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let resumed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(resumed["spikes_digest"], straight["spikes_digest"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_grid_placed_sheet_sits_on_its_lattice_with_delays_d0_plus_d_over_v_and_any_layout_gives_its_spikes() {
    let dir = scratch_dir("sheet-grid");
    let grid = ["--set", "populations.placement=[\"grid\", \"grid\"]"];
    let o = common::run_cajal(
        &[
            &["export-connectome", "models/spatial_sheet.toml", "--out", dir.join("t").to_str().unwrap()],
            &SHORT[..2],
            &grid,
        ]
        .concat(),
        std::time::Duration::from_secs(300),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Scale 0.01: a 0.4 mm periodic sheet; 8,000 E become 89 x 89 and 2,000 I become 45 x 45, each at the
    // centres of its grid's cells.
    let side = 0.4;
    let nodes = std::fs::read_to_string(dir.join("t/nodes.csv")).unwrap();
    let mut positions = Vec::new();
    let mut per_pop = std::collections::BTreeMap::<String, Vec<(f64, f64)>>::new();
    for line in nodes.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let (x, y): (f64, f64) = (f[2].parse().unwrap(), f[3].parse().unwrap());
        positions.push((x, y));
        per_pop.entry(f[1].to_owned()).or_default().push((x, y));
    }
    for (pop, k) in [("E", 89usize), ("I", 45)] {
        let points = &per_pop[pop];
        assert_eq!(points.len(), k * k, "{pop}");
        let spacing = side / k as f64;
        let mut cells: Vec<(i64, i64)> = points
            .iter()
            .map(|&(x, y)| {
                let (i, j) = (x / spacing - 0.5, y / spacing - 0.5);
                assert!((i - i.round()).abs() < 1e-6 && (j - j.round()).abs() < 1e-6, "{pop}: ({x}, {y}) off the grid");
                (i.round() as i64, j.round() as i64)
            })
            .collect();
        cells.sort_unstable();
        cells.dedup();
        assert_eq!(cells.len(), k * k, "{pop}: every grid point once");
    }
    // Every delay is d0 + d / v rounded to the nearest 0.1 ms step, d measured around the torus.
    let edges = std::fs::read_to_string(dir.join("t/edges.csv")).unwrap();
    let mut checked = 0;
    for line in edges.lines().skip(1).step_by(97) {
        let f: Vec<&str> = line.split(',').collect();
        let (pre, post): (usize, usize) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        let wrap = |a: f64, b: f64| {
            let d = (a - b).abs() % side;
            d.min(side - d)
        };
        let d = wrap(positions[pre].0, positions[post].0).hypot(wrap(positions[pre].1, positions[post].1));
        assert!(d <= 0.2 + 1e-9, "edge {pre}->{post} spans {d} mm, beyond the cutoff");
        let expected = ((0.5 + d / 0.3) / 0.1).round() * 0.1;
        let delay: f64 = f[3].parse().unwrap();
        assert!((delay - expected).abs() < 1e-6, "edge {pre}->{post}: {delay} ms for {d} mm, expected {expected}");
        checked += 1;
    }
    assert!(checked > 10_000, "{checked}");
    let base = run_microcircuit_model(
        "models/spatial_sheet.toml",
        &dir.join("1"),
        &[&SHORT[..], &grid, &["--threads", "1"]].concat(),
    );
    assert_eq!(base["neurons"], 89 * 89 + 45 * 45);
    for balancer in ["spatial", "round-robin"] {
        let flags = [&SHORT[..], &grid, &["--ranks", "2", "--threads", "1", "--balancer", balancer]].concat();
        let s = run_microcircuit_model("models/spatial_sheet.toml", &dir.join(balancer), &flags);
        assert_eq!(s["spikes_digest"], base["spikes_digest"], "{balancer}");
    }
    let o = common::run_cajal(
        &[
            "run",
            "models/spatial_sheet.toml",
            "--set",
            "populations.placement=[\"hex\", \"grid\"]",
            "--out",
            dir.join("bad").to_str().unwrap(),
        ],
        std::time::Duration::from_secs(60),
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("populations.placement.0") && e.contains("hex") && e.contains("uniform or grid"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn metis_refuses_a_graph_rank_0_cannot_hold_before_streaming_it() {
    // A sheet whose graph needs twice the memory this machine has free (METIS: ~42 bytes per synapse,
    // ~500 M synapses per unit of scale), at least scale 4.
    let scale = (2.0 * common::available_memory_bytes() / (42.0 * 5.0e8)).ceil().max(4.0).to_string();
    let dir = scratch_dir("sheet-metis-memory");
    let o = common::run_cajal(
        &[
            "run",
            "models/spatial_sheet.toml",
            "--scale",
            &scale,
            "--ranks",
            "2",
            "--balancer",
            "metis",
            "--out",
            dir.to_str().unwrap(),
        ],
        std::time::Duration::from_secs(120),
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains("METIS partitioning") && e.contains("GiB needed") && e.contains("--balancer spatial"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
