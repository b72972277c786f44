#!/usr/bin/env bash
# Checks what the daemon's tests need from the harness's systemd mode, from
# inside the guest.  On the host it boots the guest itself:
#   scripts/vm/systemd-selftest.sh          (root; ~1 min under TCG)
# Prints one "pass:"/"FAIL:" line per check and "N passed, N failed";
# exits 0 only if every check passed.
set -uo pipefail

if [[ ${IN_CGROUP2_VM:-} != 1 ]]; then
    exec "$(dirname "$0")/run-in-cgroup2-vm" --systemd -t 600 -- "$(readlink -f "$0")"
fi
[[ ${CG2VM_INIT:-} == systemd ]] || { echo "systemd-selftest: needs run-in-cgroup2-vm --systemd" >&2; exit 2; }

# (grep -q ends a pipe early: journalctl then dies of SIGPIPE, which
# pipefail reports; hence "grep ... >/dev/null" after journalctl.)
PY=/usr/bin/python3   # Debian's, not a pyenv shim on PATH
U=/run/systemd/system
passed=0 failed=0
check() {   # check NAME COMMAND... : runs COMMAND, reports it
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then
        echo "pass: $name"; passed=$((passed + 1))
    else
        echo "FAIL: $name"; failed=$((failed + 1))
        [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/      /' | tail -n 15
    fi
}
# until SECS COMMAND...: retries COMMAND every 0.2 s for SECS seconds.
until_ok() {
    local end=$((SECONDS + $1)); shift
    until "$@"; do ((SECONDS < end)) || return 1; sleep 0.2; done
}
prop() { systemctl show -P "$2" "$1"; }

t_pid1() { [[ $(cat /proc/1/comm) == systemd ]]; }
t_running() {
    local s; s=$(systemctl is-system-running)
    [[ $s == running ]] || { echo "state: $s"; systemctl --failed --no-legend; return 1; }
}
t_cgroup() {
    local cg; cg=$(cut -d: -f3 /proc/self/cgroup)
    [[ $cg == /system.slice/cg2vm.service/cmd && $CG2VM_CGROUP == /sys/fs/cgroup${cg%/cmd} ]] || {
        echo "cgroup: $cg, CG2VM_CGROUP: $CG2VM_CGROUP"; return 1; }
}
t_delegated() {
    # A child of the delegated cgroup with memory.max: an allocator there is
    # OOM-killed and the kill is counted in that child's memory.events.
    local t=$CG2VM_CGROUP/selftest
    mkdir "$t" && echo 64M > "$t/memory.max" && echo 0 > "$t/memory.swap.max" || return 1
    ( echo $BASHPID > "$t/cgroup.procs" && exec "$PY" -c 'b = bytearray(b"\x01") * (256 << 20)' )
    local rc=$?
    grep -q '^oom_kill 1$' "$t/memory.events" && [[ $rc == 137 ]] || {
        echo "allocator status $rc"; cat "$t/memory.events"; return 1; }
    rmdir "$t"
}
t_journal() {
    local tag=cg2vm-selftest-$$
    printf 'MESSAGE=hello from the selftest\nCG2VM_FIELD=field-%s\n' $$ | logger --journald || return 1
    logger -t "$tag" "plain message" || return 1
    # The entries reach journald asynchronously.
    until_ok 10 bash -c "journalctl -o json --no-pager CG2VM_FIELD=field-$$ | grep -q '\"CG2VM_FIELD\":\"field-$$\"'" || {
        echo "no structured entry"; return 1; }
    until_ok 10 bash -c "journalctl -o json --no-pager -t $tag | grep -q '\"SYSLOG_IDENTIFIER\":\"$tag\"'" || {
        echo "no tagged entry"; return 1; }
}
t_journal_kernel() {   # kernel messages (OOM kills) reach the journal
    journalctl -k -b --no-pager -q | grep 'Linux version' >/dev/null
}
t_dbus() { busctl --system --no-pager status org.freedesktop.systemd1 >/dev/null; }
t_runtime_unit() {
    cat > $U/cg2vm-oneshot.service <<'EOF'
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo ran > /run/cg2vm-oneshot.out'
EOF
    systemctl daemon-reload &&
    systemctl start cg2vm-oneshot.service &&
    [[ $(cat /run/cg2vm-oneshot.out) == ran ]] &&
    [[ $(prop cg2vm-oneshot.service Result) == success ]]
}
t_watchdog() {
    # A Type=notify service that pings the watchdog from its main process; a
    # SIGSTOP stops the pings, systemd must abort it and restart it.
    cat > /run/cg2vm-watchdog.py <<'EOF'
import os, socket, time
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1", addr)
while True:
    s.sendto(b"WATCHDOG=1", addr)
    time.sleep(0.5)
EOF
    cat > $U/cg2vm-watchdog.service <<EOF
[Service]
Type=notify
ExecStart=$PY /run/cg2vm-watchdog.py
WatchdogSec=3
Restart=on-watchdog
RestartSec=1
TimeoutAbortSec=3
EOF
    systemctl daemon-reload || return 1
    systemctl start cg2vm-watchdog.service || { systemctl status --no-pager cg2vm-watchdog.service; return 1; }
    local pid; pid=$(prop cg2vm-watchdog.service MainPID)
    [[ $pid -gt 0 ]] || { echo "no MainPID"; return 1; }
    sleep 4     # alive past one watchdog period while pinging
    [[ $(prop cg2vm-watchdog.service NRestarts) == 0 ]] || { echo "restarted while pinging"; return 1; }
    kill -STOP "$pid"
    if ! until_ok 30 bash -c "[[ \$(systemctl show -P NRestarts cg2vm-watchdog.service) -ge 1 &&
                                 \$(systemctl show -P ActiveState cg2vm-watchdog.service) == active ]]"; then
        echo "not restarted"; systemctl status --no-pager cg2vm-watchdog.service; return 1
    fi
    local new; new=$(prop cg2vm-watchdog.service MainPID)
    [[ $new -gt 0 && $new != "$pid" ]] || { echo "MainPID $pid -> $new"; return 1; }
    journalctl -b -u cg2vm-watchdog.service --no-pager -q | grep 'Watchdog timeout' >/dev/null || {
        echo "no 'Watchdog timeout' in the journal"; return 1; }
    systemctl stop cg2vm-watchdog.service
}
t_oomd() {
    [[ -x /lib/systemd/systemd-oomd ]] || { echo "systemd-oomd not installed (scripts/setup)"; return 1; }
    systemctl start systemd-oomd.service &&
    [[ $(systemctl is-active systemd-oomd.service) == active ]] &&
    oomctl dump --no-pager >/dev/null
}

check "systemd is PID 1" t_pid1
check "system state is 'running'" t_running
check "command in /system.slice/cg2vm.service/cmd = \$CG2VM_CGROUP/cmd" t_cgroup
check "\$CG2VM_CGROUP delegated: memory.max OOM-kills in a child" t_delegated
check "journald: structured fields, journalctl -o json" t_journal
check "journald: kernel messages" t_journal_kernel
check "dbus: busctl reaches systemd" t_dbus
check "unit in /run/systemd/system + daemon-reload + start" t_runtime_unit
check "Type=notify + WatchdogSec: SIGSTOPped service restarted" t_watchdog
check "systemd-oomd starts, oomctl answers" t_oomd
echo "$passed passed, $failed failed"
((failed == 0))
