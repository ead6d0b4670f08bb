//! Chooses the communicator back end at run time and runs this process's ranks: `Mpi` when an MPI launcher
//! started the process, `Threads` with `--ranks N`, `Local` otherwise.

#[cfg(feature = "mpi")]
#[path = "launch/mpi_world.rs"]
mod world;
#[cfg(not(feature = "mpi"))]
#[path = "launch/no_mpi_world.rs"]
mod world;

use anyhow::anyhow;

use cajal_comm::{threads_world, Communicator, Local};

use crate::run_command::{bad, run_rank};
use crate::{Failure, RunArgs};

/// Environment variables that MPI launchers (Open MPI, MPICH/Hydra, PMIx, Slurm's srun) set.
const LAUNCHER_SIZE_VARS: [&str; 3] = ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"];
const LAUNCHER_MARKERS: [&str; 2] = ["PMIX_RANK", "PMI_RANK"];
/// Ranks of this job on this node, where the launcher says so.
const LOCAL_SIZE_VARS: [&str; 2] = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"];

/// The world size an MPI launcher announced, if one started this process.
fn launcher_size() -> Option<usize> {
    for v in LAUNCHER_SIZE_VARS {
        if let Some(n) = std::env::var(v).ok().and_then(|s| s.parse().ok()) {
            return Some(n);
        }
    }
    LAUNCHER_MARKERS.iter().any(|v| std::env::var_os(v).is_some()).then_some(1)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Threads per rank: `--threads`, or the cores shared among the ranks on this machine.
fn threads_per_rank(args: &RunArgs, ranks_here: usize) -> usize {
    args.threads.map_or_else(|| (cores() / ranks_here.max(1)).max(1), |t| t as usize)
}

pub fn run(args: &RunArgs) -> Result<(), Failure> {
    if let Some(size) = args.dry_run {
        crate::progress::init_logging(args.dry_rank.unwrap_or(0) as usize);
        let threads = threads_per_rank(args, 1);
        build_global_pool(threads);
        return crate::dry_run::run_dry(args, size as usize, args.dry_rank.unwrap_or(0) as usize, threads);
    }
    match (launcher_size(), args.ranks) {
        (Some(n), Some(_)) if n > 1 => Err(bad(anyhow!(
            "--ranks runs in-process ranks; it cannot be combined with an MPI launch of {n} processes"
        ))),
        (Some(n), _) if n > 1 || world::AVAILABLE => run_mpi(args, n),
        (_, Some(r)) if r > 1 => run_threads(args, r as usize),
        _ => {
            crate::progress::init_logging(0);
            let threads = threads_per_rank(args, 1);
            build_global_pool(threads);
            run_rank(args, &mut Local, threads)
        }
    }
}

fn build_global_pool(threads: usize) {
    // Construction's own parallel work (e.g. splitting synapse totals) uses the same number of threads.
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
}

/// `--ranks N`: N ranks as threads of this process, joined by the `Threads` back end.
fn run_threads(args: &RunArgs, ranks: usize) -> Result<(), Failure> {
    crate::progress::init_logging(0);
    let threads = threads_per_rank(args, ranks);
    build_global_pool(threads);
    let outcomes: Vec<Result<(), Failure>> = std::thread::scope(|s| {
        let handles: Vec<_> = threads_world(ranks)
            .into_iter()
            .map(|mut comm| {
                s.spawn(move || {
                    crate::progress::set_thread_rank(comm.rank());
                    let outcome = run_rank(args, &mut comm, threads);
                    if outcome.is_err() {
                        comm.abort(1);
                    }
                    outcome
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(Failure::Run(anyhow!("a rank thread panicked")))))
            .collect()
    });
    // Report the first rank's own failure, not an "another rank failed" echo.
    let mut first_err = None;
    for outcome in outcomes {
        if let Err(e) = outcome {
            let echo = matches!(&e, Failure::Run(err) if err.to_string().contains("another rank failed"));
            if first_err.is_none() || (!echo && matches!(&first_err, Some((true, _)))) {
                first_err = Some((echo, e));
            }
        }
    }
    first_err.map_or(Ok(()), |(_, e)| Err(e))
}

fn run_mpi(args: &RunArgs, size: usize) -> Result<(), Failure> {
    let mut comm = world::init(size)?;
    crate::progress::init_logging(comm.rank());
    let local_ranks = LOCAL_SIZE_VARS.iter().find_map(|v| std::env::var(v).ok()?.parse().ok()).unwrap_or(1);
    let threads = threads_per_rank(args, local_ranks);
    build_global_pool(threads);
    let outcome = run_rank(args, comm.as_mut(), threads);
    if let Err(e) = &outcome {
        if comm.size() > 1 {
            // Other ranks may wait in a collective for this one: say why, then take the whole job down.
            let (err, code) = match e {
                Failure::BadInput(err) => (err, crate::EXIT_BAD_INPUT),
                Failure::Run(err) => (err, crate::EXIT_FAILURE),
            };
            eprintln!("error (rank {}): {}", comm.rank(), crate::message(err));
            comm.abort(i32::from(code));
        }
    }
    outcome
}

/// The communicator of one MPI process.
pub type World = Box<dyn Communicator>;
