#!/usr/bin/env bash
# Owns a throwaway single-node Slurm cluster for tests in DIR (munge key and socket, slurm.conf,
# state, spool, logs, pid files); nothing else. Installs nothing: needs Debian's slurm-wlm and munge.
# Usage: tests/scripts/slurm.sh DIR [start|stop|destroy|env]    (default: start)
#   start    generate a munge key and slurm.conf if DIR has none, start munged, slurmctld and
#            slurmd (as root) on free loopback ports, wait until the node is idle, print exactly
#            one line: SLURM_CONF=DIR/slurm.conf (what every sbatch/squeue/scontrol/scancel needs;
#            the munge socket is named in it). Starting a running cluster just prints the line;
#            concurrent starts of one DIR take turns (flock), so they share one cluster.
#            With PETRI_SLURM_OWNER=PID, a watcher destroys the cluster once PID has exited
#            (a test binary that shares one cluster among its tests owns it this way).
#   stop     stop the daemons; keeps DIR (a later start reuses key, config and ports if free)
#   destroy  stop and delete DIR
#   env      print the line of a running cluster (exit 1 if it is not running)
# The cluster: one node (this machine's CPUs and memory), partitions `compute` (default) and
# `sequencer` (for tests of a partition per instrument class), ProctrackType=proctrack/linuxproc,
# TaskPlugin=task/none, JobAcctGatherType=jobacct_gather/none, SelectType=select/cons_tres with
# CR_Core_Memory. No slurmdbd, so no sacct: jobs are tracked with squeue and `scontrol show job`
# (finished jobs stay visible for MinJobAge=600 s).
# Example: export $(tests/scripts/slurm.sh /tmp/petri-slurm); sbatch --wrap 'hostname'
set -euo pipefail

die() { echo "slurm.sh: $*" >&2; exit 1; }

[ $# -ge 1 ] || die "usage: $0 DIR [start|stop|destroy|env]"
dir=$1
cmd=${2:-start}
[ "$(id -u)" = 0 ] || die "slurmd must run as root (it starts jobs as their submitting user)"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# munged refuses a socket in a directory others cannot enter, and a key others can read.
chmod 755 "$dir"
conf=$dir/slurm.conf
script=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

for tool in munged mungekey slurmctld slurmd scontrol sinfo; do
    command -v "$tool" >/dev/null 2>&1 || die "no $tool (apt-get install slurm-wlm munge)"
done

# A live process (a zombie that nobody reaped yet counts as gone).
pid_alive() {
    [ -s "$1" ] || return 1
    local pid
    pid=$(cat "$1")
    kill -0 "$pid" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null
}
running() {
    pid_alive "$dir/munge/munged.pid" && pid_alive "$dir/slurmctld.pid" && pid_alive "$dir/slurmd.pid" \
        && SLURM_CONF=$conf scontrol ping >/dev/null 2>&1
}
env_line() { echo "SLURM_CONF=$conf"; }

port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# The port in DIR/NAME.port if it is still free, else a new free one (remembered).
pick_port() {
    local file=$dir/$1.port
    if [ -s "$file" ] && port_free "$(cat "$file")"; then cat "$file"; return; fi
    free_port | tee "$file"
}

write_conf() {
    local ctld_port=$1 slurmd_port=$2 node node_line
    node=$(hostname -s)
    # What slurmd detects here (CPUs, sockets, cores, memory), as its own config line.
    node_line=$(slurmd -C | head -n 1 | sed -e "s/^NodeName=[^ ]*/NodeName=$node/")
    cat >"$conf" <<EOF
# Written by tests/scripts/slurm.sh: a throwaway single-node cluster in $dir.
ClusterName=petri-test
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
PriorityType=priority/basic
MpiDefault=none
ReturnToService=2
MinJobAge=600
KillWait=5
InactiveLimit=0
MaxArraySize=10001
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=compute Nodes=$node Default=YES MaxTime=INFINITE State=UP
PartitionName=sequencer Nodes=$node MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    pid_alive "$dir/munge/munged.pid" && return
    mkdir -p "$dir/munge"
    chmod 700 "$dir/munge"
    [ -s "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null
    munged --socket="$dir/munge.socket" --key-file="$dir/munge/munge.key" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
        --seed-file="$dir/munge/munged.seed" 9>&- \
        || { tail -n 5 "$dir/munge/munged.log" >&2 || true; die "munged failed to start"; }
}

stop_daemons() {
    local f pid
    # Jobs of this cluster first (slurmstepd outlives slurmd): every job here is a test's.
    if pid_alive "$dir/slurmctld.pid"; then
        SLURM_CONF=$conf scancel --full --quiet --user=root 2>/dev/null || true
        for _ in $(seq 1 100); do
            [ -z "$(SLURM_CONF=$conf squeue -h -t running,completing -o %i 2>/dev/null)" ] && break
            sleep 0.1
        done
    fi
    for f in slurmd.pid slurmctld.pid munge/munged.pid; do
        pid_alive "$dir/$f" || continue
        pid=$(cat "$dir/$f")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
}

start() {
    if running; then env_line; return; fi
    stop_daemons
    mkdir -p "$dir/state" "$dir/spool"
    local ctld_port slurmd_port
    ctld_port=$(pick_port slurmctld)
    slurmd_port=$(pick_port slurmd)
    [ "$ctld_port" != "$slurmd_port" ] || slurmd_port=$(free_port | tee "$dir/slurmd.port")
    write_conf "$ctld_port" "$slurmd_port"
    start_munge
    # Daemons must not inherit the lock (fd 9): it would stay held while they run.
    # -i: ignore (and do not wait for) saved state of a cluster this DIR held before.
    SLURM_CONF=$conf slurmctld -i 9>&- || { tail -n 20 "$dir/slurmctld.log" >&2; die "slurmctld failed (see $dir/slurmctld.log)"; }
    SLURM_CONF=$conf slurmd 9>&- || { tail -n 20 "$dir/slurmd.log" >&2; die "slurmd failed (see $dir/slurmd.log)"; }
    local state=""
    for _ in $(seq 1 600); do
        state=$(SLURM_CONF=$conf sinfo -h -N -o %t 2>/dev/null | head -n 1 || true)
        case $state in idle | mix | alloc) break ;; esac
        sleep 0.1
    done
    case $state in
        idle | mix | alloc) ;;
        *)
            tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 || true
            die "the node did not become idle in 60 s (state: '${state}')"
            ;;
    esac
    if [ -n "${PETRI_SLURM_OWNER:-}" ]; then
        # Detached from the caller's pipes, so the caller's $(…) does not wait for it.
        setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; bash "$2" "$3" destroy' \
            watcher "$PETRI_SLURM_OWNER" "$script" "$dir" </dev/null >/dev/null 2>&1 9>&- &
    fi
    env_line
}

case $cmd in
    start)
        exec 9>"$dir/lock"
        flock 9
        start
        ;;
    stop)
        exec 9>"$dir/lock"
        flock 9
        stop_daemons
        ;;
    destroy)
        stop_daemons
        rm -rf "$dir"
        ;;
    env) running || die "not running in $dir"; env_line ;;
    *) die "unknown command '$cmd' (start|stop|destroy|env)" ;;
esac
