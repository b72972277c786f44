#!/usr/bin/env bash
# cgwarden run as systemd runs it, on the real kernel, with systemd as PID 1:
# the hardened unit of Configs/systemd reaches `active` (Type=notify), kills a
# runaway tenant and says so in the journal with its own fields and in its
# event store (/var/lib/cgwarden, read with cgwarden events), reloads,
# is restarted by the watchdog when stopped, and stops in time.
#   Tests/Systemd/daemon-under-systemd.sh BIN_DIR      (boots the VM itself)
# Prints one "pass:"/"FAIL:" line per check and "N passed, N failed".
set -uo pipefail
# A match in a pipeline: grep -q stops reading at the first one, and under
# pipefail the writer's SIGPIPE then fails the pipeline (a long log did).
has() { grep "$@" >/dev/null; }
TOP=$(cd "$(dirname "$0")/../.." && pwd)
if [[ ${IN_CGROUP2_VM:-} != 1 ]]; then
    exec "$TOP/scripts/vm/run-in-cgroup2-vm" --systemd -t 900 -- "$(readlink -f "$0")" "$@"
fi
[[ ${CG2VM_INIT:-} == systemd ]] || { echo "daemon-under-systemd: needs run-in-cgroup2-vm --systemd" >&2; exit 2; }
[[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]] || { echo "not cgroup2" >&2; exit 2; }
BIN=${1:?bin directory}
passed=0 failed=0
check() {
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then echo "pass: $name"; passed=$((passed + 1))
    else echo "FAIL: $name"; failed=$((failed + 1)); [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/      /' | tail -n 20; fi
}
until_ok() { local end=$((SECONDS + $1)); shift; until "$@"; do ((SECONDS < end)) || return 1; sleep 0.2; done; }
prop() { systemctl show -P "$2" "$1"; }

T=$CG2VM_CGROUP/tenants
ROOTPATH=${T#/sys/fs/cgroup}
mkdir -p "$T" && echo "+memory +pids" > "$T/cgroup.subtree_control"
for t in a b; do mkdir -p "$T/$t"; echo 128M > "$T/$t/memory.max"; echo 0 > "$T/$t/memory.swap.max"; done
mkdir -p /etc/cgwarden
cat > /etc/cgwarden/cgwarden.toml <<TOML
[daemon]
interval = "1s"
[[guard]]
name = "tenants"
match = "$ROOTPATH/*"
post_action_delay = "5s"
[[guard.trigger]]
usage_of_limit = "85%"
TOML
sed "s|^ExecStart=/usr/bin/cgwarden|ExecStart=$BIN/cgwarden|; s|^WatchdogSec=.*|WatchdogSec=4s|" \
    "$TOP/Configs/systemd/cgwarden.service" > /run/systemd/system/cgwarden.service
systemctl daemon-reload

t_active() {
    systemctl start cgwarden.service || { systemctl status cgwarden --no-pager; journalctl -u cgwarden --no-pager | tail; return 1; }
    [[ $(systemctl is-active cgwarden) == active ]] || return 1
    [[ $(prop cgwarden Type) == notify ]] && [[ $(prop cgwarden StatusText) == guarding* ]] || { prop cgwarden StatusText; return 1; }
}
fd_targets() {  # PID: the targets of its open descriptors, one per line
    local f
    for f in /proc/$1/fd/*; do readlink "$f" || true; done 2>/dev/null
}
t_hardened() {
    local pid; pid=$(prop cgwarden MainPID)
    # The main process dropped to cgwarden; its helper (a child of the launcher) kept root.
    [[ $(awk '/^Uid:/{print $2}' /proc/$pid/status) == $(id -u cgwarden) ]] || { grep -E "^(Uid|Cap)" /proc/$pid/status; return 1; }
    [[ $(cat /proc/$pid/oom_score_adj) == -1000 ]] || { cat /proc/$pid/oom_score_adj; return 1; }
    # No transparent huge pages: a locked 2 MiB page for a few KiB of stack.
    grep -q "^THP_enabled:[[:space:]]*0" /proc/$pid/status || { grep THP /proc/$pid/status; return 1; }
    grep -q "^Seccomp:[[:space:]]*2" /proc/$pid/status || { grep Seccomp /proc/$pid/status; return 1; }
    # /dev/kmsg, opened before the drop (DeviceAllow=/dev/kmsg r), is read after it.
    # Each descriptor's target, one by one: a descriptor the daemon closes
    # meanwhile (a kill's, a recording's) is skipped, where `ls -l` failed
    # the pipeline (CI: "cannot access '/proc/158/fd/107'").
    fd_targets $pid | has "^/dev/kmsg$" \
        || { echo "no /dev/kmsg among its descriptors:"; journalctl -u cgwarden --no-pager | grep -iE "kmsg|kernel's OOM|warning"; ls -l /dev/kmsg; return 1; }
}
t_kill_in_journal() {
    "$BIN/cgwarden-testload" alloc --cgroup "$T/b" --mib 20 --hold-s 120 >/dev/null 2>&1 &
    "$BIN/cgwarden-testload" alloc --cgroup "$T/a" --mib 120 --step-mib 8 --interval-ms 150 --hold-s 120 >/dev/null 2>&1 &
    until_ok 60 grep -q "^populated 0" "$T/a/cgroup.events" || { cat "$T/a/cgroup.events"; return 1; }
    grep -q "^oom_kill 0$" "$T/a/memory.events" || { echo "the kernel killed first:"; cat "$T/a/memory.events"; return 1; }
    grep -q "^populated 1" "$T/b/cgroup.events" || { echo "b was touched"; return 1; }
    local j
    until_ok 10 bash -c 'journalctl -o json MESSAGE_ID=6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a91 --no-pager | grep -q CGWARDEN_CGROUP' || return 1
    j=$(journalctl -o json MESSAGE_ID=6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a91 --no-pager | tail -n 1)
    for f in "\"CGWARDEN_CGROUP\":\"$ROOTPATH/a\"" '"CGWARDEN_GUARD":"tenants"' '"CGWARDEN_RESULT":"kill"' \
             '"CGWARDEN_TRIGGER":"usage >= 85% of memory.max"' '"CGWARDEN_MEASURED":' '"CGWARDEN_MEMORY_FREED":' \
             '"CGWARDEN_METHOD":"cgroup.kill"' '"PRIORITY":"4"' '"_SYSTEMD_UNIT":"cgwarden.service"' \
             '"CGWARDEN_RECORDING":"/var/lib/cgwarden/recordings/kill-'; do
        grep -qF "$f" <<< "$j" || { echo "missing $f in: $j"; return 1; }
    done
    # The flight recording beside the kill, in the state directory the unit gives it.
    local rec; rec=$(grep -o '"CGWARDEN_RECORDING":"[^"]*"' <<< "$j" | cut -d'"' -f4)
    until_ok 20 test -s "$rec" || { echo "no recording $rec"; ls -la /var/lib/cgwarden/recordings; return 1; }
    "$BIN/cgwarden" explain --replay "$rec" --config /etc/cgwarden/cgwarden.toml --json | has -F "\"$ROOTPATH/a\"" \
        || { echo "the replay of $rec does not reach $ROOTPATH/a"; return 1; }
}
t_kill_in_history() {
    local dir=/var/lib/cgwarden out
    # The daemon, dropped to cgwarden, made its store in the unit's
    # StateDirectory; the top stays root's (0711), events/ is cgwarden's.
    [[ $(stat -c %U:%a "$dir") == root:711 && $(stat -c %U "$dir/events") == cgwarden \
       && $(stat -c %U "$dir/events/events.db") == cgwarden ]] || { ls -laR "$dir"; return 1; }
    until_ok 10 bash -c "'$BIN/cgwarden' events --kind kill --json | grep -qE '\"guard\": ?\"tenants\"'" \
        || { "$BIN/cgwarden" events; return 1; }
    out=$("$BIN/cgwarden" events --kind kill --json | tail -n 1)
    for f in "\"cgroup\": ?\"$ROOTPATH/a\"" '"trigger": ?"usage >= 85% of memory.max"' '"candidates": ?\[\{'; do
        grep -qE "$f" <<< "$out" || { echo "missing $f in: $out"; return 1; }
    done
    # root read the store as its owner: no file of root's beside it.
    [[ -z $(find "$dir" -mindepth 1 ! -user cgwarden) ]] || { ls -laR "$dir"; return 1; }
}
t_reload() {
    local pid; pid=$(prop cgwarden MainPID)
    systemctl reload cgwarden || return 1
    until_ok 10 bash -c 'journalctl -u cgwarden --no-pager | grep -q "configuration reloaded"' || return 1
    [[ $(systemctl is-active cgwarden) == active && $(prop cgwarden MainPID) == "$pid" ]]
}
t_broken_reload() {
    cp /etc/cgwarden/cgwarden.toml /run/good.toml
    echo "[[guard]]" >> /etc/cgwarden/cgwarden.toml
    systemctl reload cgwarden
    until_ok 10 bash -c 'journalctl -u cgwarden --no-pager | grep -q "configuration not reloaded"' || return 1
    cp /run/good.toml /etc/cgwarden/cgwarden.toml
    [[ $(systemctl is-active cgwarden) == active ]]
}
t_state_after_reload() {
    # systemd gives a StateDirectory= back to root before every command of a
    # unit without User=, ExecReload= included, unless its top directory is
    # already root's: what the daemon writes must stay its user's after a
    # reload, or the next recording cannot be made.
    local wrong; wrong=$(find /var/lib/cgwarden -mindepth 1 ! -user cgwarden)
    [[ -z $wrong ]] || { echo "not cgwarden's after the reloads: $wrong"; ls -laR /var/lib/cgwarden | head -30; return 1; }
}
t_watchdog() {
    local pid; pid=$(prop cgwarden MainPID)
    kill -STOP "$pid"
    until_ok 30 bash -c "[[ \$(systemctl show -P NRestarts cgwarden) -ge 1 && \$(systemctl show -P MainPID cgwarden) != $pid && \$(systemctl is-active cgwarden) == active ]]" \
        || { systemctl status cgwarden --no-pager | head -20; return 1; }
    journalctl -u cgwarden --no-pager | has "Watchdog timeout" || { echo "no watchdog line"; return 1; }
}
t_stop() {
    local t0=$SECONDS ms
    local start; start=$(date +%s%N)
    systemctl stop cgwarden || return 1
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "stopped in $ms ms"
    [[ $(systemctl is-active cgwarden) != active && $ms -lt 3000 ]]
}

check "the unit starts (Type=notify) and reaches active, with a status line" t_active
check "dropped to cgwarden, oom_score_adj -1000, no huge pages, seccomp on the helper side is separate" t_hardened
check "a runaway tenant is killed before the kernel's OOM killer; the journal entry has cgwarden's fields" t_kill_in_journal
check "the kill is in the event history (cgwarden events), the store the daemon user's" t_kill_in_history
check "systemctl reload re-reads the configuration in place" t_reload
check "a broken configuration on reload is reported and the old one kept" t_broken_reload
check "after the reloads the state the daemon writes is still its user's" t_state_after_reload
check "stopped with SIGSTOP, it is restarted by the watchdog" t_watchdog
check "systemctl stop ends it in time" t_stop
echo "$passed passed, $failed failed"
((failed == 0))
