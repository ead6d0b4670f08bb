//! Checkpoint manifests and shards on random and mutated data: manifest fields replaced by extreme or
//! mistyped values (neuron sets whose gids run past u32, listed sets of the wrong length, huge steps and
//! sizes, spike files outside their folder), shard headers with extreme counts, horizons and column sizes,
//! and edited shard bytes before and after compression. Every case ends in a checkpoint or an error, never
//! a panic or an abort; whatever loads can be walked as a resume walks it.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use cajal_checkpoint::manifest::{checksum, write_shard};
use cajal_checkpoint::{
    CheckpointStore, ColumnKind, ColumnValues, Manifest, NeuronSet, ShardState, StateColumn, StoreOptions,
    FORMAT_VERSION,
};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::Value;

/// Cases per property (each decodes one small shard: well under a second in all in release).
const CASES: u32 = 128;

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

/// Neurons a walk visits per set at most (a set may count 2^32 gids).
const WALK: u32 = 64;

fn state() -> ShardState {
    ShardState {
        neurons: vec![NeuronSet::strided(0, 2, 3), NeuronSet::List(vec![1, 7].into())],
        columns: vec![
            StateColumn { name: "V_m_rel".into(), values: ColumnValues::F64(vec![1.0, 2.0, 3.0, 4.0, 5.0]) },
            StateColumn { name: "I_syn_in".into(), values: ColumnValues::F64(vec![-1.0; 5]) },
            StateColumn { name: "refractory_steps".into(), values: ColumnValues::U32(vec![0, 3, 0, 1, 2]) },
        ],
        horizon: 2,
        pending_input: (0..20).map(|i| i as f32).collect(),
        plastic: None,
    }
}

fn manifest(shards: Vec<cajal_checkpoint::ShardEntry>) -> Manifest {
    Manifest {
        format_version: FORMAT_VERSION,
        cajal_version: "test".into(),
        name: "step-000000000000010".into(),
        step: 10,
        ranks: 1,
        model_kind: "microcircuit".into(),
        model_text: "model = 1".into(),
        model_hash: checksum(b"model = 1"),
        model_file: "/models/m.toml".into(),
        input_files: vec![],
        seed: 1,
        dt_ms: 0.1,
        t_presim_ms: 0.0,
        t_sim_ms: 1.0,
        digest_sum: 0,
        spike_count: 0,
        analysed_counts: vec![0, 0],
        spike_files: vec![("E-s0.csv".into(), 10)],
        voltage_files: vec![("voltages.csv".into(), 100)],
        segment: 0,
        out_dir: "out".into(),
        record_spikes: true,
        checkpoint_every_ms: None,
        keep: 2,
        zstd_level: 1,
        write_seconds: 0.0,
        shards,
    }
}

/// Walks a shard as a resume does: every gid (at most [`WALK`] per set) and its input in flight.
fn walk(s: &ShardState) {
    let mut j = 0;
    for set in &s.neurons {
        for i in 0..set.len().min(WALK) {
            let _ = set.gid(i);
            for k in 0..(s.horizon as usize).min(4) {
                let _ = s.pending(j, k);
            }
            j += 1;
        }
    }
    assert_eq!(s.gids().take(1000).count(), s.len().min(1000));
}

/// Values that stress sizes and types: u32 and u64 extremes, 2^61, negative, strings, null.
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::from(0)),
        Just(Value::from(1)),
        Just(Value::from(-1)),
        Just(Value::from(u32::MAX)),
        Just(Value::from(u64::from(u32::MAX) + 1)),
        Just(Value::from(1u64 << 61)),
        Just(Value::from(u64::MAX)),
        Just(Value::from(1e300)),
        Just(Value::from("../../etc/passwd")),
        Just(Value::from("")),
        Just(Value::Null),
        Just(Value::Array(vec![Value::from(5)])),
    ]
}

fn leaves(v: &Value, path: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => o.iter().for_each(|(k, x)| leaves(x, &format!("{path}/{k}"), out)),
        Value::Array(a) if !a.is_empty() => {
            a.iter().enumerate().for_each(|(i, x)| leaves(x, &format!("{path}/{i}"), out))
        }
        _ => out.push(path.to_owned()),
    }
}

/// A bincode shard header (the layout `ShardState::encode` writes) followed by `data`, compressed.
fn crafted_shard(
    neurons: &[NeuronSet],
    horizon: u32,
    kinds: &[(String, ColumnKind)],
    columns: &[u64],
    data: &[u8],
) -> Vec<u8> {
    let header = (neurons.to_vec(), horizon, kinds.to_vec(), columns.to_vec());
    let mut raw = bincode::serde::encode_to_vec(&header, bincode::config::standard()).unwrap();
    raw.extend_from_slice(data);
    zstd::encode_all(raw.as_slice(), 1).unwrap()
}

fn extreme_u32() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..4, Just(u32::MAX), Just(u32::MAX / 2 + 1), any::<u32>()]
}

fn neuron_set() -> impl Strategy<Value = NeuronSet> {
    (extreme_u32(), extreme_u32(), extreme_u32(), proptest::collection::vec(extreme_u32(), 0..4)).prop_map(
        |(first, stride, count, gids)| {
            // Raw variants, not the constructor: a file may hold any stride and any list.
            if gids.is_empty() {
                NeuronSet::Strided { first, stride, count }
            } else {
                NeuronSet::List(gids.into())
            }
        },
    )
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn edited_manifests_load_or_give_an_error(
        edits in proptest::collection::vec((any::<usize>(), value()), 1..4),
    ) {
        let store = CheckpointStore::open("memory://", StoreOptions::default()).unwrap();
        let name = "step-000000000000010";
        let entry = write_shard(&store, name, 0, &state(), 1, 1).unwrap();
        let mut doc = serde_json::to_value(manifest(vec![entry])).unwrap();
        for (i, v) in edits {
            let mut all = Vec::new();
            leaves(&doc, "", &mut all);
            *doc.pointer_mut(&all[i % all.len()]).unwrap() = v;
        }
        store.put(&format!("{name}/manifest.json"), doc.to_string().into_bytes()).unwrap();
        store.put("latest", name.as_bytes().to_vec()).unwrap();
        if let Ok(m) = Manifest::latest(&store) {
            for (i, entry) in m.shards.iter().enumerate() {
                for set in &entry.neurons {
                    for k in 0..set.len().min(WALK) {
                        let _ = set.gid(k);
                    }
                }
                if let Ok(s) = m.read_shard(&store, i) {
                    walk(&s);
                }
            }
            for (file, _) in m.spike_files.iter().chain(&m.voltage_files) {
                prop_assert!(!file.contains(".."), "file {file} leaves its folder");
            }
        }
    }

    #[test]
    fn edited_shard_contents_decode_or_give_an_error(
        edits in proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 1..6),
        in_header in any::<bool>(),
    ) {
        let (bytes, raw_len) = state().encode(1, 1).unwrap();
        let mut raw = zstd::decode_all(bytes.as_slice()).unwrap();
        for (kind, i, b) in edits {
            // The header is the first few dozen bytes: aim there half of the time.
            let span = if in_header { raw.len().min(40) } else { raw.len() };
            let at = i % span.max(1);
            match kind % 4 {
                0 | 1 if at < raw.len() => raw[at] = b,
                2 => raw.insert(at, b),
                _ => raw.truncate(at),
            }
        }
        let bytes = zstd::encode_all(raw.as_slice(), 1).unwrap();
        for expected in [None, Some(raw_len), Some(raw.len() as u64)] {
            if let Ok(s) = ShardState::decode_sized(&bytes, "shard", expected) {
                walk(&s);
            }
        }
    }

    #[test]
    fn edited_compressed_shards_decode_or_give_an_error(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let (mut bytes, _) = state().encode(1, 1).unwrap();
        for (i, b) in edits {
            let at = i % bytes.len();
            bytes[at] = b;
        }
        if let Ok(s) = ShardState::decode(&bytes, "shard") {
            walk(&s);
        }
    }

    #[test]
    fn crafted_shard_headers_decode_or_give_an_error(
        neurons in proptest::collection::vec(neuron_set(), 0..4),
        horizon in extreme_u32(),
        kinds in proptest::collection::vec(
            (prop_oneof![Just(String::from("V")), Just(String::new())], prop_oneof![Just(ColumnKind::F64), Just(ColumnKind::U32)]),
            0..6),
        columns in proptest::collection::vec(
            prop_oneof![0u64..64, Just(u64::MAX), Just(1 << 61), Just(u64::from(u32::MAX) * 8)], 0..7),
        data in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let bytes = crafted_shard(&neurons, horizon, &kinds, &columns, &data);
        for expected in [None, Some(0), Some(1 << 20)] {
            if let Ok(s) = ShardState::decode_sized(&bytes, "shard", expected) {
                walk(&s);
            }
        }
    }
}
