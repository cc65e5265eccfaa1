#!/usr/bin/env bash
# A one-node Slurm on this Debian/Ubuntu machine, for lbtui's Slurm tests
# (tests/slurm/): munge, slurmctld and slurmd from the distribution's packages,
# proctrack/cgroup where the kernel lets us make cgroups (else linuxproc, and it
# says why), 4 fake GPUs through gres (dummy device files: Slurm sets
# CUDA_VISIBLE_DEVICES and SLURM_JOB_GPUS for them as for real ones), a short
# KillWait, job requeue, and two partitions for preemption:
#
#   batch   (default) PriorityTier=1,  PreemptMode=REQUEUE
#   urgent            PriorityTier=10: a job here requeues a batch job in its way
#
# Usage (as root):  scripts/slurm_testbed.sh up | down | status
#
#   up      install what is missing (apt-get), write /etc/slurm/{slurm,gres,cgroup}.conf,
#           start munged, slurmctld and slurmd, wait until the node is idle
#   down    cancel every job, stop the three daemons this script started, remove the
#           files it wrote (only files that carry its header line)
#   status  sinfo and the daemons' pids
#
# Environment: TESTBED_DIR (state, logs, pid files; default /var/tmp/lbtui-slurm-testbed),
# TESTBED_KILLWAIT (seconds, default 30: Slurm's own default), TESTBED_GPUS (default 4).
# The tests run when `scontrol show config` names the cluster lbtui-testbed
# (LBTUI_SLURM_TESTS=1 runs them on another Slurm).
set -euo pipefail

DIR=${TESTBED_DIR:-/var/tmp/lbtui-slurm-testbed}
KILLWAIT=${TESTBED_KILLWAIT:-30}
GPUS=${TESTBED_GPUS:-4}
CONF=/etc/slurm
HEADER="# written by lbtui scripts/slurm_testbed.sh: removed by its 'down'"
PACKAGES=(munge slurmctld slurmd slurm-client)

say() { echo "slurm_testbed: $*"; }
die() { echo "slurm_testbed: error: $*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" = 0 ] || die "run it as root (it installs packages and starts daemons)"
}

install_packages() {
    local missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} = 0 ] && return
    command -v apt-get >/dev/null || die "no apt-get: this script sets Slurm up on Debian or Ubuntu only"
    say "installing ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# proctrack/cgroup needs cgroup v1's freezer (or a writable cgroup v2) to put each job in a cgroup.
choose_proctrack() {
    local probe
    if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
        probe=/sys/fs/cgroup/lbtui-testbed-probe.$$
        CGROUP_PLUGIN=cgroup/v2
    else
        probe=/sys/fs/cgroup/freezer/lbtui-testbed-probe.$$
        CGROUP_PLUGIN=cgroup/v1
    fi
    if mkdir "$probe" 2>/dev/null && rmdir "$probe"; then
        PROCTRACK=proctrack/cgroup
    else
        PROCTRACK=proctrack/linuxproc
        say "proctrack/linuxproc: this container cannot create cgroups ($(dirname "$probe") is not writable);" \
            "jobs are tracked by process tree, so a process that leaves it escapes Slurm's kill"
    fi
}

fake_gpus() {
    mkdir -p "$DIR/dev"
    GPU_FILES=()
    for i in $(seq 0 $((GPUS - 1))); do
        local f=/dev/lbtui-fake-gpu$i
        if [ ! -e "$f" ] && ! mknod -m 666 "$f" c 1 3 2>/dev/null; then
            f=$DIR/dev/fake-gpu$i  # no mknod in this container: a plain file does for gres
            : >"$f"
        fi
        GPU_FILES+=("$f")
        echo "$f" >>"$DIR/fake-gpus"
    done
}

write_conf() {
    local host cpus mem
    host=$(hostname -s)
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
    mkdir -p "$CONF" "$DIR/ctld" "$DIR/d"
    for f in slurm.conf gres.conf cgroup.conf; do
        if [ -e "$CONF/$f" ] && ! head -1 "$CONF/$f" | grep -qF "$HEADER"; then
            die "$CONF/$f exists and is not ours: this machine has a Slurm of its own; use it (LBTUI_SLURM_TESTS=1)"
        fi
    done
    cat >"$CONF/slurm.conf" <<EOF
$HEADER
ClusterName=lbtui-testbed
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=$PROCTRACK
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
GresTypes=gpu
KillWait=$KILLWAIT
JobRequeue=1
ReturnToService=2
MinJobAge=3600
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.txt
SlurmdTimeout=300
NodeName=$host CPUs=$cpus RealMemory=$mem Gres=gpu:$GPUS State=UNKNOWN
PartitionName=batch Nodes=$host Default=YES MaxTime=INFINITE State=UP PriorityTier=1 PreemptMode=REQUEUE
PartitionName=urgent Nodes=$host MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
EOF
    {
        echo "$HEADER"
        echo "AutoDetect=off"
        for f in "${GPU_FILES[@]}"; do echo "NodeName=$host Name=gpu File=$f"; done
    } >"$CONF/gres.conf"
    cat >"$CONF/cgroup.conf" <<EOF
$HEADER
CgroupPlugin=$CGROUP_PLUGIN
CgroupMountpoint=/sys/fs/cgroup
ConstrainCores=no
ConstrainDevices=no
ConstrainRAMSpace=no
EOF
}

start_daemons() {
    mkdir -p /run/munge
    chown munge:munge /run/munge
    if ! munge -n </dev/null >/dev/null 2>&1; then
        [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null;
                                        chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key; }
        runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
        cp /run/munge/munged.pid "$DIR/munged.pid"
    fi
    /usr/sbin/slurmctld -c   # -c: a clean start, no jobs left from an earlier testbed
    /usr/sbin/slurmd
    local host
    host=$(hostname -s)
    for _ in $(seq 60); do
        if sinfo -h -n "$host" -o %t 2>/dev/null | grep -qx idle; then
            return
        fi
        scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true
        sleep 1
    done
    die "the node did not come up idle within 60 s (see $DIR/slurmctld.log and $DIR/slurmd.log)"
}

stop_pid() {  # $1: pid file of a daemon this script started
    local f=$1 pid
    [ -s "$f" ] || return 0
    pid=$(cat "$f")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}

up() {
    need_root
    [ -s "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null && {
        say "already up"; status; return; }
    install_packages
    mkdir -p "$DIR"
    rm -f "$DIR/fake-gpus"
    choose_proctrack
    fake_gpus
    write_conf
    start_daemons
    say "up: cluster lbtui-testbed, $PROCTRACK, KillWait=$KILLWAIT s, $GPUS fake GPUs (${GPU_FILES[*]}), logs in $DIR"
    status
}

down() {
    need_root
    if [ -s "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; then
        scancel --user=root 2>/dev/null || true
        local waited=0
        while [ -n "$(squeue -h -o %i 2>/dev/null)" ]; do  # each job's steps end before slurmd goes
            [ $waited = $((KILLWAIT + 15)) ] && scancel --full --signal=KILL --user=root 2>/dev/null
            [ $waited -gt $((KILLWAIT + 45)) ] && { say "jobs still listed: $(squeue -h -o %i | tr '\n' ' ')"; break; }
            sleep 1; waited=$((waited + 1))
        done
    fi
    stop_pid "$DIR/slurmd.pid"
    stop_pid "$DIR/slurmctld.pid"
    stop_pid "$DIR/munged.pid"
    for f in slurm.conf gres.conf cgroup.conf; do
        if [ -e "$CONF/$f" ] && head -1 "$CONF/$f" | grep -qF "$HEADER"; then rm -f "$CONF/$f"; fi
    done
    if [ -s "$DIR/fake-gpus" ]; then
        while read -r f; do rm -f "$f"; done <"$DIR/fake-gpus"
    fi
    rm -rf "$DIR"
    say "down: no slurmctld, slurmd or munged of ours left; packages stay installed"
}

status() {
    for d in munged slurmctld slurmd; do
        local f=$DIR/$d.pid
        if [ -s "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; then say "$d: pid $(cat "$f")"; else say "$d: not running"; fi
    done
    sinfo 2>/dev/null || true
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
