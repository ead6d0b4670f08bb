//! The sbatch script of a run: the resource request, the environment, and a batch shell that starts the run
//! (or resumes it from `latest`), forwards Slurm's USR1 warning to the job step, and continues in a new job
//! (requeue or chained) when the run stopped at a checkpoint (exit 75).

use std::fmt::Write;

use crate::commands::slurm::cluster_config::{ClusterConfig, Continuation};

/// `text` as one shell word.
#[must_use]
pub fn shell_quote(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// What the script runs.
#[derive(Clone, Debug)]
pub struct ScriptPlan<'a> {
    pub config: &'a ClusterConfig,
    /// The cajal binary and the job's working directory (absolute).
    pub binary: String,
    pub workdir: String,
    /// `cajal run` arguments after `run` (model first), without the checkpoint and thread flags.
    pub run_args: Vec<String>,
    /// Extra arguments of `cajal resume` and `cajal checkpoints state` (storage, balancer, sync timer).
    pub resume_args: Vec<String>,
    pub state_args: Vec<String>,
    /// How the script was made, for its header.
    pub origin: String,
}

/// Set before anything else runs, so no warning is lost and none kills the shell: USR1 is remembered and
/// forwarded to the step once it runs; TERM (Slurm's own, at the limit, which also reaches the step
/// directly) is only remembered, so the shell lives to continue the run.
const TRAPS: &str = r#"set -uo pipefail
pid=
warned=0
forward_usr1() {
    warned=1
    echo "cajal: USR1 received, asking the run to checkpoint"
    if [ -n "$pid" ]; then kill -USR1 "$pid" 2>/dev/null; fi
}
trap forward_usr1 USR1
trap 'echo "cajal: TERM received (time limit); waiting for the run to checkpoint"' TERM

"#;

fn words(list: &[String]) -> String {
    list.iter().map(|w| shell_quote(w)).collect::<Vec<_>>().join(" ")
}

/// The complete sbatch script.
#[must_use]
pub fn render(plan: &ScriptPlan<'_>) -> String {
    let c = plan.config;
    let j = &c.job;
    let mut s = String::from("#!/bin/bash\n");
    let _ = writeln!(s, "# cajal on Slurm, written by `{}`.", plan.origin);
    let how = match c.checkpoint.continuation {
        Continuation::Requeue => "requeues itself",
        Continuation::Chain => "submits a follow-up job (afterany)",
    };
    let _ = writeln!(
        s,
        "# USR1 comes {} s before the time limit: the run checkpoints and exits 75, and the job {how}; the\n\
         # next job resumes from `latest` until the planned model time is done.",
        j.signal_lead_s
    );
    let mut directives: Vec<(&str, String)> = Vec::new();
    let mut directive = |k: &'static str, v: &str| directives.push((k, v.to_owned()));
    directive("job-name", &j.name);
    if !j.partition.is_empty() {
        directive("partition", &j.partition);
    }
    if !j.account.is_empty() {
        directive("account", &j.account);
    }
    directive("nodes", &j.nodes.to_string());
    directive("ntasks-per-node", &j.ntasks_per_node.to_string());
    directive("cpus-per-task", &j.cpus_per_task.to_string());
    directive("time", &j.time);
    if !j.mem.is_empty() {
        directive("mem", &j.mem);
    }
    directive("signal", &format!("B:USR1@{}", j.signal_lead_s));
    directive("output", &j.output);
    directive("open-mode", "append");
    directive("chdir", &plan.workdir);
    for (k, v) in directives {
        let _ = writeln!(s, "#SBATCH --{k}={}", shell_quote(&v));
    }
    if c.checkpoint.continuation == Continuation::Requeue {
        s.push_str("#SBATCH --requeue\n");
    }
    s.push_str(TRAPS);
    for m in &c.environment.modules {
        let _ = writeln!(s, "module load {}", shell_quote(m));
    }
    for line in &c.environment.setup {
        let _ = writeln!(s, "{line}");
    }
    body(&mut s, plan);
    s
}

fn body(s: &mut String, plan: &ScriptPlan<'_>) {
    let c = plan.config;
    let threads = c.job.cpus_per_task.to_string();
    let _ = writeln!(s, "\ncd {} || exit 1", shell_quote(&plan.workdir));
    let _ = writeln!(s, "cajal={}", shell_quote(&plan.binary));
    let _ = writeln!(s, "url={}", shell_quote(&c.checkpoint.url));
    let every = c.checkpoint.every_ms.to_string();
    let keep = c.checkpoint.keep.to_string();
    let _ = writeln!(
        s,
        "run=(run {} --checkpoint-to \"$url\" --checkpoint-every {every} --keep {keep} --threads {threads})",
        words(&plan.run_args)
    );
    let extra = |a: &[String]| if a.is_empty() { String::new() } else { format!(" {}", words(a)) };
    let _ = writeln!(s, "resume=(resume \"$url\"{} --threads {threads})", extra(&plan.resume_args));
    let _ = writeln!(s, "state_cmd=(checkpoints state \"$url\"{})", extra(&plan.state_args));
    s.push_str(
        r#"
state=$("$cajal" "${state_cmd[@]}") || exit 2
case "$state" in
    complete) echo "cajal: the run at $url is already complete"; exit 0 ;;
    resumable) step=("${resume[@]}") ;;
    *) step=("${run[@]}") ;;
esac
echo "cajal: job ${SLURM_JOB_ID:-?} (restart ${SLURM_RESTART_COUNT:-0}): checkpoints $state, running cajal ${step[0]}"
if [ "$warned" -eq 1 ]; then
    echo "cajal: warned before the run started; continuing in a new job"
    rc=75
else
"#,
    );
    // B:USR1 reaches only this shell: the launcher runs in the background so that the trap can forward it.
    let _ = writeln!(s, "    {} \"$cajal\" \"${{step[@]}}\" &", c.launcher.command.trim());
    s.push_str(
        r#"    pid=$!
    rc=
    while [ -z "$rc" ]; do
        wait "$pid"
        kill -0 "$pid" 2>/dev/null && continue   # a trapped signal interrupted `wait`: the step still runs
        wait "$pid"; rc=$?                       # the step's own exit status (bash keeps it)
    done
fi
if [ "$rc" -eq 75 ]; then
"#,
    );
    match c.checkpoint.continuation {
        Continuation::Requeue => s.push_str(
            "    echo \"cajal: checkpoint written; requeueing job $SLURM_JOB_ID\"\n    scontrol requeue \"$SLURM_JOB_ID\" || exit 75\n",
        ),
        Continuation::Chain => s.push_str(
            "    echo \"cajal: checkpoint written; submitting the follow-up job\"\n    sbatch --dependency=afterany:\"$SLURM_JOB_ID\" \"$0\" || exit 75\n",
        ),
    }
    s.push_str("    exit 0\nfi\nexit \"$rc\"\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("--scale"), "--scale");
        assert_eq!(shell_quote("models/a b.toml"), "'models/a b.toml'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("background.input=\"dc\""), "'background.input=\"dc\"'");
    }
}
