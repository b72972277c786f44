#!/usr/bin/env bash
# Guest side of scripts/compare: the three scenarios under each guard, in one
# VM with systemd as PID 1 (run-in-cgroup2-vm --systemd).  Writes the raw
# figures of every run to $COMPARE_OUT/runs/r<round>-s<scenario>-<guard>/;
# scripts/lib/compare-tables.py makes the tables on the host.
#
#   COMPARE_BIN        directory with the release cgwarden and cgwarden-testload
#   COMPARE_OUT        results directory (a -w share of the VM)
#   COMPARE_ROUNDS     rounds (default 3); each round runs every scenario under every guard
#   COMPARE_SCENARIOS  default "1 2 3"
#   COMPARE_GUARDS     default "none earlyoom oomd oomd-tuned cgwarden"
#
# The groups are systemd slices and services (made through systemd: it owns
# the tree outside $CG2VM_CGROUP, and systemd-oomd only watches units), named
# as an operator (tenants.slice) or kubelet's systemd cgroup driver
# (kubepods.slice/...) would name them.  Every load is cgwarden-testload,
# bounded in MiB; the node scenarios are sized from MemTotal.
set -uo pipefail

if [[ ${IN_CGROUP2_VM:-} != 1 || ${CG2VM_INIT:-} != systemd ]]; then
    echo "compare-guest: runs only inside run-in-cgroup2-vm --systemd" >&2
    exit 2
fi
# Never on a host: the loads below fill the guest's memory on purpose.
[[ $(stat -f -c %T /sys/fs/cgroup) == cgroup2fs ]] || { echo "compare-guest: /sys/fs/cgroup is not cgroup2" >&2; exit 2; }

BIN=${COMPARE_BIN:?directory of the release binaries}
OUT=${COMPARE_OUT:?results directory}
ROUNDS=${COMPARE_ROUNDS:-3}
SCENARIOS=${COMPARE_SCENARIOS:-"1 2 3"}
GUARDS=${COMPARE_GUARDS:-"none earlyoom oomd oomd-tuned cgwarden"}
TOP=$(cd "$(dirname "$0")/../.." && pwd)
CG=/sys/fs/cgroup
LOAD=$BIN/cgwarden-testload
UNITDIR=/run/systemd/system
# Traces go to tmpfs (a write over 9p per allocation step would slow the
# allocator under emulation); copied to $OUT after each run.
WORK=/run/compare
mkdir -p "$OUT/runs" "$WORK"

# systemd-oomd, tuned (the defaults are Debian's: 60% for 20 s): the
# fastest an operator can make it: a 10% limit on the slice, 2 s duration,
# and swap: oomd kills only with reclaim activity (pgscan) in the watched
# cgroup, and without swap the kernel does not scan anonymous memory at
# all.  A zram device of half the RAM, as Fedora pairs zram with oomd
# (zram-generator's default); only this guard's runs have it.
OOMD_TUNED_LIMIT=10%
OOMD_TUNED_DURATION=2s
swap_on() {
    grep -q '^/dev/zram0 ' /proc/swaps && return 0
    modprobe zram num_devices=1 && echo $((MEMTOTAL_KIB / 2))K > /sys/block/zram0/disksize &&
        mkswap /dev/zram0 >/dev/null && swapon /dev/zram0
}
swap_off() {
    grep -q '^/dev/zram0 ' /proc/swaps || return 0
    swapoff /dev/zram0 && echo 1 > /sys/block/zram0/reset
}

MEMTOTAL_KIB=$(awk '$1 == "MemTotal:" {print $2}' /proc/meminfo)
MEMTOTAL_MIB=$((MEMTOTAL_KIB / 1024))

log() { printf '[%s] %s\n' "$(cut -d' ' -f1 /proc/uptime)" "$*"; }
# A sleep without a process (no exec per poll under emulation).
exec {SLEEPFD}<> <(:)
nap() { read -r -t "$1" -u "$SLEEPFD" _ || true; }
until_ok() {   # until_ok SECS COMMAND...
    local end=$((SECONDS + $1)); shift
    until "$@"; do ((SECONDS < end)) || return 1; nap 0.2; done
}
vmstat_oom() { awk '$1 == "oom_kill" {print $2}' /proc/vmstat; }
meminfo() { awk -v k="$1:" '$1 == k {print $2 * 1024}' /proc/meminfo; }
cgfile() { cat "$CG/$1/$2" 2>/dev/null; }
cg_value() { awk -v k="$3" '$1 == k {print $2}' "$CG/$1/$2" 2>/dev/null; }
shopt -s globstar nullglob
nprocs() {   # processes in a group's whole subtree (0 once it is gone); no exec
    [[ -n $1 && -d $CG/$1 ]] || { echo 0; return; }
    local n=0 f p
    for f in "$CG/$1"/**/cgroup.procs; do
        mapfile -t p < "$f" 2>/dev/null && n=$((n + ${#p[@]}))
    done
    echo $n
}

# --- units -----------------------------------------------------------------------
slice() {   # slice NAME [Key=Value...]: a slice unit in /run/systemd/system
    local name=$1; shift
    { printf '[Unit]\nDescription=compare: %s\n[Slice]\n' "$name"; printf '%s\n' "$@"; } > "$UNITDIR/$name"
    SLICES+=("$name")
}
LOADS=()
load() {   # load UNIT SLICE [Prop=Value...] -- TESTLOAD-ARGS...: a transient service
    local name=$1 slice=$2; shift 2
    local props=()
    while [[ $1 != -- ]]; do props+=(-p "$1"); shift; done
    shift
    # RemainAfterExit: a load ended by SIGTERM (earlyoom) counts as a clean
    # exit, and systemd would unload the transient unit with its figures.
    systemd-run --quiet --unit="$name" --slice="$slice" -p RemainAfterExit=yes "${props[@]}" "$LOAD" "$@" || return 1
    LOADS+=("$name.service")
}
unit_cgroup() { systemctl show -P ControlGroup "$1"; }
wait_current() {   # wait_current UNIT MIB SECS: the unit's memory.current reached MIB
    local cg; cg=$(unit_cgroup "$1")
    until_ok "$3" bash -c "(( \$(cat $CG$cg/memory.current 2>/dev/null || echo 0) >= $2 << 20 ))" \
        || { log "warning: $1 did not reach $2 MiB ($(cat "$CG$cg/memory.current" 2>/dev/null) bytes)"; return 1; }
}

# --- guards ----------------------------------------------------------------------
GUARD_UNIT=''
cgwarden_unit() {
    sed "s|^ExecStart=/usr/bin/cgwarden|ExecStart=$BIN/cgwarden|" "$TOP/Configs/systemd/cgwarden.service" \
        > "$UNITDIR/cgwarden.service"
}
start_guard() {   # start_guard SCENARIO GUARD
    local scen=$1 guard=$2
    GUARD_UNIT=''
    case $guard in
        none) return 0 ;;
        earlyoom)
            # Debian's /etc/default/earlyoom says -r 3600 (thresholds: the
            # defaults, -m 10 -s 10).  The node scenarios use its own example
            # line "-m 15": act at 15% available, the threshold of the tables.
            local args="-r 3600"
            [[ $scen != 1 ]] && args="-r 3600 -m 15"
            printf 'EARLYOOM_ARGS="%s"\n' "$args" > /etc/default/earlyoom
            echo "earlyoom_args=$args" >> "$RD/meta.txt"
            GUARD_UNIT=earlyoom.service
            systemctl start earlyoom.service || return 1
            until_ok 30 bash -c "journalctl -q --no-pager -u earlyoom.service --after-cursor='$RUN_CURSOR' | grep 'mem total' >/dev/null" || return 1
            ;;
        oomd|oomd-tuned)
            mkdir -p /etc/systemd/oomd.conf.d
            if [[ $guard == oomd-tuned ]]; then
                printf '[OOM]\nDefaultMemoryPressureDurationSec=%s\n' "$OOMD_TUNED_DURATION" \
                    > /etc/systemd/oomd.conf.d/compare.conf
            else
                rm -f /etc/systemd/oomd.conf.d/compare.conf
            fi
            echo "oomd_conf=$(systemd-analyze cat-config systemd/oomd.conf 2>/dev/null | grep -E '^[A-Z]' | tr '\n' ' ')" >> "$RD/meta.txt"
            GUARD_UNIT=systemd-oomd.service
            # Restarted, not started: the slices' ManagedOOM*= settings
            # already pulled it in through its socket during the setup, with
            # the configuration of that moment.
            systemctl restart systemd-oomd.service || return 1
            # Ready when it lists the monitored slices.
            until_ok 30 bash -c "oomctl dump --no-pager 2>/dev/null | grep 'Path: /$OOMD_SLICE\$' >/dev/null" \
                || { oomctl dump --no-pager; return 1; }
            oomctl dump --no-pager > "$RD/oomctl-dump.txt" 2>&1
            grep -q "^Default Memory Pressure Duration: $([[ $guard == oomd-tuned ]] && echo "$OOMD_TUNED_DURATION" || echo 20s)\$" \
                "$RD/oomctl-dump.txt" || { log "systemd-oomd: duration not applied"; head -n 5 "$RD/oomctl-dump.txt"; return 1; }
            ;;
        cgwarden)
            mkdir -p /etc/cgwarden
            cgwarden_config "$scen" > /etc/cgwarden/cgwarden.toml
            cp /etc/cgwarden/cgwarden.toml "$RD/cgwarden.toml"
            "$BIN/cgwarden" check-config /etc/cgwarden/cgwarden.toml > "$RD/check-config.txt" 2>&1 || { cat "$RD/check-config.txt"; return 1; }
            cgwarden_unit
            systemctl daemon-reload
            GUARD_UNIT=cgwarden.service
            systemctl start cgwarden.service || { journalctl -q --no-pager -u cgwarden -b | tail; return 1; }
            ;;
        *) log "unknown guard $guard"; return 1 ;;
    esac
}
stop_guard() {
    [[ -n $GUARD_UNIT ]] && systemctl stop "$GUARD_UNIT"
    GUARD_UNIT=''
    # systemd-oomd also goes with its socket (see oomd_props).
    systemctl stop systemd-oomd.socket systemd-oomd.service 2>/dev/null
}
# Per guard process: pid, name, VmHWM, VmRSS and Pss (KiB), utime+stime (ticks);
# and the guard unit's cpu.stat usage_usec (every process it ever had).
guard_figures() {   # guard_figures TAG
    [[ -n $GUARD_UNIT ]] || return 0
    local cg pid
    cg=$(unit_cgroup "$GUARD_UNIT")
    echo "guard_cpu_usec_$1=$(cg_value "$cg" cpu.stat usage_usec)" >> "$RD/meta.txt"
    [[ $1 == end ]] || return 0
    echo "guard_memory_peak=$(cgfile "$cg" memory.peak)" >> "$RD/meta.txt"
    for pid in $(cgfile "$cg" cgroup.procs); do
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$pid" "$(tr ' ' _ < /proc/$pid/comm)" \
            "$(awk '/^VmHWM:/ {print $2}' /proc/$pid/status)" "$(awk '/^VmRSS:/ {print $2}' /proc/$pid/status)" \
            "$(awk '/^Pss:/ {print $2}' /proc/$pid/smaps_rollup)" \
            "$(sed 's/.*) //' /proc/$pid/stat | awk '{print $12 + $13}')"
    done > "$RD/guard-procs.tsv"
    echo "clk_tck=$(getconf CLK_TCK)" >> "$RD/meta.txt"
}

# --- cgwarden's guards, per scenario (Docs/configuration.md) ---------------------
cgwarden_config() {
    case $1 in
        1) cat <<'TOML'
# Scenario 1: a tenant at 85% of its own memory.max is emptied whole.
[[guard]]
name = "tenant-at-limit"
match = "/tenants.slice/*"
candidates = "self"
[[guard.trigger]]
usage_of_limit = "85%"
TOML
        ;;
        2) cat <<'TOML'
# Scenario 2: the node at 15% available (85% used): kill the tenant that
# grows fastest. MemAvailable is read at each snapshot (no average to
# settle): a short post-action delay.
[[guard]]
name = "node"
match = "/tenants.slice"
candidates = "children"
rank = "growth"
post_action_delay = "2s"
[[guard.trigger]]
node_available_below = "15%"
TOML
        ;;
        3) cat <<'TOML'
# Scenario 3: Configs/examples/kubernetes-node.toml's node guard, at 15%
# available: pods in kubelet's eviction order (BestEffort, Burstable,
# Guaranteed), the largest first within a class.
min_kill_size = "16M"
[[guard]]
name = "node-pressure"
match = "/kubepods.slice"
candidates = "pods"
qos_order = true
rank = "usage"
post_action_delay = "2s"
[[guard.trigger]]
node_available_below = "15%"
TOML
        ;;
    esac
}

# --- scenarios ----------------------------------------------------------------------
# Each setup writes and starts its slices, starts the steady loads, and sets
# RUNAWAY (unit), RUNAWAY_SLICE, RUNAWAY_PROPS, RUNAWAY_ARGS, the threshold
# (THRESHOLD_KIND current|available, THRESHOLD_BYTES), OOMD_SLICE (the slice
# systemd-oomd watches) and WATCH (slices whose counters the run reports).
oomd_props() {   # the ManagedOOM settings of the watched slice, per guard
    # Only for systemd-oomd's runs: a unit with ManagedOOM*= pulls in
    # systemd-oomd.socket, and PID 1 then starts systemd-oomd through it.
    [[ $1 == oomd* ]] || return 0
    echo "ManagedOOMMemoryPressure=kill"
    [[ $1 == oomd-tuned ]] && echo "ManagedOOMMemoryPressureLimit=$OOMD_TUNED_LIMIT"
}
setup_1() {   # tenant slices with their own memory.max; a ramps toward it
    local guard=$1 t
    slice tenants.slice
    for t in a b c; do
        mapfile -t props < <(oomd_props "$guard")
        slice tenants-$t.slice MemoryMax=128M MemorySwapMax=0 "${props[@]}"
    done
    systemctl daemon-reload && systemctl start tenants-a.slice tenants-b.slice tenants-c.slice || return 1
    load tenant-a-side tenants-a.slice -- spawn --count 3 --hold-s 900 >/dev/null &&
    load tenant-b-idle tenants-b.slice -- spawn --count 2 --hold-s 900 &&
    load tenant-c-steady tenants-c.slice -- alloc --mib 48 --step-mib 16 --touch page --hold-s 900 || return 1
    wait_current tenant-c-steady.service 48 120
    RUNAWAY=tenant-a-app RUNAWAY_SLICE=tenants-a.slice RUNAWAY_PROPS=()
    # ~35 MiB/s toward 192 MiB (the daemon's e2e test): 1.5x its limit.
    RUNAWAY_ARGS=(alloc --mib 192 --step-mib 4 --interval-ms 100 --touch page --hold-s 900
                  --trace-cgroup "$CG/tenants.slice/tenants-a.slice")
    THRESHOLD_KIND=current THRESHOLD_BYTES=$(((128 << 20) * 85 / 100))
    OOMD_SLICE=tenants.slice/tenants-a.slice
    WATCH=(tenants.slice/tenants-a.slice tenants.slice/tenants-b.slice tenants.slice/tenants-c.slice)
}
setup_2() {   # no limits; together the tenants want 110% of MemTotal
    local guard=$1 t
    mapfile -t props < <(oomd_props "$guard")
    slice tenants.slice "${props[@]}"
    for t in a b c; do slice tenants-$t.slice; done
    systemctl daemon-reload && systemctl start tenants-a.slice tenants-b.slice tenants-c.slice || return 1
    local c=$((MEMTOTAL_MIB * 25 / 100)) b=$((MEMTOTAL_MIB * 5 / 100))
    load tenant-c-steady tenants-c.slice -- alloc --mib $c --step-mib 32 --touch page --hold-s 900 &&
    load tenant-b-steady tenants-b.slice -- alloc --mib $b --step-mib 32 --touch page --hold-s 900 || return 1
    wait_current tenant-c-steady.service $c 180; wait_current tenant-b-steady.service $b 60
    RUNAWAY=tenant-a-app RUNAWAY_SLICE=tenants-a.slice RUNAWAY_PROPS=()
    RUNAWAY_ARGS=(alloc --mib $((MEMTOTAL_MIB * 80 / 100)) --step-mib 8 --interval-ms 40 --touch page --hold-s 900
                  --trace-cgroup "$CG/tenants.slice/tenants-a.slice")
    THRESHOLD_KIND=available THRESHOLD_BYTES=$((MEMTOTAL_KIB * 1024 * 15 / 100))
    OOMD_SLICE=tenants.slice
    WATCH=(tenants.slice/tenants-a.slice tenants.slice/tenants-b.slice tenants.slice/tenants-c.slice)
}
# kubelet (systemd driver) names; oom_score_adj as kubelet sets it:
# BestEffort 1000, Guaranteed -997, Burstable 1000 - 1000 * request / capacity
# (a 256 MiB request here).
KP=kubepods.slice
BE_POD=kubepods-besteffort-pod0b1c2d3e_4f50_4162_8374_8596a7b8c9d0.slice
BU_POD=kubepods-burstable-pod1c2d3e4f_5061_4273_8485_96a7b8c9d0e1.slice
GU_POD=kubepods-pod2d3e4f50_6172_4384_9596_a7b8c9d0e1f2.slice
setup_3() {   # BestEffort and Guaranteed pods hold; a Burstable pod runs away
    local guard=$1
    mapfile -t props < <(oomd_props "$guard")
    slice $KP "${props[@]}"
    slice kubepods-besteffort.slice
    slice kubepods-burstable.slice
    slice $BE_POD
    slice $BU_POD
    slice $GU_POD MemoryMax=$((MEMTOTAL_MIB * 30 / 100))M MemorySwapMax=0
    systemctl daemon-reload && systemctl start $BE_POD $BU_POD $GU_POD || return 1
    local be=$((MEMTOTAL_MIB * 10 / 100)) gu=$((MEMTOTAL_MIB * 25 / 100))
    local adj=$((1000 - 1000 * 256 / MEMTOTAL_MIB))
    load cri-containerd-be0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b $BE_POD OOMScoreAdjust=1000 -- \
        alloc --mib $be --step-mib 32 --touch page --hold-s 900 &&
    load cri-containerd-9a0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b $GU_POD OOMScoreAdjust=-997 -- \
        alloc --mib $gu --step-mib 32 --touch page --hold-s 900 || return 1
    wait_current cri-containerd-be0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b.service $be 120
    wait_current cri-containerd-9a0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b.service $gu 180
    RUNAWAY=cri-containerd-b70c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b RUNAWAY_SLICE=$BU_POD
    RUNAWAY_PROPS=(OOMScoreAdjust=$adj)
    RUNAWAY_ARGS=(alloc --mib $((MEMTOTAL_MIB * 80 / 100)) --step-mib 8 --interval-ms 40 --touch page --hold-s 900
                  --trace-cgroup "$CG/$KP/kubepods-burstable.slice/$BU_POD")
    THRESHOLD_KIND=available THRESHOLD_BYTES=$((MEMTOTAL_KIB * 1024 * 15 / 100))
    OOMD_SLICE=$KP
    WATCH=($KP/kubepods-besteffort.slice/$BE_POD $KP/kubepods-burstable.slice/$BU_POD $KP/$GU_POD)
    echo "burstable_oom_score_adj=$adj" >> "$RD/meta.txt"
}

# --- one run --------------------------------------------------------------------------
snapshot() {   # snapshot TAG: counters of the watched slices and every load unit
    local tag=$1 w u cg
    echo "vmstat_oom_kill_$tag=$(vmstat_oom)" >> "$RD/meta.txt"
    echo "memavailable_$tag=$(meminfo MemAvailable)" >> "$RD/meta.txt"
    for w in "${WATCH[@]}"; do
        printf '%s\t%s\t%s\t%s\t%s\n' "$tag" "$w" "$(cg_value "$w" memory.events oom_kill)" \
            "$(cgfile "$w" memory.current)" "$(nprocs "$w")"
    done >> "$RD/slices.tsv"
    for u in "${LOADS[@]}"; do
        cg=${UNIT_CG[$u]:-}
        printf '%s\t%s\t%s\t%s\n' "$tag" "$u" "$cg" "$(nprocs "$cg")"
    done >> "$RD/unit-procs.tsv"
}
run_one() {   # run_one ROUND SCENARIO GUARD
    local round=$1 scen=$2 guard=$3 u
    RD=$OUT/runs/r$round-s$scen-$guard
    rm -rf "$RD" "$WORK"; mkdir -p "$RD" "$WORK"
    SLICES=() LOADS=() WATCH=()
    declare -gA UNIT_CG=()
    log "round $round, scenario $scen, guard $guard"
    {
        echo "round=$round"; echo "scenario=$scen"; echo "guard=$guard"
        echo "memtotal=$((MEMTOTAL_KIB * 1024))"; echo "memavailable_idle=$(meminfo MemAvailable)"
        echo "kernel=$(uname -r)"
    } > "$RD/meta.txt"
    RUN_CURSOR=$(journalctl -q -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p')
    if [[ $guard == oomd-tuned ]]; then
        swap_on || { log "no zram swap"; echo "error=swap" >> "$RD/meta.txt"; return 1; }
    fi
    echo "swap_total=$(meminfo SwapTotal)" >> "$RD/meta.txt"
    if ! "setup_$scen" "$guard"; then log "setup failed"; echo "error=setup" >> "$RD/meta.txt"; teardown; return 1; fi
    if ! start_guard "$scen" "$guard"; then log "guard failed to start"; echo "error=guard" >> "$RD/meta.txt"; teardown; return 1; fi
    log "loads and guard ready"
    nap 2
    for u in "${LOADS[@]}"; do UNIT_CG[$u]=$(unit_cgroup "$u" | sed 's|^/||'); done
    echo "threshold_kind=$THRESHOLD_KIND" >> "$RD/meta.txt"
    echo "threshold_bytes=$THRESHOLD_BYTES" >> "$RD/meta.txt"
    guard_figures start
    # The runaway; its trace: "<monotonic ns> <MiB> <memory.current of its slice> <MemAvailable>".
    load "$RUNAWAY" "$RUNAWAY_SLICE" "${RUNAWAY_PROPS[@]}" -- "${RUNAWAY_ARGS[@]}" --trace "$WORK/trace" \
        || { echo "error=runaway" >> "$RD/meta.txt"; teardown; return 1; }
    UNIT_CG[$RUNAWAY.service]=$(unit_cgroup "$RUNAWAY.service" | sed 's|^/||')
    echo "runaway=$RUNAWAY.service" >> "$RD/meta.txt"
    # "before": once the runaway has made its first step (it is then in its group).
    until_ok 30 test -s "$WORK/trace" || log "warning: no trace from the runaway"
    snapshot before
    local pid end=$((SECONDS + 400))
    pid=$(systemctl show -P MainPID "$RUNAWAY.service")
    # Until the runaway is gone (at worst the kernel's OOM killer ends it:
    # it wants more than its limit or the node has; alone, the kernel lets
    # the node thrash for minutes first), then 5 s more for whatever a
    # guard does next.
    # A runaway that got all it asked for (nothing killed it: with swap)
    # ends the run 15 s later.
    local target=${RUNAWAY_ARGS[2]} full='' steps=() mib=0
    while [[ $pid != 0 && -e /proc/$pid ]] && ((SECONDS < end)); do
        nap 0.2
        if [[ -z $full ]]; then
            mapfile -t steps < "$WORK/trace" 2>/dev/null
            ((${#steps[@]})) && read -r _ mib _ <<< "${steps[-1]}"
            [[ $mib == "$target" ]] && { full=$SECONDS; echo "runaway_full=1" >> "$RD/meta.txt"; }
        elif ((SECONDS - full >= 15)); then
            break
        fi
    done
    ((SECONDS < end)) || echo "timeout=1" >> "$RD/meta.txt"
    log "runaway gone (or full)"
    nap 5
    echo "end_uptime=$(cut -d' ' -f1 /proc/uptime)" >> "$RD/meta.txt"
    guard_figures end
    # No other guard ran beside this one.
    echo "active_guards_end=$(systemctl is-active earlyoom.service systemd-oomd.service cgwarden.service | tr '\n' ' ')" >> "$RD/meta.txt"
    snapshot after
    for u in "${LOADS[@]}"; do
        printf '%s\t' "$u"
        systemctl show -p ActiveState -p Result -p ExecMainCode -p ExecMainStatus -p ExecMainPID \
            -p ExecMainStartTimestampMonotonic -p ExecMainExitTimestampMonotonic "$u" | tr '\n' '\t'
        echo
    done > "$RD/units.tsv"
    cp "$WORK/trace" "$RD/trace" 2>/dev/null
    journalctl -q --no-pager -o short-monotonic --after-cursor="$RUN_CURSOR" > "$RD/journal.txt" 2>&1
    teardown
    log "done: runaway $(tr '\t' '\n' < "$RD/units.tsv" | grep -E "^(Result|ExecMainStatus)=" | tail -n 2 | tr '\n' ' ')" \
        "oom_kill +$(( $(vmstat_oom) - $(sed -n 's/^vmstat_oom_kill_before=//p' "$RD/meta.txt") ))"
}
teardown() {
    # One systemctl per step (each costs ~1 s under TCG); systemd stops
    # the slices after their units, inner ones first.
    ((${#LOADS[@]})) && systemctl kill --signal=SIGKILL "${LOADS[@]}" 2>/dev/null
    ((${#LOADS[@]})) && systemctl stop "${LOADS[@]}" 2>/dev/null
    stop_guard
    swap_off
    ((${#SLICES[@]})) && systemctl stop "${SLICES[@]}" 2>/dev/null
    systemctl reset-failed 2>/dev/null
    # No daemon-reload here (~5-9 s under TCG): the next run's setup reloads.
    rm -f "${SLICES[@]/#/$UNITDIR/}"
    # Let the node settle: the killed loads' memory back, page cache refilled.
    until_ok 60 bash -c "(( \$(awk '\$1 == \"MemAvailable:\" {print \$2}' /proc/meminfo) > $MEMTOTAL_KIB * 80 / 100 ))" \
        || log "warning: MemAvailable stays at $(meminfo MemAvailable) after the run"
}

# --- main ---------------------------------------------------------------------------
{
    echo "kernel=$(uname -r)"
    echo "memtotal_kib=$MEMTOTAL_KIB"
    echo "cpus=$(nproc)"
    for p in earlyoom systemd-oomd systemd; do echo "version_$p=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null)"; done
    echo "version_cgwarden=${COMPARE_REV:-}"
    echo "swap=$(awk 'NR > 1' /proc/swaps | wc -l)"
    echo "started=$(date -u +%FT%TZ)"
} > "$OUT/session.txt"
log "MemTotal $MEMTOTAL_MIB MiB, MemAvailable $(( $(meminfo MemAvailable) >> 20 )) MiB; rounds $ROUNDS; scenarios $SCENARIOS; guards $GUARDS"
failed=0
for round in $(seq 1 "$ROUNDS"); do
    for scen in $SCENARIOS; do
        for guard in $GUARDS; do
            run_one "$round" "$scen" "$guard" || failed=$((failed + 1))
        done
    done
done
echo "finished=$(date -u +%FT%TZ)" >> "$OUT/session.txt"
log "finished; $failed run(s) failed"
((failed == 0))
