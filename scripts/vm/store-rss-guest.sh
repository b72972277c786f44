#!/usr/bin/env bash
# The daemon's memory with and without its event store, at N groups: guest
# side, inside the cgroup v2 VM only (Docs/performance.md).
#   scripts/vm/run-in-cgroup2-vm -- scripts/vm/store-rss-guest.sh BIN_DIR [GROUPS] [SECONDS]
# Four runs: idle (a guard that never fires) and busy (ten observing guards
# whose trigger always holds: each ranks every group at every snapshot),
# each with --no-store and with the store. Prints a Markdown table.
set -euo pipefail
CG=/sys/fs/cgroup
if [[ "$(stat -fc %T $CG)" != cgroup2fs || ${IN_CGROUP2_VM:-} != 1 ]]; then
    echo "store-rss-guest: not inside the cgroup v2 VM; refusing" >&2
    exit 2
fi
BIN=${1:?bin directory} N=${2:-1000} SECS=${3:-30}
# As the unit's LimitNOFILE=65536: the guest's init leaves the kernel's
# default of 4096, which the daemon's kept-open descriptors pass near 450 groups.
ulimit -n 65536
G=$CG/store-rss
mkdir -p $G
echo "+memory +pids" > $G/cgroup.subtree_control
# A sleeping process in each group: a group with none is no candidate.
for ((i = 0; i < N; i++)); do
    mkdir -p "$G/g$i"
    sleep 3600 &
    echo $! > "$G/g$i/cgroup.procs"
done
idle=/tmp/store-rss-idle.toml busy=/tmp/store-rss-busy.toml
printf '[[guard]]\nname = "idle"\nmatch = "/store-rss/*"\n[[guard.trigger]]\nusage_above = "1G"\n' > $idle
: > $busy
for ((i = 0; i < 10; i++)); do
    printf '[[guard]]\nname = "w%d"\nmatch = "/store-rss/*"\nmode = "observe"\npost_action_delay = "0s"\n[[guard.trigger]]\nusage_above = "0"\n\n' $i >> $busy
done
echo "| groups | load | store | VmRSS | VmHWM | events recorded | store size |"
echo "|---:|---|---|---:|---:|---:|---:|"
for load in idle busy; do
    for store in off on; do
        state=/tmp/store-rss-state-$load-$store
        rm -rf "$state"
        args=(--config /tmp/store-rss-$load.toml --log json --state-dir "$state")
        [[ $store == off ]] && args+=(--no-store)
        "$BIN/cgwarden" run "${args[@]}" 2>/dev/null &
        pid=$!
        sleep "$SECS"
        rss=$(awk '/^VmRSS/{print $2}' /proc/$pid/status) hwm=$(awk '/^VmHWM/{print $2}' /proc/$pid/status)
        kill -TERM $pid; wait $pid || true
        events=- size=-
        if [[ $store == on ]]; then
            events=$("$BIN/cgwarden" events --json --state-dir "$state" | grep -o '"kind":"[a-z_]*"' | cut -d'"' -f4 |
                sort | uniq -c | sort -rn | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2}')
            size=$(du -sk "$state" | awk '{print $1 " KiB"}')
            "$BIN/cgwarden" events --kind problem --json --state-dir "$state" | grep -o '"message":"[^"]*"' | cut -c1-160 |
                sed 's/[0-9]\+/N/g' | sort | uniq -c | sort -rn | head -3 | sed "s/^/    $load: /" >> /tmp/store-rss-problems || true
        fi
        echo "| $N | $load | $store | $((rss / 1024)).$(( (rss % 1024) * 10 / 1024 )) MiB | $((hwm / 1024)).$(( (hwm % 1024) * 10 / 1024 )) MiB | $events | $size |"
    done
done
if [[ -s /tmp/store-rss-problems ]]; then
    echo
    echo "Problem events (most frequent messages, numbers as N):"
    cat /tmp/store-rss-problems
fi
