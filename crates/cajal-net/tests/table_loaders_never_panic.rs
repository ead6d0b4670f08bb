//! Node and edge tables, CSV and Parquet, on random and mutated files: fields replaced by extreme or
//! malformed values (ids past u32, negative, non-finite numbers), rows dropped or repeated, bytes edited
//! (Parquet footers and pages included), random columns of random types and nulls. Every case ends in a
//! table or an error naming the file, never a panic or an abort.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use cajal_core::neuron_set::NeuronSet;
use cajal_core::Resolution;
use cajal_net::parquet_tables::{edge_batch, node_batch, TableWriter};
use cajal_net::{EdgeTable, NodeTable, SynapseCounts};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// Cases per property (each reads one small file: the whole file runs in about a second in release).
const CASES: u32 = 96;

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

fn scratch(name: &str, file: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cajal-table-fuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(file)
}

/// Values that stress parsers and index arithmetic.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("-1".into()),
        Just("0".into()),
        Just("2".into()),
        Just("4294967295".into()),
        Just("4294967296".into()),
        Just("9223372036854775807".into()),
        Just("-9223372036854775808".into()),
        Just("18446744073709551616".into()),
        Just("1e309".into()),
        Just("NaN".into()),
        Just("-inf".into()),
        Just("1e-320".into()),
        Just("E".into()),
        Just("I".into()),
        Just("v_th".into()),
        Just("a,b".into()),
        "[ -~]{0,5}",
    ]
}

/// One edit of a text table: a field replaced, a line dropped or repeated, or a byte changed.
#[derive(Clone, Debug)]
enum Edit {
    Field(usize, usize, String),
    DropLine(usize),
    RepeatLine(usize),
    Byte(usize, u8),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), any::<usize>(), token()).prop_map(|(l, f, t)| Edit::Field(l, f, t)),
        1 => any::<usize>().prop_map(Edit::DropLine),
        1 => any::<usize>().prop_map(Edit::RepeatLine),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Byte(i, b)),
    ]
}

fn edit_csv(text: &str, edits: &[Edit]) -> Vec<u8> {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut bytes_edits = Vec::new();
    for e in edits {
        let n = lines.len().max(1);
        match e {
            Edit::Field(l, f, t) if !lines.is_empty() => {
                let mut fields: Vec<String> = lines[l % n].split(',').map(str::to_owned).collect();
                let k = f % fields.len();
                fields[k].clone_from(t);
                lines[l % n] = fields.join(",");
            }
            Edit::DropLine(l) if !lines.is_empty() => {
                lines.remove(l % n);
            }
            Edit::RepeatLine(l) if !lines.is_empty() => {
                let line = lines[l % n].clone();
                lines.insert(l % n, line);
            }
            Edit::Byte(i, b) => bytes_edits.push((*i, *b)),
            _ => {}
        }
    }
    let mut bytes = (lines.join("\n") + "\n").into_bytes();
    for (i, b) in bytes_edits {
        let at = i % bytes.len();
        bytes[at] = b;
    }
    bytes
}

const NODES: &str = "id,population,x,y,z,V_th,V_m\n0,E,0.1,0.2,0.0,-50,-60\n1,E,0.3,0.1,0.0,-51,-61\n\
                     2,I,0.5,0.5,0.0,-50,-65\n3,I,0.9,0.2,0.0,-49,-58\n";
const EDGES: &str = "pre,post,weight,delay_ms,n_syn\n0,1,87.8,1.5,2\n1,2,-351.2,0.8,1\n2,0,20,1.0,3\n\
                     3,3,1,0.1,1\n0,3,5,2.0,1\n";

/// Uses a node table as the connectome builder would: population runs and positions by run.
fn use_nodes(path: &Path) {
    let known = [cajal_core::NeuronSpec::new(cajal_core::iaf_psc_exp::IafPscExpParams::potjans_diesmann())];
    if let Ok(t) = NodeTable::read(path, &known) {
        let n: u64 = t.populations.iter().map(|p| u64::from(p.2)).sum();
        assert!(n >= 1 && n <= u64::from(u32::MAX));
        if let Some(all) = &t.positions {
            for (_, first, count) in &t.populations {
                let run = cajal_net::imported::population_positions(all, *first, *count);
                assert_eq!(run.len(), *count as usize, "a table's positions cover each population");
            }
        }
    }
}

/// Streams, loads and queries an edge table of `neurons` neurons, with and without synapse counts.
fn use_edges(path: &Path, neurons: u32) {
    let res = Resolution::new(0.1).unwrap();
    for counts in [false, true] {
        let mut table = EdgeTable::new(path.to_owned(), neurons, res);
        if counts {
            table = table.with_counts(SynapseCounts {
                firsts: vec![0, 2],
                unit_weight: vec![87.8, -351.2],
                delay_ms: Some(1.5),
            });
        }
        let _ = table.for_each_edge(&mut |_, _| {});
        let owned = NeuronSet::strided(0, 1, neurons);
        if table.load(&owned).is_ok() {
            for g in 0..neurons {
                table.connections_to(g, |_| {}).unwrap();
            }
        }
        let _ = table.in_degree(neurons - 1);
    }
}

/// A valid Parquet node and edge table.
fn parquet_tables(nodes: &Path, edges: &Path) {
    let xyz = Some([vec![0.1, 0.3, 0.5, 0.9], vec![0.2, 0.1, 0.5, 0.2], vec![0.0; 4]]);
    let names = ["E", "E", "I", "I"].map(str::to_owned).to_vec();
    let batch = node_batch(vec![0, 1, 2, 3], names, xyz, vec![("V_th", vec![-50.0, -51.0, -50.0, -49.0])]).unwrap();
    TableWriter::create(nodes, &batch).unwrap().finish().unwrap();
    let batch = edge_batch(vec![0, 1, 2, 3], vec![1, 2, 0, 3], vec![87.8, -351.2, 20.0, 1.0], vec![1.5, 0.8, 1.0, 0.1]);
    TableWriter::create(edges, &batch.unwrap()).unwrap().finish().unwrap();
}

/// Byte edits of a binary file: set, delete a run, or truncate (positions modulo its length).
fn edit_bytes(bytes: &mut Vec<u8>, edits: &[(u8, usize, u8)]) {
    for &(kind, i, b) in edits {
        let at = i % bytes.len().max(1);
        match kind % 4 {
            0 | 1 if !bytes.is_empty() => bytes[at] = b,
            2 if !bytes.is_empty() => {
                let end = (at + usize::from(b % 16) + 1).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => bytes.truncate(at),
            _ => {}
        }
    }
}

/// A column of `n` values drawn from extreme choices, some null.
fn int_column() -> impl Strategy<Value = Vec<Option<i64>>> {
    let v = prop_oneof![
        0i64..6,
        Just(-1),
        Just(i64::from(u32::MAX)),
        Just(i64::from(u32::MAX) + 1),
        Just(i64::MAX),
        Just(i64::MIN)
    ];
    proptest::collection::vec(proptest::option::weighted(0.9, v), 0..8)
}

fn float_column() -> impl Strategy<Value = Vec<Option<f64>>> {
    let v = prop_oneof![-100.0..100.0, Just(f64::NAN), Just(f64::INFINITY), Just(f64::MAX), Just(0.0)];
    proptest::collection::vec(proptest::option::weighted(0.9, v), 0..8)
}

/// Writes a Parquet file of the given columns, cut to the shortest (a batch's columns have one length).
fn write_columns(path: &Path, columns: Vec<(&str, ArrayRef)>) {
    let rows = columns.iter().map(|(_, c)| c.len()).min().unwrap_or(0);
    let columns: Vec<(&str, ArrayRef)> = columns.into_iter().map(|(n, c)| (n, c.slice(0, rows))).collect();
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    TableWriter::create(path, &batch).unwrap().finish().unwrap();
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn csv_node_tables_give_a_table_or_an_error(edits in proptest::collection::vec(edit(), 1..5)) {
        let path = scratch("csv-nodes", "nodes.csv");
        std::fs::write(&path, edit_csv(NODES, &edits)).unwrap();
        use_nodes(&path);
    }

    #[test]
    fn csv_edge_tables_give_edges_or_an_error(
        edits in proptest::collection::vec(edit(), 1..5),
        neurons in prop_oneof![Just(4u32), 1u32..6],
    ) {
        let path = scratch("csv-edges", "edges.csv");
        std::fs::write(&path, edit_csv(EDGES, &edits)).unwrap();
        use_edges(&path, neurons);
    }

    #[test]
    fn edited_parquet_tables_give_a_table_or_an_error(
        node_edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6),
        edge_edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6),
    ) {
        let (nodes, edges) = (scratch("pq-edit", "nodes.parquet"), scratch("pq-edit", "edges.parquet"));
        parquet_tables(&nodes, &edges);
        for (path, edits) in [(&nodes, &node_edits), (&edges, &edge_edits)] {
            let mut bytes = std::fs::read(path).unwrap();
            edit_bytes(&mut bytes, edits);
            std::fs::write(path, bytes).unwrap();
        }
        use_nodes(&nodes);
        use_edges(&edges, 4);
    }

    #[test]
    fn parquet_tables_of_random_columns_give_a_table_or_an_error(
        ids in int_column(),
        names in proptest::collection::vec(proptest::option::weighted(0.9, "[EI]{0,2}"), 0..8),
        v_th in float_column(),
        (pre, post) in (int_column(), int_column()),
        (weight, delay) in (float_column(), float_column()),
        weight_as_text in any::<bool>(),
    ) {
        let (nodes, edges) = (scratch("pq-cols", "nodes.parquet"), scratch("pq-cols", "edges.parquet"));
        write_columns(&nodes, vec![
            ("id", Arc::new(Int64Array::from(ids)) as ArrayRef),
            ("population", Arc::new(StringArray::from(names)) as ArrayRef),
            ("V_th", Arc::new(Float64Array::from(v_th)) as ArrayRef),
        ]);
        use_nodes(&nodes);
        let weights: ArrayRef = if weight_as_text {
            Arc::new(StringArray::from(weight.iter().map(|w| w.map(|w| w.to_string())).collect::<Vec<_>>()))
        } else {
            Arc::new(Float32Array::from(weight.iter().map(|w| w.map(|w| w as f32)).collect::<Vec<_>>()))
        };
        write_columns(&edges, vec![
            ("pre", Arc::new(Int64Array::from(pre)) as ArrayRef),
            ("post", Arc::new(Int64Array::from(post)) as ArrayRef),
            ("weight", weights),
            ("delay_ms", Arc::new(Float64Array::from(delay)) as ArrayRef),
        ]);
        use_edges(&edges, 4);
    }
}
