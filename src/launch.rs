//! Chooses the communicator back end at run time and runs this process's ranks: `Mpi` when an MPI launcher
//! started the process, `Threads` with `--ranks N`, `Local` otherwise. Also turns SIGUSR1/SIGTERM into a
//! stop request when the job can checkpoint.

#[cfg(feature = "mpi")]
#[path = "launch/mpi_world.rs"]
mod world;
#[cfg(not(feature = "mpi"))]
#[path = "launch/no_mpi_world.rs"]
mod world;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use cajal_comm::{threads_world, Communicator, Local};

use crate::error::{AppError, ExitStatus};
use crate::job::Ending;

/// Environment variables that MPI launchers (Open MPI, MPICH/Hydra, PMIx, Slurm's srun) set.
const LAUNCHER_SIZE_VARS: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"];
const LAUNCHER_MARKERS: [&str; 2] = ["PMIX_RANK", "PMI_RANK"];
/// Ranks of this job on this node, where the launcher says so.
const LOCAL_SIZE_VARS: [&str; 2] = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"];

/// How this process's ranks are laid out.
#[derive(Clone, Debug)]
pub struct Layout {
    pub threads: Option<u32>,
    pub ranks: Option<u32>,
    /// Whether SIGUSR1/SIGTERM should stop the run at a checkpoint (only when it can checkpoint).
    pub stop_on_signals: bool,
    pub log: crate::logging::LogConfig,
}

/// One rank's work: its communicator, its thread count and the stop flag.
pub type RankJob<'a> = dyn Fn(&mut dyn Communicator, usize, &AtomicBool) -> Result<Ending, AppError> + Sync + 'a;

/// Tasks of the Slurm job step this process belongs to, when srun started it (the batch shell itself is
/// not a step with tasks).
fn slurm_step_tasks() -> Option<usize> {
    std::env::var_os("SLURM_STEP_ID")?;
    std::env::var("SLURM_STEP_NUM_TASKS").ok()?.parse().ok()
}

/// Threads Slurm gave each task, inside a job.
fn slurm_cpus_per_task() -> Option<usize> {
    std::env::var("SLURM_CPUS_PER_TASK").ok()?.parse().ok().filter(|&n| n > 0)
}

/// The world size an MPI launcher announced, if one started this process. Under srun, the step's task
/// count: MPI's world must then have that size (srun without a matching `--mpi` plugin would start that
/// many one-rank jobs).
fn launcher_size() -> Option<usize> {
    for v in LAUNCHER_SIZE_VARS {
        if let Some(n) = std::env::var(v).ok().and_then(|s| s.parse().ok()) {
            return Some(n);
        }
    }
    if let Some(n) = slurm_step_tasks() {
        return Some(n);
    }
    LAUNCHER_MARKERS.iter().any(|v| std::env::var_os(v).is_some()).then_some(1)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// More threads than this many per core are refused: every window synchronises all of them, so a run
/// with far more threads than cores crawls (100,000 threads never finish building).
pub const MAX_THREADS_PER_CORE: usize = 4;

/// Threads per rank: `--threads`, or the cores this process may use shared among the ranks on this
/// machine (`ranks_here`). `ranks_sharing_cores` counts the ranks that compete for this process's cores: all ranks of the
/// process, or 1 under MPI (whose launcher may have bound each process to its own cores). More than
/// [`MAX_THREADS_PER_CORE`] x the cores this process may run on (its affinity mask and CPU quota) is
/// refused.
pub fn threads_per_rank(
    threads: Option<u32>,
    ranks_here: usize,
    ranks_sharing_cores: usize,
) -> Result<usize, AppError> {
    let slurm = slurm_cpus_per_task();
    let t = match (threads, slurm) {
        (Some(t), _) => t as usize,
        (None, Some(cpus)) => cpus,
        (None, None) => (cores() / ranks_here.max(1)).max(1),
    };
    let limit = MAX_THREADS_PER_CORE * cores();
    if t.saturating_mul(ranks_sharing_cores.max(1)) > limit {
        let what = if ranks_sharing_cores > 1 {
            format!("{ranks_sharing_cores} ranks x {t} threads")
        } else {
            format!("{t} threads")
        };
        return Err(AppError::bad(format!(
            "{what} in one process is more than {MAX_THREADS_PER_CORE} per core this process may use ({} cores): \
             at most {limit}; use --threads (and --ranks) up to the cores, or more MPI processes",
            cores()
        )));
    }
    if let Some(cpus) = slurm.filter(|&c| t > c) {
        tracing::warn!(threads = t, cpus_per_task = cpus, "more threads than the CPUs Slurm gave this task");
    }
    if t * ranks_sharing_cores > cores() {
        tracing::warn!(
            threads = t,
            ranks_here,
            cores = cores(),
            "more threads than cores: every step synchronises them, so this runs slowly"
        );
    }
    Ok(t)
}

fn build_global_pool(threads: usize) {
    // Construction's own parallel work (e.g. splitting synapse totals) uses the same number of threads.
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
}

/// The stop flag, set by SIGUSR1 or SIGTERM when `enabled`.
fn stop_flag(enabled: bool) -> Result<Arc<AtomicBool>, AppError> {
    let flag = Arc::new(AtomicBool::new(false));
    if enabled {
        let fail = |signal: i32, e: std::io::Error| AppError::run(format!("cannot handle signal {signal}: {e}"));
        // Registered first, so it sees the flag as the previous signal left it: a second SIGTERM while the
        // first is honoured (e.g. a checkpoint write that hangs) ends the process at once.
        let term = signal_hook::consts::SIGTERM;
        signal_hook::flag::register_conditional_shutdown(
            term,
            i32::from(crate::error::EXIT_PREEMPTED),
            Arc::clone(&flag),
        )
        .map_err(|e| fail(term, e))?;
        for signal in [signal_hook::consts::SIGUSR1, term] {
            signal_hook::flag::register(signal, Arc::clone(&flag)).map_err(|e| fail(signal, e))?;
        }
    }
    Ok(flag)
}

/// Runs `job` on every rank of this process with the back end the environment asks for.
pub fn launch(layout: Layout, job: &RankJob<'_>) -> Result<Ending, AppError> {
    let stop = stop_flag(layout.stop_on_signals)?;
    match (launcher_size(), layout.ranks) {
        (Some(n), Some(_)) if n > 1 => Err(AppError::bad(format!(
            "--ranks runs in-process ranks; it cannot be combined with an MPI launch of {n} processes"
        ))),
        (Some(n), _) if n > 1 || world::AVAILABLE => run_mpi(&layout, n, job, &stop),
        (_, Some(r)) if r > 1 => run_threads(&layout, r as usize, job, &stop),
        _ => {
            crate::logging::init_logging(0, &layout.log);
            let threads = threads_per_rank(layout.threads, 1, 1)?;
            build_global_pool(threads);
            job(&mut Local, threads, &stop)
        }
    }
}

/// `--ranks N`: N ranks as threads of this process, joined by the `Threads` back end.
fn run_threads(layout: &Layout, ranks: usize, job: &RankJob<'_>, stop: &AtomicBool) -> Result<Ending, AppError> {
    crate::logging::init_logging(0, &layout.log);
    let threads = threads_per_rank(layout.threads, ranks, ranks)?;
    build_global_pool(threads);
    let outcomes: Vec<Result<Ending, AppError>> = std::thread::scope(|s| {
        let handles: Vec<_> = threads_world(ranks)
            .into_iter()
            .map(|mut comm| {
                s.spawn(move || {
                    crate::logging::set_thread_rank(comm.rank());
                    let rank = comm.rank();
                    // A panicking rank must still release the others from their collectives.
                    let outcome =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&mut comm, threads, stop)))
                            .unwrap_or_else(|_| Err(AppError::run(format!("rank {rank} panicked"))));
                    if outcome.is_err() {
                        comm.abort(1);
                    }
                    outcome
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(AppError::run("a rank thread panicked")))).collect()
    });
    combine_ranks(outcomes)
}

/// The outcome of a process's in-process ranks: the first rank's own failure (not the "another rank
/// failed" echo of the others, unless that is all there is), else how the ranks ended.
fn combine_ranks(outcomes: Vec<Result<Ending, AppError>>) -> Result<Ending, AppError> {
    let mut first_err: Option<AppError> = None;
    let mut ending = Ending::Completed;
    for outcome in outcomes {
        match outcome {
            Ok(e) => ending = e,
            Err(e) => {
                if first_err.as_ref().is_none_or(|f| f.is_other_rank() && !e.is_other_rank()) {
                    first_err = Some(e);
                }
            }
        }
    }
    first_err.map_or(Ok(ending), Err)
}

fn run_mpi(layout: &Layout, size: usize, job: &RankJob<'_>, stop: &AtomicBool) -> Result<Ending, AppError> {
    // Before MPI starts: every process refuses the same thread count alike, none waits for another.
    let local_ranks = LOCAL_SIZE_VARS.iter().find_map(|v| std::env::var(v).ok()?.parse().ok()).unwrap_or(1);
    let threads = threads_per_rank(layout.threads, local_ranks, 1)?;
    let mut comm = world::init(size)?;
    crate::logging::init_logging(comm.rank(), &layout.log);
    build_global_pool(threads);
    let outcome = job(comm.as_mut(), threads, stop);
    if let Err(e) = &outcome {
        if comm.size() > 1 {
            // Other ranks may wait in a collective for this one: say why, then take the whole job down.
            eprintln!("error (rank {}): {}", comm.rank(), crate::error::message(e));
            comm.abort(i32::from(e.exit_code()));
        }
    }
    outcome
}

/// The communicator of one MPI process.
pub type World = Box<dyn Communicator>;

#[cfg(test)]
mod tests {
    use super::*;
    use cajal_comm::CommError;

    #[test]
    fn the_failing_ranks_own_error_is_reported_not_the_others_echo() {
        let echo = || Err(AppError::Comm(CommError::Aborted));
        let own = || Err(AppError::bad("rank 2: model file broken"));
        let outcome = combine_ranks(vec![echo(), echo(), own(), echo()]);
        assert_eq!(outcome.unwrap_err().to_string(), "rank 2: model file broken");
        assert!(combine_ranks(vec![echo(), echo()]).unwrap_err().is_other_rank(), "only echoes: one of them");
        assert_eq!(combine_ranks(vec![Ok(Ending::Preempted), Ok(Ending::Preempted)]).unwrap(), Ending::Preempted);
        let first = combine_ranks(vec![Err(AppError::run("first")), Err(AppError::run("second"))]);
        assert_eq!(first.unwrap_err().to_string(), "first", "the first own failure wins");
    }
}
