//! Model files on random mutations of the shipped ones (models/*.toml, a connectome-table model and the
//! seRNN weight matrix): a value replaced by an extreme or mistyped one (sizes past u32, 2^61, negative,
//! tiny, strings, arrays), a key removed or added, bytes edited. Every case builds a model or ends in an
//! error, never a panic or an abort.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};

use cajal_models::{build_any, AnyModel, ModelDocument};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use toml::Value;

/// Cases per property. A case builds one model (the optic lobe's connectome twice): ~10 s in all in
/// release on two cores.
const CASES: u32 = 64;

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

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cajal-model-fuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const MODELS: [&str; 5] = ["microcircuit", "optic_lobe", "rate_grid", "sernn", "spatial_sheet"];

/// A `model = "connectome"` file with its two tables, written next to it.
fn connectome_model(dir: &Path) -> (PathBuf, String) {
    std::fs::write(dir.join("nodes.csv"), "id,population,x,y,z\n0,E,0.1,0.2,0\n1,E,0.3,0.4,0\n2,I,0.5,0.6,0\n")
        .unwrap();
    std::fs::write(dir.join("edges.csv"), "pre,post,weight,delay_ms\n0,1,87.8,1.5\n2,0,-351.2,0.8\n").unwrap();
    let text = r#"model = "connectome"
[simulation]
dt_ms = 0.1
t_presim_ms = 0.0
t_sim_ms = 10.0
seed = 1
[tables]
nodes = "nodes.csv"
edges = "edges.csv"
[neuron]
model = "iaf_psc_exp"
C_m = 250.0
tau_m = 10.0
tau_syn_ex = 0.5
tau_syn_in = 0.5
E_L = -65.0
V_th = -50.0
V_reset = -65.0
t_ref = 2.0
I_e = 0.0
[populations]
names = ["E", "I"]
V0_mean = [-58.0, -58.0]
V0_std = [5.0, 5.0]
I_e = [0.0, 0.0]
bg_rate_hz = [8.0, 8.0]
bg_weight_pA = [87.8, 87.8]
bg_delay_ms = [1.5, 1.5]
"#;
    (dir.join("connectome.toml"), text.to_owned())
}

/// Model `which` (an index into [`MODELS`], or past it: the connectome model, its tables in a folder of
/// `test`'s own) as (file, text).
fn model(which: usize, test: &str) -> (PathBuf, String) {
    match MODELS.get(which) {
        Some(name) => {
            let path = repo().join(format!("models/{name}.toml"));
            let text = std::fs::read_to_string(&path).unwrap();
            (path, text)
        }
        None => connectome_model(&scratch(test)),
    }
}

/// Replacement values: sizes past u32 and i64, 2^61, zero and negative, tiny, and other types.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Integer(0)),
        Just(Value::Integer(-1)),
        Just(Value::Integer(1)),
        Just(Value::Integer(3)),
        Just(Value::Integer(1 << 31)),
        Just(Value::Integer(1 << 32)),
        Just(Value::Integer(1 << 61)),
        Just(Value::Integer(i64::MAX)),
        Just(Value::Integer(i64::MIN)),
        Just(Value::Float(0.5)),
        Just(Value::Float(-0.0)),
        Just(Value::Float(1e-300)),
        Just(Value::Float(1e300)),
        Just(Value::Float(-1e300)),
        Just(Value::Float(4_294_967_296.0)),
        Just(Value::String(String::new())),
        Just(Value::String("x".into())),
        Just(Value::Boolean(true)),
        Just(Value::Array(Vec::new())),
        Just(Value::Array(vec![Value::Integer(1), Value::Integer(2)])),
    ]
}

/// Every leaf of `v` (array elements included) as a path of keys and indices.
fn leaves(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Table(t) => t.iter().for_each(|(k, x)| {
            path.push(k.clone());
            leaves(x, path, out);
            path.pop();
        }),
        Value::Array(a) if !a.is_empty() => a.iter().enumerate().for_each(|(i, x)| {
            path.push(i.to_string());
            leaves(x, path, out);
            path.pop();
        }),
        _ => out.push(path.clone()),
    }
}

fn at<'v>(v: &'v mut Value, path: &[String]) -> &'v mut Value {
    path.iter().fold(v, |v, k| match v {
        Value::Table(t) => t.get_mut(k).unwrap(),
        Value::Array(a) => &mut a[k.parse::<usize>().unwrap()],
        _ => unreachable!("leaves() gives paths through tables and arrays"),
    })
}

/// One structured edit: replace a leaf, remove it, or add an unknown key beside it.
#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, Value),
    Remove(usize),
    AddKey(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        6 => (any::<usize>(), value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        1 => any::<usize>().prop_map(Edit::Remove),
        1 => any::<usize>().prop_map(Edit::AddKey),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut root: Value = Value::Table(text.parse::<toml::Table>().unwrap());
    for e in edits {
        let mut all = Vec::new();
        leaves(&root, &mut Vec::new(), &mut all);
        let (Edit::Replace(i, _) | Edit::Remove(i) | Edit::AddKey(i)) = e;
        let path = all[i % all.len()].clone();
        match e {
            Edit::Replace(_, v) => *at(&mut root, &path) = v.clone(),
            Edit::Remove(_) | Edit::AddKey(_) => {
                let (last, parent) = path.split_last().unwrap();
                match at(&mut root, parent) {
                    Value::Table(t) if matches!(e, Edit::Remove(_)) => drop(t.remove(last)),
                    Value::Table(t) => drop(t.insert(format!("{last}_typo"), Value::Integer(1))),
                    Value::Array(a) => drop(a.remove(last.parse::<usize>().unwrap())),
                    _ => {}
                }
            }
        }
    }
    toml::to_string(&root).unwrap()
}

/// Builds the model a text describes; a built one is used a little (neurons, a stimulus frame).
fn build(file: &Path, text: &str) {
    let Ok(doc) = ModelDocument::parse(file, text) else { return };
    match build_any(&doc) {
        Ok(AnyModel::Spiking(m)) => assert!(cajal_net::Recipe::num_neurons(&m.network) >= 1),
        Ok(AnyModel::Graded(g)) => {
            let drive = g.drive(0.02);
            let mut frame = vec![0.0; drive.channels()];
            drive.fill(0, &mut frame);
            drive.fill(1 << 40, &mut frame);
            let _ = g.recorded();
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn edited_model_files_build_or_give_an_error(
        which in 0..=MODELS.len(),
        edits in proptest::collection::vec(edit(), 1..4),
    ) {
        let (file, text) = model(which, "edits");
        build(&file, &apply(&text, &edits));
    }

    #[test]
    fn byte_edits_of_model_files_build_or_give_an_error(
        which in 0..=MODELS.len(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let (file, text) = model(which, "bytes");
        let mut bytes = text.into_bytes();
        for (i, b) in edits {
            let at = i % bytes.len();
            bytes[at] = b;
        }
        build(&file, &String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn edited_rate_weight_matrices_build_or_give_an_error(
        edits in proptest::collection::vec(
            (any::<usize>(), prop_oneof![
                Just(String::new()), Just("nan".to_owned()), Just("1e999".to_owned()), Just("0,0".to_owned()),
                Just("\n".to_owned()), Just("-0.5".to_owned()), "[ -~]{0,3}",
            ]),
            1..4,
        ),
    ) {
        let dir = scratch("sernn");
        let weights = std::fs::read_to_string(repo().join("models/sernn/weights.csv")).unwrap();
        let mut fields: Vec<String> = weights.split(',').map(str::to_owned).collect();
        for (i, t) in edits {
            let k = i % fields.len();
            fields[k] = t;
        }
        std::fs::write(dir.join("weights.csv"), fields.join(",")).unwrap();
        let text = std::fs::read_to_string(repo().join("models/sernn.toml")).unwrap();
        let text = text.replace("\"sernn/weights.csv\"", "\"weights.csv\"");
        build(&dir.join("sernn.toml"), &text);
    }
}
