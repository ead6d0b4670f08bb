//! Direction selectivity of T4 and T5 in the optic lobe: ON and OFF edges moving in 12 directions over the
//! whole lattice; the central column's T4a-d and T5a-d responses (peak depolarisation over the grey
//! baseline), their direction-selectivity indices and a polar plot.
//!
//! `cargo run --release --example direction_selectivity -- --out out/direction`
//! (with flyvis' pretrained model `flow/0000/000` unless `--params` names another parameter file).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use clap::Parser;
use serde::Serialize;

use cajal_comm::Local;
use cajal_core::{Gid, Step};
use cajal_metrics::polar::{plot_polar, TuningCurve};
use cajal_models::optic_lobe::stimulus::{Stimulus, StimulusDrive};
use cajal_models::{load_document, GradedModel, Override};
use cajal_net::{Balancer, PhasedDrive};
use cajal_sim::{build_rate_engine, RunControl, SimError, ValueObserver};

const TYPES: [&str; 8] = ["T4a", "T4b", "T4c", "T4d", "T5a", "T5b", "T5c", "T5d"];

#[derive(Parser, Debug)]
struct Args {
    /// The optic lobe model file.
    #[arg(long, default_value = "models/optic_lobe.toml")]
    model: PathBuf,
    /// A flyvis parameter file.
    #[arg(long, default_value = "models/optic_lobe/pretrained_flow_0000_000.json")]
    params: PathBuf,
    /// Edge speed in columns per second.
    #[arg(long, default_value_t = 13.0)]
    speed: f64,
    /// Time step in ms.
    #[arg(long, default_value_t = 5.0)]
    dt_ms: f64,
    /// Grey warm-up before each edge, in ms.
    #[arg(long, default_value_t = 1000.0)]
    warm_up_ms: f64,
    /// Recorded time per edge, in ms (long enough for the edge to cross the field).
    #[arg(long, default_value_t = 3000.0)]
    edge_ms: f64,
    /// Where to write direction_selectivity.json and the polar plot.
    #[arg(long, default_value = "out/direction")]
    out: PathBuf,
}

/// Keeps every recorded row.
#[derive(Default)]
struct Rows(Vec<Vec<f64>>);

impl ValueObserver for Rows {
    fn rows(&mut self, _: Step, width: usize, rows: &[f64]) -> Result<(), SimError> {
        self.0.extend(rows.chunks(width).map(<[f64]>::to_vec));
        Ok(())
    }
}

/// Vector-sum direction selectivity of responses `r` (>= 0) at `angles_deg`: (|sum r e^{i theta}| / sum r,
/// angle of the sum in degrees).
fn vector_dsi(angles_deg: &[f64], r: &[f64]) -> (f64, f64) {
    let (mut x, mut y, mut sum) = (0.0, 0.0, 0.0);
    for (&a, &v) in angles_deg.iter().zip(r) {
        x += v * a.to_radians().cos();
        y += v * a.to_radians().sin();
        sum += v;
    }
    if sum <= 0.0 {
        return (0.0, f64::NAN);
    }
    ((x * x + y * y).sqrt() / sum, y.atan2(x).to_degrees().rem_euclid(360.0))
}

/// (R_pref - R_null) / (R_pref + R_null), the preferred direction being the largest response and the null
/// direction its opposite (`angles_deg` evenly spaced, an even number of them).
fn pref_null_dsi(r: &[f64]) -> f64 {
    let n = r.len();
    let pref = (0..n).max_by(|&a, &b| r[a].total_cmp(&r[b])).unwrap_or(0);
    let (p, q) = (r[pref], r[(pref + n / 2) % n]);
    if p + q <= 0.0 {
        0.0
    } else {
        (p - q) / (p + q)
    }
}

/// Peak depolarisation of each recorded neuron over its value at the end of the warm-up.
fn peak_responses(baseline: &[f64], rows: &[Vec<f64>]) -> Vec<f64> {
    (0..baseline.len()).map(|k| rows.iter().map(|row| row[k] - baseline[k]).fold(0.0, f64::max)).collect()
}

#[derive(Serialize)]
struct TypeResult {
    cell_type: String,
    polarity: String,
    responses: Vec<f64>,
    vector_dsi: f64,
    preferred_deg: f64,
    pref_null_dsi: f64,
}

/// Warm-up under grey, then one edge; returns the central neurons' responses.
fn one_edge(model: &GradedModel, gids: &[Gid], args: &Args, spec: &str) -> anyhow::Result<Vec<f64>> {
    let dt_s = args.dt_ms / 1000.0;
    let extent = model.lobe.connectome.extent;
    let (mut engine, _) = build_rate_engine(&model.lobe, &mut Local, 1, Balancer::RoundRobin, dt_s)?;
    let edge = StimulusDrive::new(Stimulus::parse(spec, extent)?, extent, dt_s);
    let warm: Step = (args.warm_up_ms / args.dt_ms).round() as Step;
    let steps: Step = (args.edge_ms / args.dt_ms).round() as Step;
    let grey = StimulusDrive::new(Stimulus::Constant(0.5), extent, dt_s);
    let hold = PhasedDrive { inner: &grey, offset: 0, hold_first: true };
    engine.run(warm, &hold, &mut Local, &mut Rows::default(), &mut |_| {}, RunControl::default())?;
    let baseline: Vec<f64> = {
        let all = engine.voltages();
        gids.iter().map(|&g| all[g as usize].1).collect()
    };
    engine.record(gids);
    let mut rows = Rows::default();
    let moving = PhasedDrive { inner: &edge, offset: warm, hold_first: false };
    engine.run(steps, &moving, &mut Local, &mut rows, &mut |_| {}, RunControl::default())?;
    Ok(peak_responses(&baseline, &rows.0))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let params = std::path::absolute(&args.params)?;
    let overrides = [
        Override::new("parameters.file", toml::Value::String(params.display().to_string())),
        Override::new("simulation.dt_ms", args.dt_ms),
    ];
    let doc = load_document(&args.model, &overrides)?;
    let model = cajal_models::optic_lobe::model_file::build(&doc)?;
    let c = &model.lobe.connectome;
    let gids: Vec<Gid> = TYPES
        .iter()
        .map(|name| {
            let t = c.types.iter().position(|t| t.name == *name).ok_or_else(|| anyhow!("no cell type {name}"))?;
            c.gid(t, (0, 0)).ok_or_else(|| anyhow!("{name} has no central neuron"))
        })
        .collect::<anyhow::Result<_>>()?;
    let angles: Vec<f64> = (0..12).map(|k| f64::from(k) * 30.0).collect();
    let mut results = Vec::new();
    for polarity in ["on", "off"] {
        // responses[type][direction]
        let mut responses = vec![Vec::new(); TYPES.len()];
        for &deg in &angles {
            let r = one_edge(&model, &gids, &args, &format!("edge:{deg}:{}:{polarity}", args.speed))?;
            for (k, v) in r.into_iter().enumerate() {
                responses[k].push(v);
            }
        }
        for (name, r) in TYPES.iter().zip(responses) {
            let (dsi, pref) = vector_dsi(&angles, &r);
            results.push(TypeResult {
                cell_type: (*name).to_owned(),
                polarity: polarity.to_uppercase(),
                pref_null_dsi: pref_null_dsi(&r),
                responses: r,
                vector_dsi: dsi,
                preferred_deg: pref,
            });
        }
    }
    write_outputs(&args.out, &angles, &results)
}

fn write_outputs(out: &Path, angles: &[f64], results: &[TypeResult]) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let json = serde_json::json!({ "angles_deg": angles, "cell_types": results });
    std::fs::write(out.join("direction_selectivity.json"), serde_json::to_string_pretty(&json)? + "\n")?;
    println!(
        "{:<6} {:<4} {:>12} {:>10} {:>10} {:>14}",
        "type", "edge", "peak (max)", "DSI (vec)", "pref deg", "DSI pref/null"
    );
    for r in results {
        let peak = r.responses.iter().copied().fold(0.0, f64::max);
        println!(
            "{:<6} {:<4} {:>12.4} {:>10.3} {:>10.0} {:>14.3}",
            r.cell_type, r.polarity, peak, r.vector_dsi, r.preferred_deg, r.pref_null_dsi
        );
    }
    // Each type normalised by its largest response to either polarity, so ON and OFF compare.
    let norm = |name: &str| {
        results.iter().filter(|r| r.cell_type == name).flat_map(|r| r.responses.iter().copied()).fold(1e-12, f64::max)
    };
    let panels: Vec<(String, Vec<TuningCurve>)> = ["ON", "OFF"]
        .iter()
        .map(|&pol| {
            let curves = results
                .iter()
                .filter(|r| r.polarity == pol)
                .map(|r| TuningCurve {
                    label: r.cell_type.clone(),
                    angles_deg: angles.to_vec(),
                    values: r.responses.iter().map(|v| v / norm(&r.cell_type)).collect(),
                })
                .collect();
            (format!("{pol} edges"), curves)
        })
        .collect();
    let files = plot_polar(&panels, out, "direction_selectivity")?;
    println!("wrote {} and {}", out.join("direction_selectivity.json").display(), files[0].display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cosine_tuning_curve_has_the_textbook_indices() {
        let angles: Vec<f64> = (0..12).map(|k| f64::from(k) * 30.0).collect();
        // r = 1 + cos(theta - 60): vector DSI 1/2 towards 60 degrees; pref/null (2 - 0) / (2 + 0) = 1.
        let r: Vec<f64> = angles.iter().map(|a| 1.0 + (a - 60.0).to_radians().cos()).collect();
        let (dsi, pref) = vector_dsi(&angles, &r);
        assert!((dsi - 0.5).abs() < 1e-12, "{dsi}");
        assert!((pref - 60.0).abs() < 1e-9, "{pref}");
        assert!((pref_null_dsi(&r) - 1.0).abs() < 1e-12);
        let flat = vec![2.0; 12];
        assert!(vector_dsi(&angles, &flat).0 < 1e-12);
        assert_eq!(pref_null_dsi(&flat), 0.0);
        assert_eq!(vector_dsi(&angles, &[0.0; 12]).0, 0.0);
    }

    #[test]
    fn responses_are_peak_depolarisations_over_the_baseline() {
        let rows = vec![vec![1.0, -1.0], vec![1.5, -2.0], vec![0.5, -1.5]];
        assert_eq!(peak_responses(&[1.0, -1.0], &rows), vec![0.5, 0.0]);
    }
}
