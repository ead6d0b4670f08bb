//! The optic lobe's input files on random and mutated data: the flyvis connectome and parameter JSON (a
//! value replaced by an extreme or mistyped one, an array cut or extended), and stimulus frames as CSV
//! (ragged, non-numeric, empty) and NPY (shapes up to 2^64, wrong data lengths, edited bytes). Every case
//! ends in a loaded input or an error naming the file, never a panic or an abort.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use cajal_models::optic_lobe::connectome::columns;
use cajal_models::optic_lobe::params::{index, ParamIndex, Params};
use cajal_models::optic_lobe::recipe::{initial_params, PARAMETER_EXTENT};
use cajal_models::optic_lobe::stimulus::Stimulus;
use cajal_models::optic_lobe::{Connectome, OpticLobe};
use cajal_net::RateRecipe;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::Value;

/// Cases per property (a connectome case parses and expands the 600 kB file: ~5 s in all in release).
const CASES: u32 = 48;

/// A bounded number of cases; failures are reported with their shrunk input (no regression files: an
/// integration test has no lib.rs beside it for proptest to store them next to).
fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(13),
        ..ProptestConfig::default()
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch(name: &str, file: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cajal-lobe-fuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(file)
}

const CONNECTOME: &str = "models/optic_lobe/fib25-fib19_v2.2.json";
const PARAMS: &str = "models/optic_lobe/pretrained_flow_0000_000.json";

/// The shipped connectome on the parameter lattice and its parameter index, read once.
fn indexed() -> &'static (Connectome, ParamIndex) {
    static ONCE: OnceLock<(Connectome, ParamIndex)> = OnceLock::new();
    ONCE.get_or_init(|| {
        let c = Connectome::read(&repo().join(CONNECTOME), PARAMETER_EXTENT, true).unwrap();
        let idx = index(&c);
        (c, idx)
    })
}

/// Replacement values: offsets and strides past any lattice, i64 and u64 extremes, other types.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::from(0)),
        Just(Value::from(-1)),
        Just(Value::from(7)),
        Just(Value::from(2001)),
        Just(Value::from(1i64 << 31)),
        Just(Value::from(1i64 << 61)),
        Just(Value::from(i64::MAX)),
        Just(Value::from(i64::MIN)),
        Just(Value::from(u64::MAX)),
        Just(Value::from(1e300)),
        Just(Value::from(-0.5)),
        Just(Value::from("R1")),
        Just(Value::from("stride")),
        Just(Value::Null),
        Just(Value::Array(Vec::new())),
    ]
}

/// Every leaf of `v` as a JSON pointer.
fn leaves(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => o.iter().for_each(|(k, x)| leaves(x, &format!("{path}/{k}"), out)),
        Value::Array(a) if !a.is_empty() => {
            a.iter().enumerate().for_each(|(i, x)| leaves(x, &format!("{path}/{i}"), out))
        }
        _ => out.push(path.to_owned()),
    }
}

/// One edit of a JSON document: a leaf replaced, or the array holding it cut or extended.
#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, Value),
    Cut(usize),
    Extend(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<usize>(), value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        1 => any::<usize>().prop_map(Edit::Cut),
        1 => any::<usize>().prop_map(Edit::Extend),
    ]
}

fn apply(doc: &mut Value, edits: &[Edit]) {
    for e in edits {
        let mut all = Vec::new();
        leaves(doc, "", &mut all);
        let (Edit::Replace(i, _) | Edit::Cut(i) | Edit::Extend(i)) = e;
        let pointer = &all[i % all.len()];
        let parent = &pointer[..pointer.rfind('/').unwrap_or(0)];
        match e {
            Edit::Replace(_, v) => *doc.pointer_mut(pointer).unwrap() = v.clone(),
            Edit::Cut(_) => {
                if let Some(Value::Array(a)) = doc.pointer_mut(parent) {
                    a.truncate(a.len() / 2);
                }
            }
            Edit::Extend(_) => {
                if let Some(Value::Array(a)) = doc.pointer_mut(parent) {
                    let copy = a.clone();
                    a.extend(copy);
                }
            }
        }
    }
}

/// Uses a loaded connectome as a model build would: index, initial parameters, the recipe's inputs.
fn use_connectome(c: Connectome) {
    let idx = index(&c);
    let params = initial_params(&c);
    assert_eq!(params.weights(&idx).len(), idx.pair.len());
    let lobe = OpticLobe::new(c.clone(), &c, &params);
    let n = lobe.num_neurons();
    for gid in [0, n / 2, n.saturating_sub(1)].into_iter().filter(|&g| g < n) {
        lobe.inputs_to(gid, &mut |_, _| {});
    }
}

/// Writes a .npy file with the given dtype, shape text and data.
fn npy(path: &Path, descr: &str, shape: &str, data: &[u8]) {
    let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    std::fs::write(path, bytes).unwrap();
}

/// Parses `frames:FILE` for the lattice of `extent`; a stimulus gives one value per column at any step.
fn use_frames(path: &Path, extent: i64) {
    let spec = format!("frames:{}", path.display());
    match Stimulus::parse(&spec, extent) {
        Ok(s) => {
            let cols = columns(extent);
            for step in [0, 1, 5, usize::MAX] {
                assert_eq!(s.frame(step, 0.02, &cols).len(), cols.len());
            }
        }
        Err(e) => {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(e.to_string().contains(&name), "the error names the file: {e}");
        }
    }
}

fn size() -> impl Strategy<Value = u64> {
    prop_oneof![Just(0u64), 1u64..4, Just(7), Just(721), Just(1 << 32), Just(1 << 61), Just(1 << 62), Just(u64::MAX)]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn edited_connectome_files_load_or_give_an_error(edits in proptest::collection::vec(edit(), 1..4)) {
        let text = std::fs::read_to_string(repo().join(CONNECTOME)).unwrap();
        let mut doc: Value = serde_json::from_str(&text).unwrap();
        apply(&mut doc, &edits);
        let path = scratch("connectome", "connectome.json");
        if let Ok(c) = Connectome::parse(&path, &doc.to_string(), PARAMETER_EXTENT, true) {
            use_connectome(c);
        }
    }

    #[test]
    fn edited_parameter_files_load_or_give_an_error(edits in proptest::collection::vec(edit(), 1..4)) {
        let text = std::fs::read_to_string(repo().join(PARAMS)).unwrap();
        let mut doc: Value = serde_json::from_str(&text).unwrap();
        apply(&mut doc, &edits);
        let path = scratch("params", "params.json");
        std::fs::write(&path, doc.to_string()).unwrap();
        let (c, idx) = indexed();
        match Params::read(&path, c, idx) {
            Ok(p) => assert_eq!(p.weights(idx).len(), idx.pair.len()),
            Err(e) => assert!(e.to_string().contains("params.json"), "{e}"),
        }
    }

}

/// Frame files are small and quick to read: more cases, so that shapes whose byte counts wrap (721 x 2^61 of
/// float64, 721 x 2^62 of float32) with an empty data section come up in most runs.
const FRAME_CASES: u32 = 512;

proptest! {
    #![proptest_config(ProptestConfig { cases: FRAME_CASES, ..config() })]

    #[test]
    fn csv_frames_load_or_give_an_error(
        rows in proptest::collection::vec(
            proptest::collection::vec(prop_oneof![
                Just("0.5".to_owned()), Just("nan".to_owned()), Just("1e999".to_owned()), Just(String::new()),
                Just("x".to_owned()), Just("-1".to_owned()),
            ], 0..9),
            0..9,
        ),
    ) {
        let path = scratch("csv-frames", "frames.csv");
        let lines: Vec<String> = rows.iter().map(|r| r.join(",")).collect();
        std::fs::write(&path, lines.join("\n")).unwrap();
        use_frames(&path, 1);
    }

    #[test]
    fn npy_frames_of_any_shape_load_or_give_an_error(
        (rows, cols) in (size(), size()),
        descr in prop_oneof![Just("<f8"), Just("<f4")],
        values in prop_oneof![Just(0usize), 0usize..64],
        value in prop_oneof![Just(0.5f64), Just(f64::NAN), Just(f64::INFINITY)],
        extent in prop_oneof![1 => Just(1i64), 2 => Just(15)],
    ) {
        let path = scratch("npy-frames", "frames.npy");
        let data: Vec<u8> = if descr == "<f8" {
            (0..values).flat_map(|_| value.to_le_bytes()).collect()
        } else {
            (0..values).flat_map(|_| (value as f32).to_le_bytes()).collect()
        };
        npy(&path, descr, &format!("({rows}, {cols})"), &data);
        use_frames(&path, extent);
    }

    #[test]
    fn edited_npy_frames_load_or_give_an_error(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let path = scratch("npy-edits", "frames.npy");
        let mut w = cajal_core::npy::NpyWriter::create(&path, 2, 7).unwrap();
        w.write(&[0.25; 14]).unwrap();
        w.finish().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        for (i, b) in edits {
            let at = i % bytes.len();
            bytes[at] = b;
        }
        if let Some(c) = cut {
            bytes.truncate(c % (bytes.len() + 1));
        }
        std::fs::write(&path, bytes).unwrap();
        use_frames(&path, 1);
    }
}
