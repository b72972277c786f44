#!/usr/bin/env bash
# The OOM daemons cgwarden is compared with (earlyoom, systemd-oomd, nohang;
# installed as packages by scripts/setup, never run on the host) start and
# act inside the VM.  On the host, as root, it boots the guest twice:
#   scripts/vm/peers-selftest.sh     busybox mode: earlyoom and nohang as plain
#                                    processes; systemd mode: the three as
#                                    units, systemd-oomd on an example slice
# Prints one "pass:"/"FAIL:" line per check and "N passed, N failed" per
# mode; exits 0 only if every check passed.  ~1.5 min under TCG.
#
# In the guest the checks run memory hogs: each is bounded (at most 80 % of
# MemTotal, or 640 MiB under MemoryHigh=) and refuses to run outside the VM.
set -uo pipefail

if [[ ${IN_CGROUP2_VM:-} != 1 ]]; then
    vm=$(dirname "$0")/run-in-cgroup2-vm self=$(readlink -f "$0") rc=0
    echo "== busybox mode"
    "$vm" -t 600 -- "$self" || rc=1
    echo "== systemd mode"
    "$vm" --systemd -t 600 -- "$self" || rc=1
    exit $rc
fi
# Never on a host: this is the guest's own cgroup2 hierarchy.
[[ $(stat -f -c %T /sys/fs/cgroup) == cgroup2fs ]] || { echo "peers-selftest: not in the VM" >&2; exit 2; }

PY=/usr/bin/python3   # Debian's, not a pyenv shim on PATH
T=$(mktemp -d /run/peers.XXXXXX)
passed=0 failed=0
check() {   # check NAME COMMAND... : runs COMMAND, reports it
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then
        echo "pass: $name"; passed=$((passed + 1))
    else
        echo "FAIL: $name"; failed=$((failed + 1))
        [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/      /' | tail -n 20
    fi
}
until_ok() {   # until_ok SECS COMMAND...: retries every 0.2 s
    local end=$((SECONDS + $1)); shift
    until "$@"; do ((SECONDS < end)) || return 1; sleep 0.2; done
}
logged() { grep -- "$2" "$1" >/dev/null; }   # (not grep -q: see journalctl pipes)
journal_has() { journalctl -b --no-pager -q "${@:2}" | grep -- "$1" >/dev/null; }
# A hog touching 32 MiB every 50 ms up to 80 % of MemTotal; exits 0 if it
# got there alive (no killer acted), else dies of the killer's signal.
hog() {
    "$PY" -c '
import time
total = int(open("/proc/meminfo").read().split()[1]) * 1024
held = []
while (len(held) + 1) * (32 << 20) < total * 0.8:
    held.append(bytearray(b"\x01") * (32 << 20))
    time.sleep(0.05)
print("hog: not killed", flush=True)'
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; true; }

versions() {
    local p v line=""
    for p in earlyoom systemd-oomd nohang; do
        v=$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null) || v="not installed"
        line+="$p $v, "
    done
    echo "versions: ${line%, }"
}

# --- busybox mode: plain processes --------------------------------------------
t_earlyoom_plain() {
    # SIGTERM once MemAvailable <= 40 % (SIGKILL at 20 %); no swap here, and
    # earlyoom then treats swap as exhausted.
    earlyoom -r 0 -m 40 > "$T/earlyoom.log" 2>&1 & local eo=$!
    until_ok 20 logged "$T/earlyoom.log" 'sending SIGTERM when' || { stop $eo; cat "$T/earlyoom.log"; return 1; }
    hog; local rc=$?
    sleep 0.5
    stop $eo
    [[ $rc == 143 ]] && logged "$T/earlyoom.log" 'sending SIGTERM to process .* "python3"' \
        || { echo "hog status $rc"; cat "$T/earlyoom.log"; return 1; }
}
t_nohang_plain() {
    # The packaged config with its soft threshold raised from 5 % to 40 %.
    sed -e 's/^soft_threshold_min_mem .*/soft_threshold_min_mem = 40 %/' \
        -e 's/^hard_threshold_min_mem .*/hard_threshold_min_mem = 20 %/' \
        /etc/nohang/nohang.conf > "$T/nohang.conf"
    /usr/sbin/nohang --monitor --config "$T/nohang.conf" > "$T/nohang.log" 2>&1 & local nh=$!
    until_ok 60 logged "$T/nohang.log" 'Monitoring has started' || { stop $nh; cat "$T/nohang.log"; return 1; }
    hog; local rc=$?
    sleep 0.5
    stop $nh
    [[ $rc == 143 ]] && logged "$T/nohang.log" 'Sending SIGTERM to python3' \
        || { echo "hog status $rc"; tail -n 30 "$T/nohang.log"; return 1; }
}

# --- systemd mode: units ---------------------------------------------------------
t_unit_starts() {   # t_unit_starts UNIT JOURNAL-TEXT: the packaged unit as is
    systemctl start "$1" || return 1
    until_ok 60 journal_has "$2" -u "$1" || { systemctl status --no-pager "$1"; return 1; }
    [[ $(systemctl is-active "$1") == active ]] || { systemctl status --no-pager "$1"; return 1; }
    systemctl stop "$1"
}
# Example: a slice systemd-oomd watches.  Debian's systemd-oomd package adds
# ManagedOOMSwap=kill to -.slice too (so "/" is listed for swap).
SLICE=oomdemo.slice
t_oomd_slice() {
    cat > /run/systemd/system/$SLICE <<'EOF'
[Unit]
Description=cgwarden VM: example slice watched by systemd-oomd
[Slice]
ManagedOOMMemoryPressure=kill
ManagedOOMMemoryPressureLimit=10%
ManagedOOMSwap=kill
EOF
    # oomd acts after the limit is exceeded for this long (Debian: 20 s).
    mkdir -p /etc/systemd/oomd.conf.d
    printf '[OOM]\nDefaultMemoryPressureDurationSec=2s\n' > /etc/systemd/oomd.conf.d/cgwarden-vm.conf
    systemctl daemon-reload &&
    systemctl start systemd-oomd.service $SLICE || return 1
    local dump; dump=$(oomctl dump --no-pager) || return 1
    # Listed under both "Swap Monitored CGroups" and "Memory Pressure ...".
    [[ $(grep -c "Path: /$SLICE\$" <<< "$dump") == 2 ]] || { echo "$dump"; return 1; }
    echo "$dump" > "$T/oomctl.txt"
}
t_oomd_kills() {
    # Swap on zram (1 GiB: the hog never fills it past the 90 % at which
    # Debian's ManagedOOMSwap=kill on -.slice would act), so that reclaim
    # below MemoryHigh= has something to do
    # (oomd only kills with reclaim activity); the hog then stalls on
    # reclaim, its slice's memory pressure passes 10 % for 2 s.
    if ! grep -q zram /proc/swaps; then
        modprobe zram && echo 1G > /sys/block/zram0/disksize &&
            mkswap /dev/zram0 >/dev/null && swapon /dev/zram0 || return 1
    fi
    systemd-run --quiet --unit=oomdemo-hog --slice=$SLICE -p MemoryHigh=64M "$PY" -c '
import time
held = []
for _ in range(40):
    held.append(bytearray(b"\x01") * (16 << 20))
    time.sleep(0.05)
print("hog: not killed", flush=True)
time.sleep(600)' || return 1
    until_ok 90 bash -c '[[ $(systemctl show -P ActiveState oomdemo-hog.service) != active ]]'
    local result; result=$(systemctl show -P Result oomdemo-hog.service)
    [[ $result == oom-kill ]] && journal_has "Killed /$SLICE/oomdemo-hog.service due to memory pressure" -u systemd-oomd \
        || { echo "result: $result"; journalctl -b --no-pager -q -u systemd-oomd -u oomdemo-hog | tail -n 20; return 1; }
}

versions
if [[ ${CG2VM_INIT:-} == systemd ]]; then
    check "earlyoom.service starts (packaged unit)" t_unit_starts earlyoom.service 'mem total:'
    check "nohang.service starts (packaged unit)" t_unit_starts nohang.service 'Monitoring has started'
    check "systemd-oomd watches $SLICE (oomctl lists it)" t_oomd_slice
    [[ -s $T/oomctl.txt ]] && sed -n '/Monitored CGroups:/,/Pressure Limit/p' "$T/oomctl.txt" | sed 's/^/      /'
    check "systemd-oomd kills a unit of $SLICE under memory pressure" t_oomd_kills
else
    check "earlyoom (plain process) SIGTERMs a hog at MemAvailable 40 %" t_earlyoom_plain
    check "nohang (plain process) SIGTERMs a hog at MemAvailable 40 %" t_nohang_plain
fi
echo "$passed passed, $failed failed"
((failed == 0))
