//! The `cajal` command line: parses it, runs the command, and maps the outcome to an exit code (2 bad
//! input, 1 failure while running, 75 stopped by a signal after a checkpoint; the error decides).

use std::process::ExitCode;

use clap::Parser;

use cajal::cli::{Cli, Command};
use cajal::commands;
use cajal::error::{message, ExitStatus, EXIT_BAD_INPUT, EXIT_PREEMPTED};
use cajal::job::Ending;
use cajal::logging::LogConfig;

fn main() -> ExitCode {
    // Output piped into `head` that closes early ends the process quietly, as for any Unix tool, instead
    // of a panic in println!.
    // SAFETY: restoring the default action of one signal at start, before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    if let Some(level) = &cli.log_level {
        if tracing_subscriber::EnvFilter::try_new(level).is_err() {
            eprintln!(
                "error: --log-level {level}: not a level or filter (error, warn, info, debug, trace, target=level)"
            );
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    }
    let log = LogConfig { level: cli.log_level.clone(), json: cli.log_format == "json" };
    let done = |r: Result<(), cajal::error::AppError>| r.map(|()| Ending::Completed);
    let outcome = match cli.command {
        Command::Run(args) => commands::run::run(&args, &log),
        Command::Resume(args) => commands::resume::resume(&args, &log),
        Command::Checkpoints(args) => done(commands::checkpoints::run(&args)),
        Command::Report(args) => done(commands::report::report(&args)),
        Command::Slurm(args) => done(commands::slurm::run(&args)),
        Command::ExportConnectome(args) => done(commands::export_connectome::run(&args)),
        Command::SpikeStats(args) => done(commands::spike_stats::run(&args)),
    };
    match outcome {
        Ok(Ending::Completed | Ending::StoppedAfter) => ExitCode::SUCCESS,
        Ok(Ending::Preempted) => {
            eprintln!("stopped by a signal; checkpoint written; continue with `cajal resume`");
            ExitCode::from(EXIT_PREEMPTED)
        }
        Err(e) => {
            eprintln!("error: {}", message(&e));
            ExitCode::from(e.exit_code())
        }
    }
}
