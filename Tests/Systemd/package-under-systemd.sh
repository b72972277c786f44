#!/usr/bin/env bash
# The Debian package on a machine whose PID 1 is systemd (run-in-cgroup2-vm
# --systemd; the guest's root is the host's under a RAM overlay, so dpkg may
# write anywhere and nothing reaches the host): installed with apt-get, it
# creates its user, enables and starts the guard; `cgwarden status` works; a
# drop-in added later is read on `systemctl reload` (a reloaded event), and
# its guard kills a runaway unit, which the journal shows with cgwarden's
# fields; a reinstall (the upgrade path) keeps an edited conffile and
# restarts the guard; `apt-get remove` stops it and keeps the conffile;
# `dpkg --purge` removes the conffile and the state directory.
#   Tests/Systemd/package-under-systemd.sh DEB BIN_DIR    (boots the VM itself)
# BIN_DIR holds cgwarden-testload (the bounded allocator). Prints one
# "pass:"/"FAIL:" line per check and "N passed, N failed".
set -uo pipefail
# A match in a pipeline: grep -q stops reading at the first one, and under
# pipefail the writer's SIGPIPE then fails the pipeline (a long log did).
has() { grep "$@" >/dev/null; }
TOP=$(cd "$(dirname "$0")/../.." && pwd)
if [[ ${IN_CGROUP2_VM:-} != 1 ]]; then
    exec "$TOP/scripts/vm/run-in-cgroup2-vm" --systemd -t 900 -- "$(readlink -f "$0")" "$(readlink -f "${1:?deb}")" "$(readlink -f "${2:?bin directory}")"
fi
[[ ${CG2VM_INIT:-} == systemd ]] || { echo "package-under-systemd: needs run-in-cgroup2-vm --systemd" >&2; exit 2; }
[[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]] || { echo "not cgroup2" >&2; exit 2; }
DEB=${1:?deb}
BIN=${2:?bin directory}
passed=0 failed=0
check() {
    local name=$1; shift
    local out start=$SECONDS
    if out=$("$@" 2>&1); then echo "pass: $name ($((SECONDS - start)) s)"; passed=$((passed + 1))
    else echo "FAIL: $name ($((SECONDS - start)) s)"; failed=$((failed + 1)); [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/      /' | tail -n 25; fi
}
until_ok() { local end=$((SECONDS + $1)); shift; until "$@"; do ((SECONDS < end)) || return 1; sleep 0.2; done; }
prop() { systemctl show -P "$2" "$1"; }
ID=6c3e8a1d0f4b4e4f9a2d7c5b3e1f0a9
export DEBIAN_FRONTEND=noninteractive
# No archive index: the package's dependencies are installed (the host ran
# scripts/setup) and the guest has no network; parsing the host's 19 MB of
# package lists costs ~40 s per apt-get under TCG, for nothing.
APT=(apt-get -q -y -o Dpkg::Use-Pty=0 --no-install-recommends
     -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=/dev/null)

# The guest starts as a copy of the host, which is not a fresh machine in
# four ways this test undoes (in the guest's overlay only):
# - the host is a container image whose /usr/sbin/policy-rc.d forbids every
#   service start (exit 101): deb-systemd-invoke would start nothing;
# - scripts/setup created the user cgwarden there: the package must create it;
# - man-db's trigger would re-index every manual page (tens of seconds under
#   TCG); its auto-update flag is man-db's own switch for that;
# - packagekit's apt hook (20packagekit) would start packagekitd over D-Bus
#   after each dpkg run.
rm -f /usr/sbin/policy-rc.d /var/lib/man-db/auto-update /etc/apt/apt.conf.d/20packagekit
# dpkg reads its whole database (900 packages' file lists on the host) at
# each run, ~15-20 s over the guest's 9p root under TCG; a copy in RAM
# (this VM's only) makes that once.
cp -a /var/lib/dpkg /run/cg2vm-dpkg && mount --bind /run/cg2vm-dpkg /var/lib/dpkg \
    || { echo "package-under-systemd: cannot copy /var/lib/dpkg to RAM" >&2; exit 2; }
getent passwd cgwarden >/dev/null && userdel cgwarden
getent group cgwarden >/dev/null && groupdel cgwarden
if dpkg-query -W cgwarden >/dev/null 2>&1 || [[ -e /etc/cgwarden || -e /usr/bin/cgwarden ]]; then
    echo "package-under-systemd: this host already has cgwarden installed; the test needs a clean one" >&2
    exit 2
fi

t_install() {
    "${APT[@]}" install "$DEB" || return 1
    [[ $(dpkg-query -W -f='${Status}' cgwarden) == "install ok installed" ]] || return 1
    # The user, from /usr/lib/sysusers.d/cgwarden.conf.
    local pw; pw=$(getent passwd cgwarden) || { echo "no user cgwarden"; return 1; }
    [[ $pw == *:/nonexistent:/usr/sbin/nologin ]] || { echo "$pw"; return 1; }
    [[ $(systemctl is-enabled cgwarden) == enabled ]] || { systemctl is-enabled cgwarden; return 1; }
    [[ -L /etc/systemd/system/multi-user.target.wants/cgwarden.service ]] || return 1
}
t_active() {
    # deb-systemd-invoke start returned once READY=1 came (Type=notify).
    [[ $(systemctl is-active cgwarden) == active ]] || { systemctl status cgwarden --no-pager; journalctl -u cgwarden --no-pager | tail; return 1; }
    [[ $(prop cgwarden FragmentPath) == /lib/systemd/system/cgwarden.service ]] || { prop cgwarden FragmentPath; return 1; }
    [[ $(prop cgwarden StatusText) == guarding* ]] || { prop cgwarden StatusText; return 1; }
    local pid; pid=$(prop cgwarden MainPID)
    [[ $(awk '/^Uid:/{print $2}' /proc/$pid/status) == $(id -u cgwarden) ]] || { grep Uid /proc/$pid/status; return 1; }
    [[ -d /var/lib/cgwarden ]] || { echo "no /var/lib/cgwarden (StateDirectory=)"; return 1; }
    journalctl -u cgwarden -o json --no-pager MESSAGE_ID=${ID}7 | grep -F '"CGWARDEN_EVENT":"started"' >/dev/null \
        || { journalctl -u cgwarden --no-pager | tail; return 1; }
}
t_status() {
    local out
    # As root, as an operator runs it; the guard's own unit is among the services.
    out=$(cgwarden status /system.slice --depth 1) || { echo "$out"; return 1; }
    grep -q "^node: memory" <<< "$out" && grep -q "^/system.slice " <<< "$out" \
        && grep -qE "(├|└)─ cgwarden.service " <<< "$out" || { echo "$out"; return 1; }
    [[ $(cgwarden --version) == "$(dpkg-query -W -f='${Version}' cgwarden | sed 's/-[^-]*$//')" ]] \
        || { echo "cgwarden --version: $(cgwarden --version), package $(dpkg-query -W -f='${Version}' cgwarden)"; return 1; }
    cgwarden check-config >/dev/null || return 1
    man -w cgwarden >/dev/null && man -w cgwarden-run >/dev/null || { ls /usr/share/man/man1/cgwarden*; return 1; }
    [[ -s /usr/share/bash-completion/completions/cgwarden ]] || return 1
}
t_reload_dropin() {
    local pid; pid=$(prop cgwarden MainPID)
    cat > /etc/cgwarden/cgwarden.d/90-pkgtest.toml <<'TOML'
# package-under-systemd.sh: guards the test's slice.
[[guard]]
name = "pkgtest"
match = "/pkgtest.slice/*"
post_action_delay = "5s"
[[guard.trigger]]
usage_of_limit = "85%"
TOML
    cgwarden check-config >/dev/null || return 1
    systemctl reload cgwarden || return 1
    until_ok 15 bash -c "journalctl -o json --no-pager MESSAGE_ID=${ID}8 | grep -F 90-pkgtest.toml >/dev/null" \
        || { journalctl -u cgwarden --no-pager | tail; return 1; }
    journalctl -u cgwarden --no-pager | has "configuration reloaded: 3 guards from /etc/cgwarden/cgwarden.toml + /etc/cgwarden/cgwarden.d/90-pkgtest.toml" \
        || { journalctl -u cgwarden --no-pager | tail; return 1; }
    [[ $(systemctl is-active cgwarden) == active && $(prop cgwarden MainPID) == "$pid" ]]
}
t_kill() {
    # A runaway service in the drop-in's slice, 128M limit, growing to 120M:
    # the guard (85% of memory.max) must empty it before the kernel OOM-kills in it.
    systemd-run --quiet --unit=pkgtest-runaway --slice=pkgtest.slice -p MemoryMax=128M -p MemorySwapMax=0 \
        "$BIN/cgwarden-testload" alloc --cgroup /sys/fs/cgroup/pkgtest.slice/pkgtest-runaway.service \
        --mib 120 --step-mib 8 --interval-ms 150 --hold-s 120 || return 1
    until_ok 60 bash -c '[[ $(systemctl is-active pkgtest-runaway) != active && $(systemctl is-active pkgtest-runaway) != activating ]]' \
        || { systemctl status pkgtest-runaway --no-pager; journalctl -u cgwarden --no-pager | tail; return 1; }
    [[ $(prop pkgtest-runaway Result) == signal ]] || { echo "runaway result: $(prop pkgtest-runaway Result) (oom-kill: the kernel was first)"; return 1; }
    grep -q "^oom_kill 0$" /sys/fs/cgroup/pkgtest.slice/memory.events || { cat /sys/fs/cgroup/pkgtest.slice/memory.events; return 1; }
    until_ok 10 bash -c "journalctl -u cgwarden -o json --no-pager MESSAGE_ID=${ID}1 | grep -F pkgtest-runaway >/dev/null" \
        || { journalctl -u cgwarden --no-pager | tail
             ls -la /var/lib/cgwarden /var/lib/cgwarden/recordings
             # An incomplete event: the group was not empty within the daemon's 10 s kill
             # timeout, which only a starved guest (a host running other VMs) has shown.
             journalctl -u cgwarden --no-pager -g "still populated" -q >/dev/null \
                 && echo "the kill was not complete within cgwarden's kill timeout (10 s): is the host overloaded?"
             return 1; }
    # (No CGWARDEN_MEMORY_FREED required: systemd removes a transient unit's
    # cgroup as soon as it is empty, often before the helper reads memory.current again.)
    local j f
    j=$(journalctl -u cgwarden -o json --no-pager MESSAGE_ID=${ID}1 | tail -n 1)
    for f in '"CGWARDEN_CGROUP":"/pkgtest.slice/pkgtest-runaway.service"' '"CGWARDEN_UNIT":"pkgtest-runaway.service"' \
             '"CGWARDEN_GUARD":"pkgtest"' '"CGWARDEN_EVENT":"kill"' '"CGWARDEN_RESULT":"kill"' \
             '"CGWARDEN_TRIGGER":"usage >= 85% of memory.max"' '"CGWARDEN_MEMORY_BEFORE":' '"CGWARDEN_METHOD":"cgroup.kill"' \
             '"PRIORITY":"4"' '"_SYSTEMD_UNIT":"cgwarden.service"'; do
        grep -qF "$f" <<< "$j" || { echo "missing $f in: $j"; return 1; }
    done
    journalctl -u cgwarden --no-pager | grep "guard 'pkgtest': killed /pkgtest.slice/pkgtest-runaway.service" || return 1
    # Its flight recording, written after the reload above: systemd gives a
    # StateDirectory= back to root before ExecReload= unless its top is root's.
    local rec; rec=$(grep -o '"CGWARDEN_RECORDING":"[^"]*"' <<< "$j" | cut -d'"' -f4)
    [[ -n $rec ]] || { echo "no CGWARDEN_RECORDING in: $j"; return 1; }
    until_ok 20 test -s "$rec" || { echo "no recording $rec"; journalctl -u cgwarden --no-pager | grep -i recording; ls -laR /var/lib/cgwarden; return 1; }
}
t_reinstall() {
    # dpkg -i of an installed package is the upgrade path (postinst configure
    # with the old version): an edited conffile is kept without a question
    # (the package's copy did not change), the guard restarted in place.
    local pid; pid=$(prop cgwarden MainPID)
    echo "# edited by package-under-systemd.sh" >> /etc/cgwarden/cgwarden.toml
    dpkg -i "$DEB" </dev/null || return 1
    grep -q "^# edited by package-under-systemd.sh$" /etc/cgwarden/cgwarden.toml || { echo "the edit is gone"; return 1; }
    [[ ! -e /etc/cgwarden/cgwarden.toml.dpkg-new && ! -e /etc/cgwarden/cgwarden.toml.dpkg-dist ]] || { ls /etc/cgwarden; return 1; }
    [[ $(systemctl is-active cgwarden) == active && $(prop cgwarden MainPID) != "$pid" ]] \
        || { echo "active: $(systemctl is-active cgwarden), pid $pid -> $(prop cgwarden MainPID)"; return 1; }
}
t_remove() {
    "${APT[@]}" remove cgwarden || return 1
    [[ $(systemctl is-active cgwarden) != active ]] || return 1
    [[ $(dpkg-query -W -f='${Status}' cgwarden) == "deinstall ok config-files" ]] || { dpkg-query -W -f='${Status}\n' cgwarden; return 1; }
    [[ ! -e /usr/bin/cgwarden && ! -e /lib/systemd/system/cgwarden.service ]] || return 1
    [[ -f /etc/cgwarden/cgwarden.toml ]] || { echo "the conffile went with remove"; return 1; }
    getent passwd cgwarden >/dev/null || { echo "the user went with remove"; return 1; }
    ! pgrep -u cgwarden >/dev/null || { echo "processes of cgwarden remain"; pgrep -a -u cgwarden; return 1; }
}
t_purge() {
    dpkg --purge cgwarden || return 1
    ! dpkg-query -W -f='${Status}' cgwarden 2>/dev/null | has installed || return 1
    [[ ! -e /etc/cgwarden/cgwarden.toml ]] || { echo "the conffile survived purge"; return 1; }
    [[ ! -e /var/lib/cgwarden ]] || { echo "/var/lib/cgwarden survived purge"; return 1; }
    [[ ! -e /etc/systemd/system/multi-user.target.wants/cgwarden.service ]] || return 1
    # The operator's drop-in is theirs: kept, with the directory holding it.
    [[ -f /etc/cgwarden/cgwarden.d/90-pkgtest.toml ]] || { echo "purge removed the operator's drop-in"; return 1; }
}

check "apt-get install: the user cgwarden is created, the unit enabled" t_install
check "the guard started with the package: active, Type=notify, dropped to cgwarden, StateDirectory" t_active
check "cgwarden status, --version, check-config, the manual pages and completions work" t_status
check "a drop-in in /etc/cgwarden/cgwarden.d/ is read on systemctl reload (a reloaded event)" t_reload_dropin
check "the drop-in's guard kills a runaway unit before the kernel; journalctl -u cgwarden has the kill and its fields" t_kill
check "dpkg -i again (upgrade path): an edited conffile is kept, the guard restarted" t_reinstall
check "apt-get remove stops the guard, keeps the conffile and the user" t_remove
check "dpkg --purge removes the conffile and /var/lib/cgwarden, keeps the operator's drop-in" t_purge
echo "$passed passed, $failed failed"
((failed == 0))
