//! The `.npy` reader on random and mutated files: headers with random dtypes, orders and shapes (sizes up to
//! u64::MAX, whose byte counts overflow), wrong header lengths, and byte edits of a valid file. Every case
//! ends in an array or an error, never a panic or an abort; an array always has rows x columns values.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::path::PathBuf;

use cajal_core::npy::{read_2d, NpyWriter};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;

/// Cases per property: enough to reach every branch of the header parser in well under a second.
const CASES: u32 = 256;

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

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cajal-npy-fuzz-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("case.npy")
}

/// Sizes that stress the arithmetic: zero, small, the lattice's 721, powers of two around 32 and 64 bits.
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        1u64..8,
        Just(721),
        Just(1 << 31),
        Just(1 << 32),
        Just(1 << 61),
        Just(1 << 62),
        Just(u64::MAX),
        any::<u64>(),
    ]
}

/// The raw bytes of a .npy file with the given header text, version and claimed header length.
fn npy_bytes(header: &str, version: u8, claimed_len: Option<u32>, data: &[u8]) -> Vec<u8> {
    let mut bytes = b"\x93NUMPY".to_vec();
    bytes.extend_from_slice(&[version, 0]);
    let len = claimed_len.unwrap_or(header.len() as u32);
    if version == 1 {
        bytes.extend_from_slice(&(len as u16).to_le_bytes());
    } else {
        bytes.extend_from_slice(&len.to_le_bytes());
    }
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

/// One byte-level edit; positions are taken modulo the file's length.
#[derive(Clone, Debug)]
enum Edit {
    Set(usize, u8),
    Insert(usize, String),
    Delete(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let token = prop_oneof![
        Just("2305843009213693952".to_owned()),
        Just("18446744073709551615".to_owned()),
        Just("-1".to_owned()),
        Just(", ".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("'".to_owned()),
        Just("<f4".to_owned()),
        "[ -~]{0,6}",
    ];
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), token).prop_map(|(i, t)| Edit::Insert(i, t)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Edit::Delete(i, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, edits: &[Edit]) {
    for e in edits {
        let len = bytes.len().max(1);
        match e {
            Edit::Set(i, b) if !bytes.is_empty() => bytes[i % len] = *b,
            Edit::Insert(i, t) => {
                let at = i % (bytes.len() + 1);
                bytes.splice(at..at, t.bytes());
            }
            Edit::Delete(i, n) if !bytes.is_empty() => {
                let at = i % len;
                let end = (at + n).min(bytes.len());
                bytes.drain(at..end);
            }
            Edit::Truncate(i) => bytes.truncate(i % len),
            _ => {}
        }
    }
}

/// Reads `bytes` as a file: an error, or an array whose value count matches its shape.
fn read_back(path: &PathBuf, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    if let Ok(((rows, cols), values)) = read_2d(path) {
        assert_eq!(Some(values.len()), rows.checked_mul(cols), "an array's values match its shape");
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_headers_give_an_array_or_an_error(
        descr in prop_oneof![3 => Just("<f8"), 3 => Just("<f4"), 1 => Just("<i4"), 1 => Just(">f8"), 1 => Just("")],
        fortran in prop_oneof![4 => Just("False"), 1 => Just("True"), 1 => Just("0")],
        // Mostly two dimensions, so that most cases reach the size arithmetic.
        dims in prop_oneof![3 => proptest::collection::vec(size(), 2), 1 => proptest::collection::vec(size(), 0..4)],
        version in prop_oneof![4 => Just(1u8), 2 => Just(2), 1 => Just(3), 1 => any::<u8>()],
        claimed_len in proptest::option::weighted(0.1, any::<u32>()),
        // An empty data section is what a wrapped byte count of 0 would accept.
        data_len in prop_oneof![Just(0usize), Just(8), 0usize..200],
    ) {
        let shape: Vec<String> = dims.iter().map(u64::to_string).collect();
        let header = format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': ({}), }}\n", shape.join(", "));
        let data: Vec<u8> = (0..data_len).map(|i| i as u8).collect();
        read_back(&scratch("headers"), &npy_bytes(&header, version, claimed_len, &data));
    }

    #[test]
    fn edits_of_a_valid_file_give_an_array_or_an_error(edits in proptest::collection::vec(edit(), 1..6)) {
        let path = scratch("edits");
        let mut w = NpyWriter::create(&path, 3, 4).unwrap();
        w.write(&(0..12).map(f64::from).collect::<Vec<_>>()).unwrap();
        w.finish().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        apply(&mut bytes, &edits);
        read_back(&path, &bytes);
    }

    #[test]
    fn random_bytes_after_the_magic_give_an_array_or_an_error(
        tail in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let bytes = [b"\x93NUMPY".as_slice(), &tail].concat();
        read_back(&scratch("bytes"), &bytes);
    }
}
