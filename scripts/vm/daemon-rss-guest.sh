#!/usr/bin/env bash
# The daemon's RSS at N idle groups, several builds side by side, and the
# profile of the code it runs (Docs/performance.md, "Bringing it down"):
# guest side, inside the cgroup v2 VM only.
#   scripts/vm/run-in-cgroup2-vm -m 6G -- scripts/vm/daemon-rss-guest.sh [options] NAME=BINARY...
#     --groups N        idle groups with a memory.max, as `daemon-idle` makes them (1000)
#     --at S1,S2        seconds after the start at which RSS is read (30)
#     --kill            also one kill by the default `at-own-limit` guard, 10 s
#                       after the start (a group held above 98% of its memory.max)
#     --profile DIR     fault-around off (debugfs fault_around_bytes = 4096: a
#                       fault maps only its own page) and, at the end, the
#                       binary's resident pages of each daemon written to
#                       DIR/NAME.pages for Benchmarks/hot-text.py (DIR must be
#                       shared read-write: run-in-cgroup2-vm --rw DIR)
# Every daemon runs `cgwarden run` with the default configuration, a state
# directory of its own on the guest's tmpfs (event store and flight recorder
# on, as shipped), all at once over the same groups.
set -euo pipefail
CG=/sys/fs/cgroup
if [[ "$(stat -fc %T $CG)" != cgroup2fs || ${IN_CGROUP2_VM:-} != 1 ]]; then
    echo "daemon-rss-guest: not inside the cgroup v2 VM; refusing" >&2
    exit 2
fi
TOP=$(cd "$(dirname "$0")/../.." && pwd)
N=1000 AT=30 KILL=0 PROFILE=
while (($#)); do
    case $1 in
        --groups) N=$2; shift 2 ;;
        --at) AT=$2; shift 2 ;;
        --kill) KILL=1; shift ;;
        --profile) PROFILE=$2; shift 2 ;;
        --) shift; break ;;
        -*) echo "daemon-rss-guest: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
(($#)) || { echo "daemon-rss-guest: no NAME=BINARY" >&2; exit 2; }
# As the unit's LimitNOFILE=65536 (the daemon keeps files of every group open).
ulimit -n 65536
if [[ -n $PROFILE ]]; then
    mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
    echo 4096 > /sys/kernel/debug/fault_around_bytes
fi
echo "# kernel $(uname -r), $(nproc) CPUs, fault_around_bytes $(cat /sys/kernel/debug/fault_around_bytes 2>/dev/null || echo '65536 (default)')"
G=$CG/rss-idle
mkdir $G
echo "+memory +pids" > $G/cgroup.subtree_control
# Parents of 100 children each, the parents counted (daemon-idle's layout).
for ((i = 0; i < N; i++)); do
    p=$G/p$((i / 101))
    if ((i % 101 == 0)); then
        mkdir $p
        echo "+memory +pids" > $p/cgroup.subtree_control
    else
        mkdir $p/g$((i % 101))
        echo $((256 << 20)) > $p/g$((i % 101))/memory.max
    fi
done
# The default configuration (the built-in one's text).
config=$TOP/Configs/cgwarden.toml
names=() bins=() pids=()
for spec in "$@"; do
    name=${spec%%=*} bin=${spec#*=}
    state=/tmp/daemon-rss-state-$name
    rm -rf "$state"
    "$bin" run --config $config --log json --state-dir "$state" 2> /tmp/daemon-rss-$name.log &
    names+=("$name") bins+=("$(realpath "$bin")") pids+=($!)
done
start=$(date +%s)
loader=
if ((KILL)); then
    sleep 10
    k=$G/victim
    mkdir $k
    echo $((256 << 20)) > $k/memory.max
    echo 0 > $k/memory.swap.max
    testload=$(dirname "${bins[0]}")/cgwarden-testload
    [[ -x $testload ]] || testload=$TOP/.build/debug/cgwarden-testload
    # 252 MiB of 256: above the trigger's 98% (250.9 MiB), under memory.max.
    "$testload" alloc --cgroup $k --mib 252 --hold-s 3600 &
    loader=$!
    for ((t = 0; t < 90; t++)); do
        sleep 1
        grep -q "populated 0" $k/cgroup.events && [[ $(cat $k/cgroup.procs) == "" ]] && ((t > 3)) && break
    done
    wait $loader 2>/dev/null || true
    echo "# the victim: $(tr '\n' ' ' < $k/cgroup.events) after ${t} s; $(cat /tmp/daemon-rss-*.log | grep -c '"kind":"kill' || true) kill events"
fi
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "| build | after s | RSS MiB | anon MiB | of it huge pages MiB | file MiB | the binary's MiB | [heap] MiB | C libraries MiB | VmHWM MiB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
IFS=, read -ra ats <<< "$AT"
notes=()
for at in "${ats[@]}"; do
    now=$(date +%s)
    ((now - start < at)) && sleep $((at - (now - start)))
    for i in "${!names[@]}"; do
        pid=${pids[$i]} bin=${bins[$i]}
        rss=$(awk '/^Rss:/{print $2}' /proc/$pid/smaps_rollup)
        anon=$(awk '/^Anonymous:/{print $2}' /proc/$pid/smaps_rollup)
        huge=$(awk '/^AnonHugePages:/{print $2}' /proc/$pid/smaps_rollup)
        hwm=$(awk '/^VmHWM/{print $2}' /proc/$pid/status)
        # Resident KiB by mapping: the binary, the heap, shared libraries.
        # (No process substitution: the guest has no /dev/fd.)
        read -r own heap libs <<< "$(awk -v b="$bin" '
            /^[0-9a-f]+-[0-9a-f]+ / { name = $6 }
            /^Rss:/ { if (name == b) o += $2; else if (name == "[heap]") h += $2; else if (name ~ /\.so/) l += $2 }
            END { print o + 0, h + 0, l + 0 }' /proc/$pid/smaps)"
        echo "| ${names[$i]} | $at | $(mib $rss) | $(mib $anon) | $(mib ${huge:-0}) | $(mib $((rss - anon))) | $(mib $own) | $(mib $heap) | $(mib $libs) | $(mib $hwm) |"
        notes+=("# ${names[$i]} after $at s, resident KiB by mapping: $(awk '
            /^[0-9a-f]+-[0-9a-f]+ / { name = ($6 == "" ? "[anon]" : $6); sub(/.*\//, "", name) }
            /^Rss:/ { r[name] += $2 }
            END { for (n in r) if (r[n] >= 64) print r[n], n }' /proc/$pid/smaps | sort -rn | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}')")
        while read -r line; do notes+=("# ${names[$i]} after $at s: ${line#\# }"); done \
            <<< "$(python3 "$TOP/Benchmarks/resident-by-module.py" $pid "$bin" | tail -n 2)"
    done
done
echo
for n in "${notes[@]}"; do echo "$n"; done
for i in "${!names[@]}"; do
    if [[ -n $PROFILE ]]; then
        python3 "$TOP/Benchmarks/hot-text.py" pages ${pids[$i]} "${bins[$i]}" > "$PROFILE/${names[$i]}.pages"
        cp /tmp/daemon-rss-${names[$i]}.log "$PROFILE/${names[$i]}.log"
        echo "# ${names[$i]}: $(wc -l < "$PROFILE/${names[$i]}.pages") pages of the binary's code resident -> $PROFILE/${names[$i]}.pages"
    fi
    echo "# ${names[$i]}: events $(grep -o '"kind":"[a-z_]*"' /tmp/daemon-rss-${names[$i]}.log | cut -d'"' -f4 | sort | uniq -c | awk '{printf "%s %s ", $2, $1}')"
    problems=$(grep -c '"kind":"problem"' /tmp/daemon-rss-${names[$i]}.log || true)
    ((problems == 0)) || echo "# ${names[$i]}: $problems problem events: $(grep '"kind":"problem"' /tmp/daemon-rss-${names[$i]}.log | head -2)"
    kill -TERM ${pids[$i]}
done
wait "${pids[@]}" 2>/dev/null || true
