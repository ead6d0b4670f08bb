#!/usr/bin/env bash
# A one-node Slurm on this machine for the submission tests: munge, slurmctld and slurmd (Debian's
# slurm-wlm 22.05 and munge), every file under one folder, no systemd, no cgroups, no accounting.
# Source it, then:
#   start_slurm [DIR]   writes DIR/slurm.conf, starts the daemons, waits until the node is idle, exports
#                       SLURM_CONF (default DIR: /tmp/cajal-slurm)
#   stop_slurm          stops the daemons start_slurm started (not ones that were running already), by PID
# Running it as a script starts Slurm and leaves it running: `bash scripts/slurm-local.sh start|stop`.

CAJAL_SLURM_DIR=${CAJAL_SLURM_DIR:-/tmp/cajal-slurm}
# PID files of the daemons this shell started.
CAJAL_SLURM_STARTED=()

# The daemons run as root (SlurmUser=root, munge as its own user); use sudo when not root.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

write_slurm_conf() {
    local dir=$1
    mkdir -p "$dir/state" "$dir/spool"
    cat > "$dir/slurm.conf" <<CONF
ClusterName=cajal-local
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
ReturnToService=2
SchedulerParameters=sched_interval=1
NodeName=localhost CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
    if [ -f /run/munge/munged.pid ] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then
        return 0
    fi
    as_root mkdir -p /run/munge /var/log/munge /var/lib/munge
    as_root chown munge:munge /run/munge /var/log/munge /var/lib/munge
    as_root runuser -u munge -- /usr/sbin/munged
    CAJAL_SLURM_STARTED+=(/run/munge/munged.pid)
}

start_slurm() {
    local dir=${1:-$CAJAL_SLURM_DIR}
    CAJAL_SLURM_DIR=$dir
    export SLURM_CONF=$dir/slurm.conf
    if [ -f "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null \
        && sinfo -h -o %t 2>/dev/null | grep -q idle; then
        return 0
    fi
    write_slurm_conf "$dir"
    start_munge
    as_root env SLURM_CONF="$SLURM_CONF" slurmctld -i
    CAJAL_SLURM_STARTED+=("$dir/slurmctld.pid")
    as_root env SLURM_CONF="$SLURM_CONF" slurmd -N localhost
    CAJAL_SLURM_STARTED+=("$dir/slurmd.pid")
    local i
    for i in $(seq 1 100); do
        if sinfo -h -o %t 2>/dev/null | grep -qE "^idle|^mix"; then
            return 0
        fi
        sleep 0.2
    done
    echo "error: the local Slurm node did not become idle; see $dir/slurmctld.log and $dir/slurmd.log" >&2
    return 1
}

stop_slurm() {
    local f
    for f in ${CAJAL_SLURM_STARTED[@]+"${CAJAL_SLURM_STARTED[@]}"}; do
        [ -f "$f" ] && as_root kill "$(cat "$f")" 2>/dev/null || true
    done
    CAJAL_SLURM_STARTED=()
}

# Every daemon of the local Slurm, started here or not (`bash scripts/slurm-local.sh stop`).
stop_slurm_all() {
    CAJAL_SLURM_STARTED=("$CAJAL_SLURM_DIR/slurmd.pid" "$CAJAL_SLURM_DIR/slurmctld.pid" /run/munge/munged.pid)
    stop_slurm
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    case "${1:-start}" in
        start) start_slurm "${2:-$CAJAL_SLURM_DIR}"; echo "export SLURM_CONF=$SLURM_CONF" ;;
        stop) stop_slurm_all ;;
        *) echo "usage: $0 start [DIR] | stop" >&2; exit 2 ;;
    esac
fi
