#!/usr/bin/env bash
# Owns a throwaway single-node Slurm cluster for tests in DIR (munge key and socket, slurm.conf,
# state, spool, logs, pid files; with accounting also its MariaDB and slurmdbd); nothing else.
# Installs nothing: needs Debian's slurm-wlm and munge (accounting: slurmdbd and mariadb-server).
# Usage: tests/scripts/slurm.sh DIR [start|stop|destroy|env]    (default: start)
#   start    generate a munge key and slurm.conf if DIR has none, start munged, slurmctld and
#            slurmd (as root) on free loopback ports, wait until the node is idle, print exactly
#            one line: SLURM_CONF=DIR/slurm.conf (what every sbatch/squeue/scontrol/scancel needs;
#            the munge socket is named in it). Starting a running cluster just prints the line;
#            concurrent starts of one DIR take turns (flock), so they share one cluster.
#            With PETRI_SLURM_OWNER=PID, a watcher destroys the cluster once PID has exited
#            (a test binary that shares one cluster among its tests owns it this way).
#            With PETRI_SLURM_ACCOUNTING=1 (remembered in DIR), the cluster has accounting: see below.
#   stop     stop the daemons; keeps DIR (a later start reuses key, config and ports if free)
#   destroy  stop and delete DIR
#   env      print the line of a running cluster (exit 1 if it is not running)
# The cluster: one node (this machine's CPUs and memory), partitions `compute` (default) and
# `sequencer` (for tests of a partition per instrument class), ProctrackType=proctrack/linuxproc,
# TaskPlugin=task/none, JobAcctGatherType=jobacct_gather/none, SelectType=select/cons_tres with
# CR_Core_Memory. By default no slurmdbd, so no sacct: jobs are tracked with squeue and
# `scontrol show job` (finished jobs stay visible for MinJobAge=600 s).
# Accounting (PETRI_SLURM_ACCOUNTING=1): a throwaway MariaDB (mariadb-install-db into DIR/mariadb,
# mariadbd as root on DIR/mariadbd.sock and a free loopback port, no password), slurmdbd on a free
# loopback port storing into it (DIR/slurmdbd.conf, mode 600), the cluster registered with
# sacctmgr, AccountingStorageType=accounting_storage/slurmdbd and MinJobAge=2: an ended job leaves
# slurmctld within about a minute (its purge runs once a minute) and is then known to sacct only.
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
# Accounting is chosen at a start and remembered: later commands on DIR see the marker.
if [ "$cmd" = start ] && [ "${PETRI_SLURM_ACCOUNTING:-}" = 1 ]; then touch "$dir/accounting"; fi
accounting() { [ -e "$dir/accounting" ]; }
if accounting; then
    for tool in slurmdbd sacctmgr mariadbd mariadb-install-db mariadb; do
        command -v "$tool" >/dev/null 2>&1 || die "no $tool (apt-get install slurmdbd mariadb-server)"
    done
fi

# A live process (a zombie that nobody reaped yet counts as gone).
pid_alive() {
    [ -s "$1" ] || return 1
    local pid
    pid=$(cat "$1")
    kill -0 "$pid" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null
}
running() {
    if accounting; then
        pid_alive "$dir/mariadbd.pid" && pid_alive "$dir/slurmdbd.pid" || return 1
    fi
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
# The port in DIR/NAME.port if it is still free and not one of the other ports given, else a new
# such port (remembered).
pick_port() {
    local file=$dir/$1.port port
    shift
    port=$(cat "$file" 2>/dev/null || true)
    until [ -n "$port" ] && port_free "$port" && [[ " $* " != *" $port "* ]]; do port=$(free_port); done
    echo "$port" | tee "$file"
}

write_conf() {
    local ctld_port=$1 slurmd_port=$2 dbd_port=${3:-} node node_line storage min_job_age=600
    storage="AccountingStorageType=accounting_storage/none"
    if [ -n "$dbd_port" ]; then
        # AccountingStoragePass names the munge socket for talking to slurmdbd (AuthInfo's is
        # not used for that; without it sacct/sacctmgr try /run/munge).
        storage="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
AccountingStoragePass=$dir/munge.socket"
        min_job_age=2
    fi
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
$storage
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
PriorityType=priority/basic
MpiDefault=none
ReturnToService=2
MinJobAge=$min_job_age
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

# A throwaway MariaDB for slurmdbd: root without a password, on DIR/mariadbd.sock and 127.0.0.1:PORT.
start_mariadb() {
    local port=$1 db=$dir/mariadb
    pid_alive "$dir/mariadbd.pid" && return
    local opts=(--no-defaults --user=root --datadir="$db" --innodb-log-file-size=8M)
    if [ ! -d "$db/mysql" ]; then
        mariadb-install-db "${opts[@]}" --auth-root-authentication-method=normal --skip-test-db \
            >"$dir/mariadb-install.log" 2>&1 9>&- \
            || { tail -n 20 "$dir/mariadb-install.log" >&2; die "mariadb-install-db failed"; }
    fi
    # mariadbd stays in the foreground: detached, and from the caller's pipes too.
    setsid mariadbd "${opts[@]}" --socket="$dir/mariadbd.sock" --port="$port" --bind-address=127.0.0.1 \
        --pid-file="$dir/mariadbd.pid" --log-error="$dir/mariadbd.log" --skip-log-bin \
        --innodb-buffer-pool-size=64M --innodb-lock-wait-timeout=900 </dev/null >/dev/null 2>&1 9>&- &
    for _ in $(seq 1 300); do
        mariadb --no-defaults --socket="$dir/mariadbd.sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && return
        sleep 0.1
    done
    tail -n 20 "$dir/mariadbd.log" >&2 || true
    die "mariadbd did not answer in 30 s (see $dir/mariadbd.log)"
}

# slurmdbd on 127.0.0.1:PORT storing into the MariaDB on DB_PORT; the cluster registered in it.
start_slurmdbd() {
    local port=$1 db_port=$2
    if ! pid_alive "$dir/slurmdbd.pid"; then
        # slurmdbd reads slurmdbd.conf beside SLURM_CONF and refuses one others can read.
        (umask 077 && cat >"$dir/slurmdbd.conf" <<EOF
# Written by tests/scripts/slurm.sh: the accounting daemon of the cluster in $dir.
AuthType=auth/munge
AuthInfo=socket=$dir/munge.socket
DbdHost=$(hostname -s)
DbdAddr=127.0.0.1
DbdPort=$port
SlurmUser=root
LogFile=$dir/slurmdbd.log
PidFile=$dir/slurmdbd.pid
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=root
StorageLoc=slurm_acct_db
EOF
        )
        chmod 600 "$dir/slurmdbd.conf"
        SLURM_CONF=$conf slurmdbd 9>&- || { tail -n 20 "$dir/slurmdbd.log" >&2; die "slurmdbd failed (see $dir/slurmdbd.log)"; }
    fi
    local known=""
    for _ in $(seq 1 300); do
        known=$(SLURM_CONF=$conf sacctmgr -n -P show cluster format=cluster 2>/dev/null) && break
        sleep 0.1
    done
    case $'\n'$known$'\n' in
        *$'\n'petri-test$'\n'*) ;;
        *) SLURM_CONF=$conf sacctmgr -i add cluster petri-test >/dev/null \
            || { tail -n 20 "$dir/slurmdbd.log" >&2; die "sacctmgr could not register the cluster"; } ;;
    esac
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
    # slurmctld before slurmdbd (it hands its last job records over), slurmdbd before its MariaDB.
    for f in slurmd.pid slurmctld.pid slurmdbd.pid mariadbd.pid munge/munged.pid; do
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
    local ctld_port slurmd_port dbd_port="" db_port
    ctld_port=$(pick_port slurmctld)
    slurmd_port=$(pick_port slurmd "$ctld_port")
    if accounting; then
        dbd_port=$(pick_port slurmdbd "$ctld_port" "$slurmd_port")
        db_port=$(pick_port mariadb "$ctld_port" "$slurmd_port" "$dbd_port")
    fi
    write_conf "$ctld_port" "$slurmd_port" "$dbd_port"
    start_munge
    if accounting; then
        start_mariadb "$db_port"
        start_slurmdbd "$dbd_port" "$db_port"
    fi
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
