//! The application's errors and their exit codes: the exit code is a property of the error (the
//! [`ExitStatus`] trait, implemented for every library error), so no call site chooses one.

use cajal_checkpoint::CheckpointError;
use cajal_comm::CommError;
use cajal_core::CoreError;
use cajal_metrics::MetricsError;
use cajal_models::ModelError;
use cajal_net::NetError;
use cajal_sim::SimError;

/// Exit code for failures during a run.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for bad input (command line, model file, output directory), as clap uses for usage errors.
pub const EXIT_BAD_INPUT: u8 = 2;
/// Exit code after a signal (SIGUSR1, SIGTERM) stopped the run and a checkpoint was written: retry later
/// with `cajal resume` (sysexits' EX_TEMPFAIL; job scripts requeue on it).
pub const EXIT_PREEMPTED: u8 = 75;

/// The exit code an error ends the process with: [`EXIT_BAD_INPUT`] when the user's input is at fault,
/// [`EXIT_FAILURE`] when the run failed.
pub trait ExitStatus {
    fn exit_code(&self) -> u8;
}

/// Input errors of the model (its keys, or a network its keys make impossible).
impl ExitStatus for ModelError {
    fn exit_code(&self) -> u8 {
        EXIT_BAD_INPUT
    }
}

impl ExitStatus for NetError {
    fn exit_code(&self) -> u8 {
        EXIT_BAD_INPUT
    }
}

impl ExitStatus for CoreError {
    fn exit_code(&self) -> u8 {
        EXIT_BAD_INPUT
    }
}

impl ExitStatus for CommError {
    fn exit_code(&self) -> u8 {
        EXIT_FAILURE
    }
}

/// Files given to read (reports, spike files) and analysis settings are input; writing is the run's.
impl ExitStatus for MetricsError {
    fn exit_code(&self) -> u8 {
        match self {
            MetricsError::Input { .. } | MetricsError::Settings(_) => EXIT_BAD_INPUT,
            MetricsError::Histogram(_) | MetricsError::Plot { .. } | MetricsError::Io { .. } => EXIT_FAILURE,
        }
    }
}

/// The network's keys and what does not fit in memory are the input's fault; the rest happened while
/// running.
impl ExitStatus for SimError {
    fn exit_code(&self) -> u8 {
        match self {
            SimError::Net(e) => e.exit_code(),
            SimError::Core(e) => e.exit_code(),
            SimError::OutOfMemory { .. } | SimError::Restore(_) => EXIT_BAD_INPUT,
            SimError::Comm(_)
            | SimError::Io { .. }
            | SimError::ThreadPool(_)
            | SimError::Routing(_)
            | SimError::WorkerPanic => EXIT_FAILURE,
        }
    }
}

/// A location, checkpoint or bucket the user named that cannot be used is bad input; the store failing
/// on the way is a run failure.
impl ExitStatus for CheckpointError {
    fn exit_code(&self) -> u8 {
        match self {
            CheckpointError::Store { .. } => EXIT_FAILURE,
            CheckpointError::Location { .. }
            | CheckpointError::Bucket { .. }
            | CheckpointError::Missing { .. }
            | CheckpointError::Corrupt { .. }
            | CheckpointError::Mismatch { .. } => EXIT_BAD_INPUT,
        }
    }
}

/// Every way a command can fail; each variant is one failure class.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Comm(#[from] CommError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    /// Input the user gave that cannot be used (flags, files, directories), saying what and why.
    #[error("{0}")]
    BadInput(String),
    /// A file or directory the user named that cannot be read or written.
    #[error("{what}: {source}")]
    InputFile { what: String, source: std::io::Error },
    /// Writing the run's outputs failed.
    #[error("{what}: {source}")]
    Output { what: String, source: std::io::Error },
    /// Anything else that failed while running.
    #[error("{0}")]
    Run(String),
}

impl AppError {
    /// Bad input, described.
    pub fn bad(message: impl Into<String>) -> Self {
        Self::BadInput(message.into())
    }

    /// A run failure, described.
    pub fn run(message: impl std::fmt::Display) -> Self {
        Self::Run(message.to_string())
    }

    /// An output that could not be written.
    pub fn output(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Output { what: what.into(), source }
    }

    /// Whether this rank stopped only because another rank failed (that rank reports the cause).
    #[must_use]
    pub fn is_other_rank(&self) -> bool {
        matches!(self, Self::Comm(CommError::Aborted) | Self::Sim(SimError::Comm(CommError::Aborted)))
    }
}

impl ExitStatus for AppError {
    fn exit_code(&self) -> u8 {
        match self {
            Self::Model(e) => e.exit_code(),
            Self::Net(e) => e.exit_code(),
            Self::Core(e) => e.exit_code(),
            Self::Sim(e) => e.exit_code(),
            Self::Checkpoint(e) => e.exit_code(),
            Self::Comm(e) => e.exit_code(),
            Self::Metrics(e) => e.exit_code(),
            Self::BadInput(_) | Self::InputFile { .. } => EXIT_BAD_INPUT,
            Self::Output { .. } | Self::Run(_) => EXIT_FAILURE,
        }
    }
}

/// The error and its causes on one line, leaving out a cause whose text the message already holds.
#[must_use]
pub fn message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let c_text = c.to_string();
        if !text.contains(&c_text) {
            text.push_str(": ");
            text.push_str(&c_text);
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_class_has_its_exit_code() {
        let input = [
            AppError::bad("--threads 0"),
            AppError::InputFile { what: "reading m.toml".into(), source: std::io::Error::other("gone") },
            NetError::Invalid("no populations".into()).into(),
            SimError::OutOfMemory { what: "x".into(), needed_gib: 2.0, available_gib: 1.0 }.into(),
            SimError::Restore("not this network".into()).into(),
            CheckpointError::Missing { url: "memory://".into(), reason: "no latest".into() }.into(),
            CheckpointError::Corrupt { checkpoint: "c".into(), reason: "checksum".into() }.into(),
            CheckpointError::Bucket { url: "s3://b".into(), reason: "no such bucket".into() }.into(),
        ];
        for e in &input {
            assert_eq!(e.exit_code(), EXIT_BAD_INPUT, "{e}");
        }
        let failures = [
            AppError::run("rank 1 panicked"),
            AppError::output("writing summary.json", std::io::Error::other("disk full")),
            SimError::WorkerPanic.into(),
            SimError::Comm(CommError::Transport("MPI".into())).into(),
            CheckpointError::Store { context: "put".into(), message: "timeout".into() }.into(),
            AppError::Comm(CommError::Aborted),
        ];
        for e in &failures {
            assert_eq!(e.exit_code(), EXIT_FAILURE, "{e}");
        }
    }

    #[test]
    fn another_ranks_failure_is_recognised_by_type() {
        assert!(AppError::Comm(CommError::Aborted).is_other_rank());
        assert!(AppError::Sim(SimError::Comm(CommError::Aborted)).is_other_rank());
        assert!(!AppError::run("another rank failed").is_other_rank(), "the text alone does not make it one");
        assert!(!AppError::Sim(SimError::WorkerPanic).is_other_rank());
    }

    #[test]
    fn messages_name_each_cause_once() {
        let e = AppError::output("writing out/summary.json", std::io::Error::other("No space left on device"));
        assert_eq!(message(&e), "writing out/summary.json: No space left on device");
    }
}
