//! From the command line to a job: the model file read once with the flags' overrides, the flags a model
//! kind refuses, the output directory, and the job for the model's kind. `run`, `resume`, `slurm` and dry
//! runs share these.

use std::path::{Path, PathBuf};
use std::time::Instant;

use cajal_models::record_spec::{parse_record_flag, split_recording, Recording, SpikeFormat, StateFormat};
use cajal_models::{AnyModel, ModelDocument, ModelError, ModelKind, Override, Scaling};

use crate::cli::{GradedArgs, RunArgs};
use crate::error::AppError;
use crate::graded_run::GradedModelRun;
use crate::job::{Ending, Job, JobSettings};
use crate::spiking_run::SpikingRun;

/// What a spiking run records besides spike counts, and where each record was asked for (for messages).
#[derive(Clone, Debug, Default)]
pub struct RunRecording {
    pub recording: Recording,
    /// Per record: `<file>: record.<i>` or `--record-state <spec>`.
    pub origins: Vec<String>,
}

/// A run's model document as its builder reads it (without recording tables), and what the run records.
#[derive(Clone, Debug)]
pub struct RunDocument {
    pub doc: ModelDocument,
    pub kind: ModelKind,
    pub recording: RunRecording,
}

impl RunDocument {
    /// The model text a checkpoint stores: the document with its recording put back, so a resume records
    /// the same.
    pub fn stored_text(&self) -> Result<String, AppError> {
        Ok(self.recording.recording.put_back(&self.doc)?.to_toml()?)
    }
}

/// Reads the model file once, refuses flags its kind cannot use, and applies the overrides of `--set` and
/// of the dedicated flags (which win). The document comes without its recording tables (what the
/// builders, dry runs and job scripts read); [`load_run`] keeps them.
pub fn load_run_document(args: &RunArgs) -> Result<(ModelDocument, ModelKind), AppError> {
    let run = load_run(args)?;
    Ok((run.doc, run.kind))
}

/// [`load_run_document`] with what the run records: the model file's `[[record]]` tables and `[spikes]`
/// format, then `--record-state` (appended), `--state-format` and `--spike-format` (which win).
pub fn load_run(args: &RunArgs) -> Result<RunDocument, AppError> {
    let mut doc = ModelDocument::read(&args.model)?;
    let kind = doc.model_kind()?;
    check_flags(args, kind)?;
    for o in overrides(args, kind)? {
        doc.apply(&o)?;
    }
    let mut run = split_run_document(doc, kind)?;
    let rec = &mut run.recording;
    for text in &args.record_state {
        let spec = parse_record_flag(text).map_err(|r| AppError::bad(format!("--record-state {text}: {r}")))?;
        rec.recording.records.push(spec);
        rec.origins.push(format!("--record-state {text}"));
    }
    for text in &args.record_weights {
        let spec = cajal_models::weight_record::parse_weight_flag(text)
            .map_err(|r| AppError::bad(format!("--record-weights {text}: {r}")))?;
        rec.recording.weights.push(spec);
    }
    if let Some(f) = &args.state_format {
        let format = StateFormat::from_name(f).map_err(|r| AppError::bad(format!("--state-format {f}: {r}")))?;
        rec.recording.records.iter_mut().for_each(|r| r.format = format);
    }
    if let Some(f) = &args.spike_format {
        rec.recording.spike_format =
            SpikeFormat::from_name(f).map_err(|r| AppError::bad(format!("--spike-format {f}: {r}")))?;
    }
    rec.recording
        .labels()
        .map_err(|r| AppError::bad(format!("{} ([[record]] and --record-state): {r}", args.model.display())))?;
    Ok(run)
}

/// Takes a spiking model's recording tables out of `doc` (a graded model's document stays as it is: its
/// builder refuses them by name).
pub fn split_run_document(doc: ModelDocument, kind: ModelKind) -> Result<RunDocument, AppError> {
    if !kind.is_spiking() {
        return Ok(RunDocument { doc, kind, recording: RunRecording::default() });
    }
    let (bare, recording) = split_recording(&doc)?;
    let origins = (0..recording.records.len()).map(|i| format!("{}: record.{i}", doc.file().display())).collect();
    Ok(RunDocument { doc: bare, kind, recording: RunRecording { recording, origins } })
}

/// The overrides from `--set` followed by those of the dedicated flags, for a model of `kind`.
fn overrides(args: &RunArgs, kind: ModelKind) -> Result<Vec<Override>, ModelError> {
    let mut list = args.set.iter().map(|s| Override::parse(&args.model, s)).collect::<Result<Vec<_>, _>>()?;
    for a in &args.add {
        list.push(Override::parse_append(&args.model, a)?);
    }
    if let Some(f) = args.scale {
        list.extend(scale_overrides(kind, f, &args.model)?);
    }
    if let Some(t) = args.t_presim {
        list.push(Override::new("simulation.t_presim_ms", toml_float(t)));
    }
    if let Some(t) = args.t_sim {
        list.push(Override::new("simulation.t_sim_ms", toml_float(t)));
    }
    if let Some(s) = args.seed {
        list.push(Override::new("simulation.seed", s));
    }
    if let Some(dt) = args.dt_ms {
        list.push(Override::new("simulation.dt_ms", toml_float(dt)));
    }
    list.extend(graded_overrides(&args.graded).map_err(|e| ModelError::Override {
        file: args.model.clone(),
        arg: e.0,
        reason: e.1,
    })?);
    Ok(list)
}

/// `--scale F` as overrides of a model of `kind` read from `file` (`run` and `export-connectome`).
pub fn scale_overrides(kind: ModelKind, f: f64, file: &Path) -> Result<Vec<Override>, ModelError> {
    match kind.scaling() {
        Scaling::SizesAndInDegrees => {
            Ok(vec![Override::new("scaling.N", toml_float(f)), Override::new("scaling.K", toml_float(f))])
        }
        // The sheet keeps its in-degrees and grows.
        Scaling::SizesOnly => Ok(vec![Override::new("scaling.N", toml_float(f))]),
        Scaling::None => Err(ModelError::Override {
            file: file.to_owned(),
            arg: format!("--scale {f}"),
            reason: format!("a {kind} model is not scalable: its size comes from its data"),
        }),
    }
}

/// A TOML float literal of `v` (`1e30`, not a 31-digit integer that TOML cannot hold).
fn toml_float(v: f64) -> toml::Value {
    toml::Value::Float(v)
}

/// A TOML string literal of `text`.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Overrides from the graded-model flags; paths become absolute (the model file resolves relative ones
/// against its own directory, a user means the working directory).
fn graded_overrides(g: &GradedArgs) -> Result<Vec<Override>, (String, String)> {
    let abs = |p: &Path| std::path::absolute(p).map_err(|e| (p.display().to_string(), e.to_string()));
    let mut list = Vec::new();
    if let Some(p) = &g.params {
        list.push(Override::new("parameters.file", toml_string(&abs(p)?.display().to_string())));
    }
    if let Some(spec) = &g.stimulus {
        let spec = match spec.strip_prefix("frames:") {
            Some(file) => format!("frames:{}", abs(Path::new(file))?.display()),
            None => spec.clone(),
        };
        list.push(Override::new("stimulus.spec", toml_string(&spec)));
    }
    if let Some(what) = &g.record {
        let scope = what.trim_end_matches("-voltages");
        list.push(Override::new("recording.voltages", toml_string(scope)));
    }
    if !g.record_types.is_empty() {
        let names: Vec<toml::Value> = g.record_types.iter().map(|n| toml::Value::String(n.clone())).collect();
        list.push(Override::new("recording.types", toml::Value::Array(names)));
    }
    if let Some(f) = &g.record_format {
        list.push(Override::new("recording.format", toml_string(f)));
    }
    Ok(list)
}

/// The flags of `args` that a model of `kind` does not take, by name.
fn foreign_flags(args: &RunArgs, kind: ModelKind) -> Vec<&'static str> {
    let g = &args.graded;
    let stimulus = [
        ("--params", g.params.is_some()),
        ("--stimulus", g.stimulus.is_some()),
        ("--record", g.record.is_some()),
        ("--record-types", !g.record_types.is_empty()),
        ("--record-format", g.record_format.is_some()),
    ];
    let spiking = [
        ("--no-spikes", args.no_spikes),
        ("--sync-timer", args.sync_timer),
        ("--record-state", !args.record_state.is_empty()),
        ("--record-weights", !args.record_weights.is_empty()),
        ("--state-format", args.state_format.is_some()),
        ("--spike-format", args.spike_format.is_some()),
    ];
    let mut foreign: Vec<(&str, bool)> = Vec::new();
    if !kind.takes_stimulus_flags() {
        foreign.extend(stimulus);
    }
    if !kind.is_spiking() {
        foreign.extend(spiking);
    }
    foreign.push(("--dry-run", args.dry_run.is_some() && !kind.supports_dry_run()));
    foreign.push(("--scale", args.scale.is_some() && kind.scaling() == Scaling::None));
    foreign.iter().filter(|(_, given)| *given).map(|(name, _)| *name).collect()
}

/// Refuses flags a model of `kind` cannot use, naming them and the model.
pub fn check_flags(args: &RunArgs, kind: ModelKind) -> Result<(), AppError> {
    let foreign = foreign_flags(args, kind);
    let Some(first) = foreign.first() else { return Ok(()) };
    let what = match *first {
        "--params" | "--stimulus" | "--record" | "--record-types" | "--record-format" => {
            "optic_lobe models only (their visual stimulus and recording)"
        }
        "--no-spikes" | "--sync-timer" | "--record-state" | "--state-format" | "--spike-format" => {
            "spiking models only (graded models have no spikes and no exchange window; they record voltages \
             with --record)"
        }
        "--dry-run" => "spiking models only (a dry run models the spike fan-out)",
        _ => "models with a scaling section (microcircuit, spatial_sheet); this model's size comes from its data",
    };
    Err(AppError::bad(format!(
        "{} (model {} is a {kind} model): {} for {what}",
        foreign.join(", "),
        args.model.display(),
        if foreign.len() > 1 { "these flags are" } else { "this flag is" }
    )))
}

/// Creates `dir` and checks that this rank can write a file in it.
pub fn prepare_output(dir: &Path, rank: usize) -> Result<(), AppError> {
    let probe = dir.join(format!(".cajal-write-test-{rank}"));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| AppError::InputFile {
            what: format!("output directory {} is not writable", dir.display()),
            source,
        })
}

/// `path` as an absolute path, so that a checkpoint finds its files from any working directory.
pub fn absolute(dir: &Path) -> Result<PathBuf, AppError> {
    std::path::absolute(dir).map_err(|e| AppError::bad(format!("{}: {e}", dir.display())))
}

/// Runs `model` as the job its kind needs. Collective.
pub fn run_job(
    model: AnyModel,
    recording: RunRecording,
    settings: JobSettings,
    record_spikes: bool,
    comm: &mut dyn cajal_comm::Communicator,
    stop: &std::sync::atomic::AtomicBool,
    started: Instant,
) -> Result<Ending, AppError> {
    match model {
        AnyModel::Spiking(m) => {
            let RunRecording { recording, origins } = recording;
            let run = SpikingRun { model: *m, record_spikes, recording, record_origins: origins };
            Job { model: run, settings }.execute(comm, stop, started)
        }
        AnyModel::Graded(m) => Job { model: GradedModelRun { model: m }, settings }.execute(comm, stop, started),
    }
}
