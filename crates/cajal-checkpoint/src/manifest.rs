//! The manifest (written last; a checkpoint without it does not exist), the `latest` pointer, retention,
//! and reading and verifying shards against the manifest.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::format::{NeuronSet, ShardState};
use crate::{CheckpointError, CheckpointStore, LATEST};

/// Version of the checkpoint format; a different one is refused.
/// 2: neuron sets may list their gids (spatial decompositions).
/// 3: shards hold named state columns (any neuron model, graded and rate networks); the manifest lists
///    recorded voltage files.
/// 4: shards may hold plastic state (weights, spike archives, presynaptic traces).
pub const FORMAT_VERSION: u32 = 4;
const MANIFEST: &str = "manifest.json";
/// The largest step a manifest may record: far beyond any run, and far enough from u64::MAX that adding a
/// window or a delay to it cannot wrap.
const MAX_STEP: u64 = 1 << 62;

/// One shard as the manifest records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardEntry {
    /// Object name relative to the checkpoint folder.
    pub object: String,
    pub bytes: u64,
    /// Size before compression.
    pub raw_bytes: u64,
    /// xxh3-64 of the stored bytes, hex.
    pub checksum: String,
    /// The neurons the shard holds.
    pub neurons: Vec<NeuronSet>,
}

/// Everything needed to find, check and continue a run; the shards hold the neuron state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub cajal_version: String,
    /// Folder of this checkpoint under the root.
    pub name: String,
    /// The next step to simulate.
    pub step: u64,
    /// Ranks that wrote it.
    pub ranks: usize,
    pub model_kind: String,
    /// The model file as the run used it (overrides applied), and its xxh3-64 (hex).
    pub model_text: String,
    pub model_hash: String,
    /// The model file the run started from (absolute): relative paths in `model_text` are relative to its
    /// directory.
    pub model_file: String,
    /// Files the model reads (e.g. a connectome) and their xxh3-64 at checkpoint time.
    pub input_files: Vec<(String, String)>,
    pub seed: u64,
    pub dt_ms: f64,
    pub t_presim_ms: f64,
    pub t_sim_ms: f64,
    /// Running spike digest (wrapping sum) and count from step 0, over all ranks.
    pub digest_sum: u64,
    pub spike_count: u64,
    /// Analysed spikes per population so far.
    pub analysed_counts: Vec<u64>,
    /// Spike files written so far (relative to `out_dir`) and their length at this step.
    pub spike_files: Vec<(String, u64)>,
    /// Recorded voltage files of a graded or rate run (relative to `out_dir`) and their length at this step.
    pub voltage_files: Vec<(String, u64)>,
    /// How many times the run has been resumed (names the spike files of each segment).
    pub segment: u32,
    pub out_dir: String,
    pub record_spikes: bool,
    pub checkpoint_every_ms: Option<f64>,
    pub keep: usize,
    pub zstd_level: i32,
    /// Wall seconds from the start of the checkpoint to the last shard written (slowest rank).
    pub write_seconds: f64,
    pub shards: Vec<ShardEntry>,
}

/// xxh3-64 as 16 hex digits.
#[must_use]
pub fn checksum(bytes: &[u8]) -> String {
    format!("{:016x}", xxh3_64(bytes))
}

/// The folder name of the checkpoint at `step` (sorts by step).
#[must_use]
pub fn checkpoint_name(step: u64) -> String {
    format!("step-{step:015}")
}

/// Writes one shard into the checkpoint folder `name` and returns its manifest entry.
pub fn write_shard(
    store: &CheckpointStore,
    name: &str,
    rank: usize,
    state: &ShardState,
    level: i32,
    workers: u32,
) -> Result<ShardEntry, CheckpointError> {
    let started = std::time::Instant::now();
    let (bytes, raw_bytes) = state.encode(level, workers)?;
    let encoded = started.elapsed().as_secs_f64();
    let object = format!("shard-{rank:05}.bin");
    let entry = ShardEntry {
        object: object.clone(),
        bytes: bytes.len() as u64,
        raw_bytes,
        checksum: checksum(&bytes),
        neurons: state.neurons.clone(),
    };
    store.put(&format!("{name}/{object}"), bytes)?;
    tracing::debug!(encode_s = encoded, store_s = started.elapsed().as_secs_f64() - encoded, "shard written");
    Ok(entry)
}

impl Manifest {
    /// Commits the checkpoint: the manifest, then `latest`, then deletes all but the newest `keep`.
    pub fn commit(&self, store: &CheckpointStore) -> Result<(), CheckpointError> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| CheckpointError::store("encoding the manifest", e))?;
        store.put(&format!("{}/{MANIFEST}", self.name), text)?;
        store.put(LATEST, self.name.clone().into_bytes())?;
        // Retention counts complete checkpoints only; older folders without a manifest are the remains of
        // interrupted checkpoints and go too.
        let mut complete = Vec::new();
        for f in store.list_folders()?.into_iter().filter(|f| f.starts_with("step-") && *f <= self.name) {
            if store.exists(&format!("{f}/{MANIFEST}"))? {
                complete.push(f);
            } else {
                store.delete_folder(&f)?;
            }
        }
        let keep = self.keep.max(1);
        if complete.len() > keep {
            for old in &complete[..complete.len() - keep] {
                store.delete_folder(old)?;
            }
        }
        Ok(())
    }

    /// The manifest of checkpoint `name`.
    pub fn read(store: &CheckpointStore, name: &str) -> Result<Self, CheckpointError> {
        let bytes = store.get(&format!("{name}/{MANIFEST}"))?.ok_or_else(|| CheckpointError::Missing {
            url: store.url().to_owned(),
            reason: format!("checkpoint {name} has no manifest (it was never completed)"),
        })?;
        let m: Self = serde_json::from_slice(&bytes).map_err(|e| CheckpointError::Corrupt {
            checkpoint: name.to_owned(),
            reason: format!("the manifest does not parse: {e}"),
        })?;
        if m.format_version != FORMAT_VERSION {
            return Err(CheckpointError::Mismatch {
                checkpoint: name.to_owned(),
                reason: format!("format version {} (this cajal reads {FORMAT_VERSION})", m.format_version),
            });
        }
        if checksum(m.model_text.as_bytes()) != m.model_hash {
            return Err(CheckpointError::Corrupt {
                checkpoint: name.to_owned(),
                reason: "the stored model does not match its hash".into(),
            });
        }
        m.check_sizes().map_err(|reason| CheckpointError::Corrupt { checkpoint: name.to_owned(), reason })?;
        Ok(m)
    }

    /// Refuses sizes and names a resume would trust: neuron sets that name gids they do not have (a resume
    /// walks them), a step so large that step arithmetic wraps, and spike file names that leave the spike
    /// folder (a resume cuts those files back).
    fn check_sizes(&self) -> Result<(), String> {
        for shard in &self.shards {
            for set in &shard.neurons {
                set.check().map_err(|e| format!("{MANIFEST}: shard {}: {e}", shard.object))?;
            }
        }
        if self.step > MAX_STEP {
            return Err(format!("{MANIFEST}: step {} is beyond any run (at most {MAX_STEP})", self.step));
        }
        let plain = |file: &str| {
            !file.is_empty()
                && std::path::Path::new(file).components().all(|c| matches!(c, std::path::Component::Normal(_)))
        };
        for (file, _) in &self.spike_files {
            if !plain(file) {
                return Err(format!("{MANIFEST}: spike file `{file}` is not a file name inside the spike folder"));
            }
        }
        for (file, _) in &self.voltage_files {
            if !plain(file) {
                return Err(format!("{MANIFEST}: voltage file `{file}` is not a file name inside the output folder"));
            }
        }
        Ok(())
    }

    /// The manifest that `latest` points to.
    pub fn latest(store: &CheckpointStore) -> Result<Self, CheckpointError> {
        let name = store.get(LATEST)?.ok_or_else(|| CheckpointError::Missing {
            url: store.url().to_owned(),
            reason: "no `latest` object (no checkpoint was completed here)".into(),
        })?;
        let name = String::from_utf8_lossy(&name).trim().to_owned();
        Self::read(store, &name)
    }

    /// Reads shard `i`, checking its size and checksum first.
    pub fn read_shard(&self, store: &CheckpointStore, i: usize) -> Result<ShardState, CheckpointError> {
        let entry = &self.shards[i];
        let corrupt = |reason: String| CheckpointError::Corrupt { checkpoint: self.name.clone(), reason };
        let bytes = store
            .get(&format!("{}/{}", self.name, entry.object))?
            .ok_or_else(|| corrupt(format!("shard {} is missing", entry.object)))?;
        if bytes.len() as u64 != entry.bytes {
            return Err(corrupt(format!(
                "shard {} has {} bytes, the manifest says {}",
                entry.object,
                bytes.len(),
                entry.bytes
            )));
        }
        if checksum(&bytes) != entry.checksum {
            return Err(corrupt(format!("shard {} fails its checksum", entry.object)));
        }
        let state = ShardState::decode_sized(&bytes, &entry.object, Some(entry.raw_bytes))?;
        if state.neurons != entry.neurons {
            return Err(corrupt(format!("shard {} holds other neurons than the manifest says", entry.object)));
        }
        Ok(state)
    }

    /// The checksums of the model's input files, as a checkpoint records them.
    pub fn input_checksums(files: &[std::path::PathBuf]) -> Result<Vec<(String, String)>, CheckpointError> {
        files
            .iter()
            .map(|f| {
                let bytes =
                    std::fs::read(f).map_err(|e| CheckpointError::store(format!("reading {}", f.display()), e))?;
                Ok((f.display().to_string(), checksum(&bytes)))
            })
            .collect()
    }

    /// Re-reads the model's input files and refuses if one is missing or differs from checkpoint time.
    pub fn check_input_files(&self) -> Result<(), CheckpointError> {
        for (path, expected) in &self.input_files {
            let mismatch = |reason: String| CheckpointError::Mismatch { checkpoint: self.name.clone(), reason };
            let bytes = std::fs::read(path).map_err(|e| mismatch(format!("model input {path} cannot be read: {e}")))?;
            if checksum(&bytes) != *expected {
                return Err(mismatch(format!("model input {path} changed since the checkpoint (checksum)")));
            }
        }
        Ok(())
    }

    /// Checks every shard against the manifest (sizes, checksums, decoding); returns the neurons covered.
    pub fn verify(&self, store: &CheckpointStore) -> Result<u64, CheckpointError> {
        (0..self.shards.len()).map(|i| self.read_shard(store, i).map(|s| s.len() as u64)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreOptions;

    fn manifest(name: &str, shards: Vec<ShardEntry>) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            cajal_version: "test".into(),
            name: name.into(),
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
            analysed_counts: vec![],
            spike_files: vec![],
            voltage_files: vec![],
            segment: 0,
            out_dir: "out".into(),
            record_spikes: false,
            checkpoint_every_ms: None,
            keep: 2,
            zstd_level: 1,
            write_seconds: 0.0,
            shards,
        }
    }

    fn state() -> ShardState {
        ShardState {
            neurons: vec![NeuronSet::strided(0, 1, 2)],
            columns: vec![
                crate::StateColumn { name: "V_m_rel".into(), values: crate::ColumnValues::F64(vec![1.0, 2.0]) },
                crate::StateColumn { name: "refractory_steps".into(), values: crate::ColumnValues::U32(vec![0, 3]) },
            ],
            horizon: 1,
            pending_input: vec![0.5, 0.0, 0.0, -0.5],
            plastic: None,
        }
    }

    #[test]
    fn latest_follows_commits_and_retention_keeps_the_newest() {
        let dir = std::env::temp_dir().join(format!("cajal-ckpt-{}", std::process::id()));
        let store = CheckpointStore::open(dir.to_str().unwrap(), StoreOptions::default()).unwrap();
        for step in [10, 20, 30] {
            let name = checkpoint_name(step);
            let entry = write_shard(&store, &name, 0, &state(), 1, 1).unwrap();
            let mut m = manifest(&name, vec![entry]);
            m.step = step;
            m.commit(&store).unwrap();
        }
        let latest = Manifest::latest(&store).unwrap();
        assert_eq!(latest.step, 30);
        assert_eq!(latest.read_shard(&store, 0).unwrap(), state());
        assert_eq!(store.list_folders().unwrap(), vec![checkpoint_name(20), checkpoint_name(30)]);
        // A flipped byte is refused, naming the shard.
        let shard = dir.join(checkpoint_name(30)).join("shard-00000.bin");
        let mut bytes = std::fs::read(&shard).unwrap();
        bytes[3] ^= 1;
        std::fs::write(&shard, bytes).unwrap();
        let e = latest.verify(&store).unwrap_err().to_string();
        assert!(e.contains("shard-00000.bin") && e.contains("checksum"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_changed_input_file_is_refused() {
        let dir = std::env::temp_dir().join(format!("cajal-inputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("connectome.json");
        std::fs::write(&file, b"{\"edges\": [1, 2]}").unwrap();
        let mut m = manifest("step-1", vec![]);
        m.input_files = Manifest::input_checksums(std::slice::from_ref(&file)).unwrap();
        m.check_input_files().unwrap();
        std::fs::write(&file, b"{\"edges\": [1, 3]}").unwrap();
        let e = m.check_input_files().unwrap_err().to_string();
        assert!(e.contains("connectome.json") && e.contains("changed"), "{e}");
        std::fs::remove_file(&file).unwrap();
        assert!(m.check_input_files().unwrap_err().to_string().contains("cannot be read"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_folder_without_manifest_is_no_checkpoint() {
        let store = CheckpointStore::open("memory://", StoreOptions::default()).unwrap();
        assert!(matches!(Manifest::latest(&store), Err(CheckpointError::Missing { .. })));
        write_shard(&store, "step-1", 0, &state(), 1, 1).unwrap();
        assert!(matches!(Manifest::read(&store, "step-1"), Err(CheckpointError::Missing { .. })));
    }

    #[test]
    fn large_objects_go_up_in_parts_and_read_back() {
        let store =
            CheckpointStore::open("memory://", StoreOptions { part_size: 5 << 20, ..StoreOptions::default() }).unwrap();
        let data: Vec<u8> = (0..(11u32 << 20)).map(|i| (i % 251) as u8).collect();
        store.put("big", data.clone()).unwrap();
        assert_eq!(store.get("big").unwrap().unwrap(), data);
        assert!(
            CheckpointStore::open("memory://", StoreOptions { part_size: 1 << 20, ..StoreOptions::default() }).is_err()
        );
    }
}
