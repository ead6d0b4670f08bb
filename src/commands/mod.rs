//! One module per command; each uses the layers below (launch, job, checkpointing, outputs), never another
//! command's internals except the run options' checks that `resume` and `slurm` share with `run`.

pub mod checkpoints;
pub mod dry_run;
pub mod export_connectome;
pub mod report;
pub mod resume;
pub mod run;
pub mod slurm;
pub mod spike_stats;
