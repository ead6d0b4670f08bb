//! Rate networks from a weight matrix (models/sernn.toml: 100 ReLU units on a 5 x 5 x 4 grid with noise):
//! the same bytes on any layout and balancer, the matrix read as row = target, and bad input refused.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::time::Duration;

use common::{run_cajal, scratch_dir};

fn run(model: &str, out: &Path, extra: &[&str]) -> String {
    let mut args = vec!["run", model, "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = run_cajal(&args, Duration::from_secs(120));
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
    std::fs::read_to_string(out.join("voltages.csv")).unwrap()
}

#[test]
fn the_sernn_gives_the_same_bytes_on_any_layout_and_balancer() {
    let dir = scratch_dir("sernn");
    let base = run("models/sernn.toml", &dir.join("1"), &["--t-sim", "300", "--threads", "1"]);
    assert_eq!(base.lines().count(), 301);
    assert_eq!(base.lines().next().unwrap().split(',').count(), 100);
    let values: Vec<f64> = base.lines().skip(1).flat_map(|l| l.split(',').map(|x| x.parse::<f64>().unwrap())).collect();
    assert!(values.iter().all(|v| v.is_finite() && v.abs() < 10.0), "bounded activity");
    for (name, flags) in [
        ("t2", &["--threads", "2"][..]),
        ("r2", &["--ranks", "2", "--threads", "1"]),
        ("r4-blocks", &["--ranks", "4", "--threads", "1", "--balancer", "cost-blocks"]),
        ("r3-spatial", &["--ranks", "3", "--threads", "1", "--balancer", "spatial"]),
        ("r2-metis", &["--ranks", "2", "--threads", "1", "--balancer", "metis"]),
    ] {
        let csv = run("models/sernn.toml", &dir.join(name), &[&["--t-sim", "300"][..], flags].concat());
        assert!(csv == base, "{name} differs");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_weight_matrix_is_read_with_rows_as_targets() {
    let dir = scratch_dir("rate-orientation");
    std::fs::write(dir.join("w.csv"), "0,0,0\n2,0,0\n0,0,0\n").unwrap();
    let model = std::fs::read_to_string(common::repo().join("models/sernn.toml"))
        .unwrap()
        .replace("grid = [5, 5, 4]", "grid = [3, 1, 1]")
        .replace("weights = \"sernn/weights.csv\"", &format!("weights = \"{}\"", dir.join("w.csv").display()))
        .replace("tau_ms = 20.0", "tau_ms = 1.0")
        .replace("bias = 0.1", "bias = 1.0")
        .replace("noise_std = 0.2", "noise_std = 0.0");
    std::fs::write(dir.join("m.toml"), model).unwrap();
    let csv = run(dir.join("m.toml").to_str().unwrap(), &dir.join("out"), &["--t-presim", "0", "--t-sim", "3"]);
    // tau = dt: V(k+1) = b + sum_j w_ij relu(V_j(k)); unit 1 hears unit 0 only.
    assert_eq!(csv, "unit0,unit1,unit2\n1,1,1\n1,3,1\n1,3,1\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_rate_networks_exit_2_and_say_what_is_wrong() {
    let dir = scratch_dir("rate-bad");
    let text = std::fs::read_to_string(common::repo().join("models/sernn.toml")).unwrap();
    let case = |name: &str, model: String, weights: &str| {
        std::fs::write(dir.join(format!("{name}.csv")), weights).unwrap();
        let model = model.replace("weights = \"sernn/weights.csv\"", &format!("weights = \"{name}.csv\""));
        std::fs::write(dir.join(format!("{name}.toml")), model).unwrap();
        let o = run_cajal(
            &["run", dir.join(format!("{name}.toml")).to_str().unwrap(), "--out", dir.join("out").to_str().unwrap()],
            Duration::from_secs(60),
        );
        let e = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(2), "{name}: {e}");
        e
    };
    let good_row = vec!["0"; 100].join(",");
    let e = case("short", text.clone(), &format!("{good_row}\n"));
    assert!(e.contains("short.csv") && e.contains("1 rows, the network has 100 units"), "{e}");
    let mut rows = vec![good_row.clone(); 100];
    rows[4] = rows[4].replacen('0', "nan", 1);
    let e = case("nan", text.clone(), &rows.join("\n"));
    assert!(e.contains("nan.csv") && e.contains("line 5") && e.contains("`nan` is not a finite number"), "{e}");
    let e = case(
        "transfer",
        text.replace("transfer = \"relu\"", "transfer = \"sigmoid\""),
        &vec![good_row; 100].join("\n"),
    );
    assert!(e.contains("units.transfer") && e.contains("sigmoid"), "{e}");
    let o = run_cajal(
        &["run", "models/sernn.toml", "--params", "x.json", "--out", dir.join("o").to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--params"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_rate_grid_drawn_by_a_distance_rule_gives_the_same_bytes_on_any_layout_and_balancer() {
    let dir = scratch_dir("rate-grid");
    let small =
        ["--set", "units.grid=[12, 12, 4]", "--set", "recording.voltages=\"all\"", "--set", "recording.format=\"csv\""];
    let flags = [&["--t-presim", "20", "--t-sim", "200"][..], &small].concat();
    let base = run("models/rate_grid.toml", &dir.join("1"), &[&flags[..], &["--threads", "1"]].concat());
    assert_eq!(base.lines().next().unwrap().split(',').count(), 576);
    let values: Vec<f64> = base.lines().skip(1).flat_map(|l| l.split(',').map(|x| x.parse::<f64>().unwrap())).collect();
    assert!(values.iter().all(|v| v.is_finite() && v.abs() < 5.0), "bounded activity");
    let last: Vec<f64> = values[values.len() - 576..].to_vec();
    let spread = (last.iter().map(|v| v * v).sum::<f64>() / 576.0).sqrt();
    assert!(spread > 0.05, "the gain-1.5 network stays active: rms {spread}");
    for (name, layout) in [
        ("r2-spatial", &["--ranks", "2", "--threads", "1", "--balancer", "spatial"][..]),
        ("r3-metis", &["--ranks", "3", "--threads", "1", "--balancer", "metis"]),
        ("t2", &["--threads", "2"]),
    ] {
        let csv = run("models/rate_grid.toml", &dir.join(name), &[&flags[..], layout].concat());
        assert!(csv == base, "{name} differs");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
