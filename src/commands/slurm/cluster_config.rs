//! A cluster config (`cluster/*.toml`): the sbatch request, the launcher, module and environment lines,
//! and where and how often to checkpoint. Unknown keys and impossible values are refused with the file, key
//! and value.

use std::path::{Path, PathBuf};

use crate::error::AppError;
use serde::Deserialize;

/// How a job continues after a checkpoint forced by the time limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Continuation {
    /// `scontrol requeue` the same job (it keeps its id).
    Requeue,
    /// Submit a follow-up job with `--dependency=afterany:<this job>`.
    Chain,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTable {
    pub name: String,
    #[serde(default)]
    pub partition: String,
    #[serde(default)]
    pub account: String,
    pub nodes: u32,
    /// MPI ranks per node.
    pub ntasks_per_node: u32,
    /// Threads per rank.
    pub cpus_per_task: u32,
    /// Slurm's time format: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS.
    pub time: String,
    /// e.g. "8G" (per node); empty: the partition's default.
    #[serde(default)]
    pub mem: String,
    /// Seconds before the time limit at which Slurm sends USR1 to the batch shell.
    pub signal_lead_s: u32,
    /// The job log, relative to the working directory (%j = job id).
    #[serde(default = "default_output")]
    pub output: String,
}

fn default_output() -> String {
    "cajal-%j.out".into()
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeTable {
    /// Cores per node (threads x ranks per node may not exceed it).
    pub cores: u32,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LauncherTable {
    /// e.g. "srun --mpi=pmix" or "mpirun".
    pub command: String,
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentTable {
    /// Modules to load (`module load NAME` each).
    #[serde(default)]
    pub modules: Vec<String>,
    /// Shell lines run before the job (e.g. `export VAR=value`).
    #[serde(default)]
    pub setup: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointTable {
    /// The checkpoint root: a directory, file://, s3:// (relative paths from the working directory).
    pub url: String,
    pub every_ms: f64,
    #[serde(default = "default_keep")]
    pub keep: u32,
    #[serde(rename = "continue")]
    pub continuation: Continuation,
}

fn default_keep() -> u32 {
    2
}

#[derive(Clone, Debug, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunTable {
    /// The cajal binary the job runs; empty: the one that writes the script.
    #[serde(default)]
    pub binary: String,
    /// The job's working directory; empty: where the script is written from.
    #[serde(default)]
    pub workdir: String,
}

/// A whole cluster config.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub job: JobTable,
    pub node: NodeTable,
    pub launcher: LauncherTable,
    #[serde(default)]
    pub environment: EnvironmentTable,
    pub checkpoint: CheckpointTable,
    #[serde(default)]
    pub run: RunTable,
    #[serde(skip)]
    pub file: PathBuf,
}

/// Seconds of a Slurm time limit, if `text` is one.
pub fn time_limit_s(text: &str) -> Option<u64> {
    let (days, rest) = match text.split_once('-') {
        Some((d, r)) => (d.parse::<u64>().ok()?, r),
        None => (0, text),
    };
    let parts: Vec<u64> = rest.split(':').map(|p| p.parse::<u64>().ok()).collect::<Option<_>>()?;
    let (h, m, s) = match (text.contains('-'), parts.as_slice()) {
        (false, [m]) => (0, *m, 0),
        (false, [m, s]) => (0, *m, *s),
        (false, [h, m, s]) | (true, [h, m, s]) => (*h, *m, *s),
        (true, [h]) => (*h, 0, 0),
        (true, [h, m]) => (*h, *m, 0),
        _ => return None,
    };
    // Checked: the fields are any u64 in the file, and a wrapped sum would pass as a short limit.
    let total = days
        .checked_mul(86_400)?
        .checked_add(h.checked_mul(3_600)?)?
        .checked_add(m.checked_mul(60)?)?
        .checked_add(s)?;
    (total > 0).then_some(total)
}

fn is_mem(text: &str) -> bool {
    let digits = text.trim_end_matches(['K', 'M', 'G', 'T']);
    !digits.is_empty() && digits.len() + 1 >= text.len() && digits.chars().all(|c| c.is_ascii_digit())
}

impl ClusterConfig {
    /// Reads and checks `path`.
    pub fn read(path: &Path) -> Result<Self, AppError> {
        let text = std::fs::read_to_string(path).map_err(|source| AppError::InputFile {
            what: format!("cannot read cluster config {}", path.display()),
            source,
        })?;
        let mut config: Self = toml::from_str(&text).map_err(|e| AppError::bad(format!("{}: {e}", path.display())))?;
        config.file = path.to_owned();
        config.check()?;
        Ok(config)
    }

    fn invalid(&self, key: &str, value: impl std::fmt::Display, reason: &str) -> AppError {
        AppError::bad(format!("{}: key `{key}` = {value}: {reason}", self.file.display()))
    }

    fn check(&self) -> Result<(), AppError> {
        let j = &self.job;
        let word = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
        if j.name.is_empty() || !j.name.chars().all(word) || j.name.starts_with('.') {
            return Err(self.invalid("job.name", format!("{:?}", j.name), "must be letters, digits, '.', '_' or '-'"));
        }
        for (key, value) in [("job.partition", &j.partition), ("job.account", &j.account), ("job.output", &j.output)] {
            if value.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\'' || c == '"') {
                return Err(self.invalid(key, format!("{value:?}"), "must not hold spaces, quotes or line breaks"));
            }
        }
        for (key, v) in [
            ("job.nodes", j.nodes),
            ("job.ntasks_per_node", j.ntasks_per_node),
            ("job.cpus_per_task", j.cpus_per_task),
            ("node.cores", self.node.cores),
        ] {
            if v == 0 {
                return Err(self.invalid(key, v, "must be >= 1"));
            }
        }
        if u64::from(j.ntasks_per_node) * u64::from(j.cpus_per_task) > u64::from(self.node.cores) {
            return Err(self.invalid(
                "job.cpus_per_task",
                j.cpus_per_task,
                &format!(
                    "{} ranks per node x {} threads is more than the node's {} cores",
                    j.ntasks_per_node, j.cpus_per_task, self.node.cores
                ),
            ));
        }
        let limit = time_limit_s(&j.time).ok_or_else(|| {
            self.invalid(
                "job.time",
                format!("{:?}", j.time),
                "not a Slurm time (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS)",
            )
        })?;
        if j.signal_lead_s == 0 || j.signal_lead_s > 65_535 || u64::from(j.signal_lead_s) >= limit {
            return Err(self.invalid(
                "job.signal_lead_s",
                j.signal_lead_s,
                &format!("must lie in 1..=65535 and be shorter than the time limit ({limit} s)"),
            ));
        }
        if !j.mem.is_empty() && !is_mem(&j.mem) {
            return Err(self.invalid("job.mem", format!("{:?}", j.mem), "must be a size like 4000, 8G or 512M"));
        }
        if self.launcher.command.contains('\n') {
            return Err(self.invalid("launcher.command", format!("{:?}", self.launcher.command), "must be one line"));
        }
        if self.launcher.command.trim().is_empty() {
            return Err(self.invalid(
                "launcher.command",
                "\"\"",
                "must name a launcher, e.g. \"srun --mpi=pmix\" or \"mpirun\"",
            ));
        }
        let c = &self.checkpoint;
        if c.url.trim().is_empty() {
            return Err(self.invalid("checkpoint.url", "\"\"", "must name where checkpoints go"));
        }
        if !(c.every_ms.is_finite() && c.every_ms > 0.0) {
            return Err(self.invalid("checkpoint.every_ms", c.every_ms, "must be > 0"));
        }
        if c.keep == 0 {
            return Err(self.invalid("checkpoint.keep", c.keep, "must be >= 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_time_formats() {
        assert_eq!(time_limit_s("30"), Some(1800));
        assert_eq!(time_limit_s("30:15"), Some(1815));
        assert_eq!(time_limit_s("01:00:00"), Some(3600));
        assert_eq!(time_limit_s("1-12"), Some(86_400 + 12 * 3600));
        assert_eq!(time_limit_s("2-00:30"), Some(2 * 86_400 + 1800));
        assert_eq!(time_limit_s("0-00:00:10"), Some(10));
        for bad in ["", "x", "1:2:3:4", "0", "-1", "1-2:3:4:5", "ab:cd", "213503982334602-0", "0-5124095576030432:0:0"]
        {
            assert_eq!(time_limit_s(bad), None, "{bad}");
        }
    }

    #[test]
    fn memory_sizes() {
        for good in ["4000", "8G", "512M", "1T"] {
            assert!(is_mem(good), "{good}");
        }
        for bad in ["G", "8GB", "eight", "8 G", "-8G"] {
            assert!(!is_mem(bad), "{bad}");
        }
    }

    /// Random edits of the shipped cluster configs: a value replaced by an extreme or mistyped one (counts
    /// past u32, day counts whose seconds pass u64, negative, strings) or bytes changed. Each case is a
    /// config or an error naming the file, never a panic.
    mod never_panics {
        use proptest::prelude::*;
        use toml::Value;

        use super::super::ClusterConfig;

        fn value() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Integer(0)),
                Just(Value::Integer(-1)),
                Just(Value::Integer(i64::from(u32::MAX))),
                Just(Value::Integer(i64::from(u32::MAX) + 1)),
                Just(Value::Integer(i64::MAX)),
                Just(Value::Float(f64::NAN)),
                Just(Value::Float(1e300)),
                Just(Value::String("213503982334602-00:00:00".into())),
                Just(Value::String("99999999999999999999".into())),
                Just(Value::String("0-5124095576030432".into())),
                Just(Value::String(String::new())),
                Just(Value::String("a b\n'".into())),
                Just(Value::Boolean(false)),
                Just(Value::Array(vec![Value::Integer(1)])),
            ]
        }

        fn check(name: &str, text: &str) {
            let dir = std::env::temp_dir().join(format!("cajal-cluster-fuzz-{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("cluster.toml");
            std::fs::write(&path, text).unwrap();
            if let Err(e) = ClusterConfig::read(&path) {
                assert!(format!("{e:#}").contains("cluster.toml"), "the error names the file: {e:#}");
            }
        }

        fn shipped(which: bool) -> String {
            let file = if which { "cluster/local.toml" } else { "cluster/example-multinode.toml" };
            std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap()
        }

        proptest! {
            // Failures print their shrunk input; no regression files in the source tree.
            #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, rng_seed: proptest::test_runner::RngSeed::Fixed(13), ..ProptestConfig::default() })]

            #[test]
            fn edited_cluster_configs_load_or_give_an_error(
                which in any::<bool>(),
                edits in proptest::collection::vec((any::<usize>(), any::<usize>(), value()), 1..4),
            ) {
                let mut root: toml::Table = shipped(which).parse().unwrap();
                for (t, k, v) in edits {
                    let names: Vec<String> = root.keys().cloned().collect();
                    let Some(Value::Table(table)) = root.get_mut(&names[t % names.len()]) else { continue };
                    let keys: Vec<String> = table.keys().cloned().collect();
                    if !keys.is_empty() {
                        table.insert(keys[k % keys.len()].clone(), v);
                    }
                }
                check("edits", &toml::to_string(&root).unwrap());
            }

            #[test]
            fn byte_edits_of_cluster_configs_load_or_give_an_error(
                which in any::<bool>(),
                edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
            ) {
                let mut bytes = shipped(which).into_bytes();
                for (i, b) in edits {
                    let at = i % bytes.len();
                    bytes[at] = b;
                }
                check("bytes", &String::from_utf8_lossy(&bytes));
            }
        }
    }
}
