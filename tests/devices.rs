//! Stimulation devices against NEST 3.10 (tests/data/devices: the same network run in NEST): spike
//! generators with off-grid times, windows and repeated times, dc and step current generators on chosen
//! neurons, all spike for spike on 1, 3 and 2x2 layouts; a poisson_generator's window, mean and Fano
//! factor; and a checkpoint taken mid-stimulus resumes on another layout exactly.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::time::Duration;

use common::{repo, run_cajal, run_microcircuit_model, scratch_dir};

const MODEL: &str = "tests/data/devices/devices.toml";
/// The populations whose spikes are deterministic: they must be NEST's exactly.
const EXACT: [&str; 6] = ["sg", "relay", "twice", "pair", "dc", "step"];

/// The sorted spike lines (`sender,time_ms`) of population `pop` over every file of a run.
fn spikes_of(out: &Path, pop: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for f in std::fs::read_dir(out.join("spikes")).unwrap() {
        let path = f.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        // One file per population, or per rank (`-rankR`) and resumed segment (`-sK`).
        if name == format!("{pop}.csv")
            || name.starts_with(&format!("{pop}-rank"))
            || name.starts_with(&format!("{pop}-s"))
        {
            lines.extend(std::fs::read_to_string(&path).unwrap().lines().skip(1).map(str::to_owned));
        }
    }
    lines.sort();
    lines
}

#[test]
fn devices_drive_neurons_at_nests_steps_on_any_layout() {
    let dir = scratch_dir("devices");
    let nest = repo().join("tests/data/devices/nest");
    let layouts: [&[&str]; 3] =
        [&["--threads", "1"], &["--ranks", "3", "--threads", "1"], &["--ranks", "2", "--threads", "2"]];
    let mut digests = Vec::new();
    for (k, layout) in layouts.into_iter().enumerate() {
        let out = dir.join(format!("l{k}"));
        let s = run_microcircuit_model(MODEL, &out, layout);
        digests.push(s["spikes_digest"].clone());
        for pop in EXACT {
            assert_eq!(spikes_of(&out, pop), spikes_of(&nest, pop), "{pop} on {layout:?}");
        }
        assert!(!spikes_of(&out, "relay").is_empty() && !spikes_of(&out, "step").is_empty());
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_poisson_generator_gives_each_target_its_own_train_in_its_window() {
    let dir = scratch_dir("devices-poisson");
    run_microcircuit_model(MODEL, &dir, &[]);
    // 200 listeners fire on every arrival (t_ref 0, one event is enough): 300 Hz for 20 ms each.
    let spikes = spikes_of(&dir, "listeners");
    let times: Vec<f64> = spikes.iter().map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    let (first, last) = times.iter().fold((f64::MAX, f64::MIN), |(a, b), &t| (a.min(t), b.max(t)));
    // Window (5, 25] ms, delay 1.5 ms: arrivals stamped 6.7 .. 26.6 ms (NEST's first and last alike).
    assert!(first >= 6.7 - 1e-9 && last <= 26.6 + 1e-9, "{first} .. {last}");
    let nest = spikes_of(&repo().join("tests/data/devices/nest"), "listeners");
    let nest_times: Vec<f64> = nest.iter().map(|l| l.split(',').nth(1).unwrap().parse().unwrap()).collect();
    assert!(nest_times.iter().all(|&t| (6.7 - 1e-9..=26.6 + 1e-9).contains(&t)));
    let mut counts = vec![0.0f64; 200];
    for l in &spikes {
        let gid: usize = l.split(',').next().unwrap().parse().unwrap();
        counts[gid - 12] += 1.0; // listeners are gids 12..212
    }
    let mean = counts.iter().sum::<f64>() / 200.0;
    let var = counts.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / 199.0;
    // 6 expected events per listener (steps with two events are rare: p = 0.03 per step); sd of the mean
    // sqrt(6 / 200) = 0.17, of the Fano factor about 0.1.
    assert!((mean - 6.0).abs() < 0.7, "mean {mean}");
    assert!((0.65..1.35).contains(&(var / mean)), "Fano factor {}", var / mean);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_checkpoint_taken_mid_stimulus_resumes_on_another_layout_exactly() {
    let dir = scratch_dir("devices-checkpoint");
    let straight = dir.join("straight");
    let s = run_microcircuit_model(MODEL, &straight, &["--threads", "2"]);
    let ck = dir.join("ck");
    let stopped = dir.join("stopped");
    // 12 ms: inside the dc window, between two current steps, in the Poisson window, before sg's last spike.
    let flags = ["--ranks", "2", "--threads", "1", "--checkpoint-to", ck.to_str().unwrap(), "--stop-after", "12"];
    let mut args = vec!["run", MODEL, "--out", stopped.to_str().unwrap()];
    args.extend_from_slice(&flags);
    let o = run_cajal(&args, Duration::from_secs(120));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let resumed = dir.join("resumed");
    let o = run_cajal(
        &["resume", ck.to_str().unwrap(), "--threads", "3", "--out", resumed.to_str().unwrap()],
        Duration::from_secs(120),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(resumed.join("summary.json")).unwrap()).unwrap();
    assert_eq!(r["spikes_digest"], s["spikes_digest"]);
    assert_eq!(r["resumed_from_step"], 120);
    for pop in EXACT.iter().chain(&["listeners"]) {
        // The stopped run wrote the spikes up to 12 ms, the resumed one (segment 1) the rest.
        let mut both = [spikes_of(&stopped, pop), spikes_of(&resumed, pop)].concat();
        both.sort();
        assert_eq!(both, spikes_of(&straight, pop), "{pop}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_device_input_exits_2_naming_file_key_and_row() {
    let dir = scratch_dir("devices-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(repo().join(MODEL)).unwrap();
    for f in ["stim.csv", "twice.csv"] {
        std::fs::copy(repo().join("tests/data/devices").join(f), dir.join(f)).unwrap();
    }
    let bad = |name: &str, from: &str, to: &str| {
        let path = dir.join(format!("{name}.toml"));
        assert!(text.contains(from), "{from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        let o = run_cajal(
            &["run", path.to_str().unwrap(), "--out", dir.join("out").to_str().unwrap()],
            Duration::from_secs(60),
        );
        assert_eq!(o.status.code(), Some(2), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = bad("rate", "rate = 300.0", "rate = -3.0");
    assert!(e.contains("populations.6.device.rate") && e.contains("-3"), "{e}");
    let e = bad("window", "start = 5.0, stop = 25.0", "start = 5.0, stop = 2.0");
    assert!(e.contains("populations.6.device.stop"), "{e}");
    let e = bad("device", "model = \"poisson_generator\"", "model = \"noise_generator\"");
    assert!(e.contains("populations.6.device.model") && e.contains("spike_generator"), "{e}");
    let e = bad("steps", "amplitude_times = [3.0, 8.0, 12.0]", "amplitude_times = [3.0, 12.0, 8.0]");
    assert!(e.contains("current generator steps") && e.contains("increasing"), "{e}");
    let e = bad("ids", "ids = \"1\"", "ids = \"2\"");
    assert!(e.contains("current_generators.0.targets.ids"), "{e}");
    std::fs::write(dir.join("late.csv"), "node_id,time_ms\n0,2.0\n0,-1.0\n").unwrap();
    let e = bad("times", "spike_times = \"twice.csv\"", "spike_times = \"late.csv\"");
    assert!(e.contains("late.csv") && e.contains("row 3") && e.contains("-1"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_device_added_on_the_command_line_acts_as_one_in_the_file() {
    let dir = scratch_dir("devices-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(repo().join(MODEL)).unwrap();
    for f in ["stim.csv", "twice.csv"] {
        std::fs::copy(repo().join("tests/data/devices").join(f), dir.join(f)).unwrap();
    }
    // The file without its dc_generator; the same generator given with --add.
    let start = text.find("[[current_generators]]\nname = \"dc\"").unwrap();
    let end = start + text[start..].find("\n\n").unwrap() + 2;
    let path = dir.join("no_dc.toml");
    std::fs::write(&path, format!("{}{}", &text[..start], &text[end..])).unwrap();
    let dc = "current_generators={name = \"dc\", model = \"dc_generator\", amplitude = 6.0, start = 2.0, \
              stop = 15.0, delay_ms = 1.0, targets = {population = \"dc\", ids = \"1\"}}";
    let out = dir.join("out");
    let o = run_cajal(
        &["run", path.to_str().unwrap(), "--add", dc, "--out", out.to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let nest = repo().join("tests/data/devices/nest");
    assert_eq!(spikes_of(&out, "dc"), spikes_of(&nest, "dc"));
    assert!(!spikes_of(&out, "dc").is_empty());
    let o = run_cajal(
        &["run", path.to_str().unwrap(), "--add", "current_generators=3", "--out", out.to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("inline table"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_current_generator_drives_the_neurons_a_node_table_column_marks() {
    let dir = scratch_dir("devices-column");
    std::fs::create_dir_all(&dir).unwrap();
    // Neurons 1, 2 and 4 are marked; 500 pA over 250 pF and 10 ms is 20 mV above rest, past the 15 mV to
    // threshold: they fire, the others (no input at all) stay silent.
    let nodes = "id,population,stim\n0,A,0\n1,A,1\n2,A,1\n3,B,\n4,B,2.5\n5,B,0\n";
    std::fs::write(dir.join("nodes.csv"), nodes).unwrap();
    std::fs::write(dir.join("edges.csv"), "pre,post,weight,delay_ms\n0,5,0.001,1.0\n").unwrap();
    let dc = "\n[[current_generators]]\nmodel = \"dc_generator\"\namplitude = 500.0\nstart = 10.0\nstop = 60.0\n\
              targets = { column = \"stim\" }\n";
    std::fs::write(dir.join("model.toml"), common::two_population_connectome("nodes.csv", 100.0, 1) + dc).unwrap();
    let out = dir.join("out");
    run_microcircuit_model(dir.join("model.toml").to_str().unwrap(), &out, &["--ranks", "2"]);
    let mut fired: Vec<u32> = ["A", "B"]
        .iter()
        .flat_map(|p| spikes_of(&out, p))
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    let times: Vec<f64> = ["A", "B"]
        .iter()
        .flat_map(|p| spikes_of(&out, p))
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(times.iter().all(|&t| t > 11.0 && t <= 61.0), "only while the current is on: {times:?}");
    fired.sort_unstable();
    fired.dedup();
    assert_eq!(fired, [1, 2, 4]);
    // A column the node table lacks, and a column in a network file, are refused by key.
    let missing = dc.replace("column = \"stim\"", "column = \"stimulus\"");
    std::fs::write(dir.join("bad.toml"), common::two_population_connectome("nodes.csv", 100.0, 1) + &missing).unwrap();
    let o = run_cajal(
        &["run", dir.join("bad.toml").to_str().unwrap(), "--out", out.to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("current_generators.0.targets.column") && e.contains("stimulus"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
