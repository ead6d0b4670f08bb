//! The performance report: its counts and totals agree with the run, every rank is in it, the plots are
//! written, and `cajal report` reads what `cajal run` wrote (and draws a scaling plot from several runs).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{run_cajal, run_microcircuit, scratch_dir};

fn perf(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("perf.json")).unwrap()).unwrap()
}

#[test]
fn the_report_counts_every_window_of_every_rank_and_its_totals_fit_the_wall_time() {
    let out = scratch_dir("perf-consistent");
    let s = run_microcircuit(
        &out,
        &[
            "--scale",
            "0.1",
            "--t-presim",
            "100",
            "--t-sim",
            "200",
            "--ranks",
            "2",
            "--threads",
            "1",
            "--sync-timer",
            "--no-spikes",
        ],
    );
    let p = perf(&out);
    // 200 ms of 0.1 ms windows after the warm-up (the report covers the simulate phase).
    assert_eq!(p["windows"], 2000);
    for phase in ["deliver", "update", "thread_wait", "pack", "record", "sync", "exchange"] {
        assert_eq!(p["merged"][phase]["count"], 4000, "{phase}: windows x ranks");
    }
    assert_eq!(p["merged"]["checkpoint"]["count"], 0);
    let wall = s["wall_s"]["simulate"].as_f64().unwrap();
    let per_rank = p["per_rank"].as_array().unwrap();
    assert_eq!(per_rank.len(), 2);
    for r in per_rank {
        let total: f64 = r["phases"].as_object().unwrap().values().map(|v| v["total_s"].as_f64().unwrap()).sum();
        assert!(
            total <= wall * 1.05 + 0.005 && total >= wall * 0.5,
            "rank {}: phases {total} s vs simulate {wall} s",
            r["rank"]
        );
        assert!(r["peak_rss_bytes"].as_u64().unwrap() > 0);
        assert!(
            r["spikes"].as_u64().unwrap() > 0 && r["synaptic_events"].as_u64().unwrap() > r["spikes"].as_u64().unwrap()
        );
    }
    let fractions: f64 = p["phase_fractions"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
    assert!((fractions - 1.0).abs() < 1e-9, "{fractions}");
    let share = p["communication_share"].as_f64().unwrap();
    assert!(share > 0.0 && share < 1.0, "{share}");
    assert!(p["load_imbalance"].as_f64().unwrap() >= 1.0);
    // RTF = wall time of the simulate phase / model time of the analysed period (200 ms here).
    assert_eq!(s["t_sim_ms"], 200.0);
    let model_time_s = s["t_sim_ms"].as_f64().unwrap() / 1000.0;
    let expected_rtf = wall / model_time_s;
    for rtf in [&p["rtf"], &s["rtf"]] {
        let rtf = rtf.as_f64().unwrap();
        assert!((rtf - expected_rtf).abs() <= 1e-9 * expected_rtf, "rtf {rtf}, wall / model time {expected_rtf}");
    }
    let spikes: u64 = per_rank.iter().map(|r| r["spikes"].as_u64().unwrap()).sum();
    assert!((p["spikes_per_s"].as_f64().unwrap() - spikes as f64 / wall).abs() < 1e-6 * spikes as f64 / wall);
    for plot in ["perf_phases.png", "perf_latency.png"] {
        let bytes = std::fs::read(out.join(plot)).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{plot}");
    }
    for plot in ["perf_phases.svg", "perf_latency.svg"] {
        assert!(std::fs::read_to_string(out.join(plot)).unwrap().contains("<svg"), "{plot}");
    }
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn cajal_report_reads_what_run_wrote_and_plots_scaling() {
    let base = scratch_dir("perf-report");
    let plan = ["--scale", "0.05", "--t-presim", "0", "--t-sim", "100", "--no-spikes", "--threads", "1"];
    let mut two = plan.to_vec();
    two.extend(["--ranks", "2"]);
    run_microcircuit(&base.join("one"), &plan);
    run_microcircuit(&base.join("two"), &two);
    let (one, two_dir, plots) = (base.join("one"), base.join("two"), base.join("plots"));
    std::fs::remove_file(one.join("perf_phases.png")).unwrap();
    let o = run_cajal(
        &["report", one.to_str().unwrap(), two_dir.to_str().unwrap(), "--out", plots.to_str().unwrap()],
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(stdout.contains("1 ranks x 1 threads") && stdout.contains("2 ranks x 1 threads"), "{stdout}");
    assert!(one.join("perf_phases.png").exists(), "report redraws the plots");
    assert!(plots.join("scaling.png").exists() && plots.join("scaling.svg").exists());
    let o = run_cajal(&["report", base.to_str().unwrap()], Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("perf.json"));
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn json_logs_are_one_object_per_line_with_the_rank() {
    let out = scratch_dir("json-logs");
    let o = run_cajal(
        &[
            "--log-format",
            "json",
            "--log-level",
            "info",
            "run",
            "models/microcircuit.toml",
            "--scale",
            "0.02",
            "--t-presim",
            "0",
            "--t-sim",
            "10",
            "--ranks",
            "2",
            "--threads",
            "1",
            "--no-spikes",
            "--out",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<serde_json::Value> =
        stderr.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}"))).collect();
    let ranks: std::collections::BTreeSet<u64> = lines.iter().map(|l| l["rank"].as_u64().unwrap()).collect();
    assert_eq!(ranks, [0, 1].into_iter().collect(), "every rank logs, and says which it is");
    assert!(lines.iter().all(|l| l["level"].is_string() && l["message"].is_string()));
    let _ = std::fs::remove_dir_all(&out);
}
