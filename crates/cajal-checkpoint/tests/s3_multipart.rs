//! Against a real S3 server (scripts/test.sh starts moto on 127.0.0.1 and exports AWS_ENDPOINT_URL and
//! CAJAL_TEST_S3_BUCKET): a shard of more than 11 MiB goes up in 5 MiB parts and reads back intact; a
//! bucket that does not exist is reported as such.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use cajal_checkpoint::manifest::{checkpoint_name, write_shard};
use cajal_checkpoint::{
    CheckpointError, CheckpointStore, ColumnValues, NeuronSet, ShardState, StateColumn, StoreOptions,
};

fn bucket() -> String {
    std::env::var("CAJAL_TEST_S3_BUCKET")
        .expect("CAJAL_TEST_S3_BUCKET is set by scripts/test.sh (S3 tests need its server)")
}

#[test]
fn a_shard_over_11_mib_goes_up_in_parts_and_reads_back() {
    let url = format!("s3://{}/multipart-{}", bucket(), std::process::id());
    let store = CheckpointStore::open(&url, StoreOptions { part_size: 5 << 20, ..StoreOptions::default() }).unwrap();
    // Noise does not compress: 400,000 neurons x 40 bytes of random state is about 15 MiB stored.
    let n = 400_000u32;
    let mut x = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let f64s = |next: &mut dyn FnMut() -> u64| (0..n).map(|_| f64::from_bits(next() >> 2)).collect::<Vec<_>>();
    let state = ShardState {
        neurons: vec![NeuronSet::strided(0, 1, n)],
        columns: vec![
            StateColumn { name: "V_m_rel".into(), values: ColumnValues::F64(f64s(&mut next)) },
            StateColumn { name: "I_syn_ex".into(), values: ColumnValues::F64(f64s(&mut next)) },
            StateColumn { name: "I_syn_in".into(), values: ColumnValues::F64(f64s(&mut next)) },
            StateColumn {
                name: "refractory_steps".into(),
                values: ColumnValues::U32((0..n).map(|_| next() as u32).collect()),
            },
        ],
        horizon: 1,
        pending_input: (0..2 * n).map(|_| f32::from_bits(next() as u32 >> 2)).collect(),
        plastic: None,
    };
    let name = checkpoint_name(1);
    let entry = write_shard(&store, &name, 0, &state, 1, 2).unwrap();
    assert!(entry.bytes >= 11 << 20, "the shard must exceed 11 MiB: {} bytes", entry.bytes);
    let etag = store.etag(&format!("{name}/{}", entry.object)).unwrap().unwrap_or_default();
    let parts: u64 = etag.trim_matches('"').rsplit_once('-').map_or(1, |(_, p)| p.parse().unwrap());
    assert_eq!(parts, entry.bytes.div_ceil(5 << 20), "uploaded in 5 MiB parts (ETag {etag})");
    let bytes = store.get(&format!("{name}/{}", entry.object)).unwrap().unwrap();
    assert_eq!(ShardState::decode(&bytes, "shard").unwrap(), state);
}

#[test]
fn a_bucket_that_does_not_exist_is_named_as_such() {
    let e = CheckpointStore::open("s3://no-such-bucket-cajal/x", StoreOptions::default()).unwrap_err();
    assert!(matches!(e, CheckpointError::Bucket { .. }), "{e}");
    assert!(e.to_string().contains("bucket does not exist"), "{e}");
}
