#!/usr/bin/env bash
# cgwarden's container image, run by podman (crun, cgroup v2) on the real
# kernel, the way Deploy/kubernetes/daemonset.yaml runs it: host PID
# namespace, the host's /sys/fs/cgroup read-write, /dev/kmsg and the
# configuration (the ConfigMap's) read-only, a state directory, a read-only
# root, no new privileges, the runtime's default seccomp profile, every
# capability dropped but those the DaemonSet adds. Beside it, in a
# kubelet-shaped hierarchy (cgroupfs driver: /kubepods/burstable/pod<uid>/
# libpod-<id>), a quiet container and a runaway allocator. cgwarden sees the
# host's hierarchy from inside its container, kills the runaway container's
# cgroup through its helper before the kernel's OOM killer, leaves the quiet
# one alone, and refuses its own container and pod.
#
#   Tests/Container/podman-in-vm.sh IMAGE_ARCHIVE BIN_DIR [--capabilities]
#
# IMAGE_ARCHIVE: scripts/image's output; BIN_DIR: where cgwarden-testload is
# (the loads run it in containers of their own: busybox + the allocator and
# the shared libraries ldd names, a root file system made the same way as
# the image). Boots the VM itself (scripts/vm/run-in-cgroup2-vm).
# --capabilities: instead, the measurement behind the DaemonSet's capability
# list: the same container with each capability removed in turn (and a few
# added), and what then fails (Docs/kubernetes.md has the results).
#
# Prints one "pass:"/"FAIL:" line per check and "N passed, N failed". Without
# the image or podman it skips (exit 0, with the reason), except under
# CGWARDEN_KERNEL_TESTS=required, where it fails.
set -uo pipefail
# A match in a pipeline: grep -q stops reading at the first one, and under
# pipefail the writer's SIGPIPE then fails the pipeline (a long log did).
has() { grep "$@" >/dev/null; }
TOP=$(cd "$(dirname "$0")/../.." && pwd)
# The capabilities the DaemonSet adds (Deploy/kubernetes/daemonset.yaml; the
# manifest test checks that the two lists agree).
CAPS=(SETUID SETGID SYS_RESOURCE KILL CHOWN)

if [[ ${IN_CGROUP2_VM:-} != 1 ]]; then
    archive=${1:?image archive (scripts/image)}
    bin=${2:?bin directory with cgwarden-testload}
    skip() {
        if [[ ${CGWARDEN_KERNEL_TESTS:-} == required ]]; then echo "FAIL: $*"; echo "0 passed, 1 failed"; exit 1; fi
        echo "skipped: $*"; exit 0
    }
    [[ -r $archive ]] || skip "no image archive $archive (scripts/image builds it)"
    command -v podman >/dev/null && command -v crun >/dev/null || skip "podman or crun is not installed (scripts/setup)"
    [[ -x $bin/cgwarden-testload ]] || skip "no $bin/cgwarden-testload (swift build)"
    [[ $(id -u) == 0 ]] || skip "needs root (the VM)"
    source "$TOP/scripts/lib/oci.sh"
    work=$(mktemp -d /tmp/cgwarden-podman.XXXXXX)
    trap 'rm -rf "$work"' EXIT
    # The loads' root file system: static busybox and the allocator.
    oci_rootfs "$work/load"
    cp /bin/busybox "$work/load/usr/bin/busybox"
    ln -s busybox "$work/load/usr/bin/sh"
    oci_add_binary "$work/load" "$bin/cgwarden-testload" /usr/bin/cgwarden-testload
    # The configuration: the ConfigMap's cgwarden.toml, and a drop-in with a
    # guard for this test's runaway (the shipped guards act on a node short
    # of memory or thrashing pods, which a 2 GiB VM under emulation does not
    # show on cue).
    mkdir -p "$work/etc/cgwarden.d"
    # The DaemonSet's arguments to the entrypoint, one a line, are this run's.
    /usr/bin/python3 - "$TOP/Deploy/kubernetes" "$work" <<'PY' || skip "cannot read the manifests (python3-yaml: scripts/setup)"
import sys, yaml
deploy, work = sys.argv[1], sys.argv[2]
cm = yaml.safe_load(open(deploy + "/configmap.yaml"))
open(work + "/etc/cgwarden.toml", "w").write(cm["data"]["cgwarden.toml"])
ds = yaml.safe_load(open(deploy + "/daemonset.yaml"))
open(work + "/args", "w").write("".join(a + "\n" for a in ds["spec"]["template"]["spec"]["containers"][0]["args"]))
PY
    cat > "$work/etc/cgwarden.d/test.toml" <<'TOML'
# Tests/Container: a container at 80% of its own memory.max is this test's runaway.
[[guard]]
name = "container-at-limit"
match = "/kubepods/*/pod*/libpod-*"
candidates = "self"
post_action_delay = "5s"
  [[guard.trigger]]
  usage_of_limit = "80%"
TOML
    chmod -R a+rX "$work"
    "$TOP/scripts/vm/run-in-cgroup2-vm" -t "$([[ ${3:-} == --capabilities ]] && echo 3600 || echo 1200)" -- "$(readlink -f "$0")" "$(readlink -f "$archive")" "$work" "${3:-}"
    exit $?
fi

# ---- in the VM ----------------------------------------------------------------
[[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]] || { echo "FAIL: /sys/fs/cgroup is not cgroup2"; echo "0 passed, 1 failed"; exit 1; }
archive=$1 work=$2 mode=${3:-}
CG=/sys/fs/cgroup
passed=0 failed=0
check() {
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then
        echo "pass: $name"; passed=$((passed + 1))
        grep '^info: ' <<< "$out" | sed 's/^info: /      /' || true
    else echo "FAIL: $name"; failed=$((failed + 1)); [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/      /' | tail -n 25; fi
}
until_ok() { local end=$((SECONDS + $1)); shift; until "$@"; do ((SECONDS < end)) || return 1; sleep 0.5; done; }

# podman on the VM's RAM: overlay storage on a tmpfs of its own (the root is
# itself an overlay), the cgroupfs manager (no systemd as PID 1 here), no
# network, events in a file (no journald).
S=/run/cgwarden-podman
mkdir -p $S && mount -t tmpfs -o mode=0700 tmpfs $S
P=(podman --root $S/root --runroot $S/run --tmpdir $S/tmp --storage-driver overlay
   --cgroup-manager cgroupfs --events-backend file --log-level error)
export TMPDIR=$S/tmp
mkdir -p $S/tmp

t0=$SECONDS
image=$("${P[@]}" load -q -i "$archive" 2>&1 | sed -n 's/^Loaded image[^:]*: *//p' | tail -n 1)
echo "image loaded in $((SECONDS - t0)) s: $image"
[[ -n $image ]] || { echo "FAIL: podman load"; echo "0 passed, 1 failed"; exit 1; }

# The kubelet's layout (cgroupfs driver), with the controllers it enables.
uid_cgw=0a1b2c3d-0000-4000-8000-00000000c9a0
uid_quiet=0a1b2c3d-0000-4000-8000-0000000000a1
uid_run=0a1b2c3d-0000-4000-8000-0000000000b2
mkdir -p $CG/kubepods/burstable/pod$uid_quiet $CG/kubepods/burstable/pod$uid_run $CG/kubepods/pod$uid_cgw
for d in kubepods kubepods/burstable kubepods/burstable/pod$uid_quiet kubepods/burstable/pod$uid_run kubepods/pod$uid_cgw; do
    echo "+memory +pids" > $CG/$d/cgroup.subtree_control
done
echo 256M > $CG/kubepods/pod$uid_cgw/memory.max

# A container of the loads (their root file system, no image): name, pod dir, args...
load() {
    local name=$1 parent=$2; shift 2
    "${P[@]}" run -d --name "$name" --network none --cgroup-parent "$parent" --memory 128m --memory-swap 128m \
        --user 1000:1000 --read-only --rootfs "$work/load" "$@"
}

# The DaemonSet's container: name, then extra podman options; capabilities as CAPS.
cgwarden_ctr() {
    local name=$1; shift
    local caps=() c
    for c in "${CAPS[@]}"; do caps+=(--cap-add "CAP_$c"); done
    mkdir -p /run/state-$name
    "${P[@]}" run -d --name "$name" --network none --pid host --cgroup-parent /kubepods/pod$uid_cgw \
        --memory 128m --memory-swap 128m \
        --cap-drop all "${caps[@]}" --security-opt no-new-privileges --read-only --read-only-tmpfs=false \
        -v $CG:$CG:rw -v /dev/kmsg:/dev/kmsg:ro -v /var/log/pods:/var/log/pods:ro \
        -v /run/state-$name:/var/lib/cgwarden:rw -v "$work/etc":/etc/cgwarden:ro \
        "$@" "$image" "${DS_ARGS[@]}"
}
mapfile -t DS_ARGS < "$work/args"
# The kubelet's pod log directories: <namespace>_<name>_<uid> names the pods.
mkdir -p /var/log/pods/shop_quiet-0_$uid_quiet /var/log/pods/shop_cart-0_$uid_run \
    /var/log/pods/cgwarden_cgwarden-x7k2p_$uid_cgw
logs() { "${P[@]}" logs "$1" 2>&1; }
started() { logs "$1" | has '"kind":"started"'; }
state() { "${P[@]}" inspect -f "$2" "$1"; }
cgroup_of() { echo "/kubepods/${2}pod$3/libpod-$("${P[@]}" inspect -f '{{.Id}}' "$1")"; }

# GET PATH on the container's 127.0.0.1:9464, from inside its network
# namespace (the pod's: what a probe or a scrape reaches): "STATUS BODY".
http_get() {
    nsenter -t "$(state cgw '{{.State.Pid}}')" -n /usr/bin/python3 -c '
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen("http://127.0.0.1:9464" + sys.argv[1], timeout=5)
    print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
' "$1"
}

if [[ $mode == --capabilities ]]; then
    source "$(dirname "$0")/capabilities.sh"
    exit 0
fi

check "a quiet container starts (burstable pod, 128M limit, 16M used)" \
    load quiet /kubepods/burstable/pod$uid_quiet /usr/bin/cgwarden-testload alloc --mib 16 --hold-s 900
t_start() {
    local t=$SECONDS
    cgwarden_ctr cgw >/dev/null || return 1
    until_ok 120 started cgw || { logs cgw; return 1; }
    echo "info: started in $((SECONDS - t)) s"
    # Nothing went wrong at the start: no warning, no problem event, but
    # one: an unprivileged container cannot open /dev/kmsg (the runtime's
    # device cgroup allows only its default devices; a hostPath mount of the
    # node is no grant), so the kernel's OOM kills are events from
    # memory.events.local without the task's name (Docs/kubernetes.md).
    local kmsg='the kernel.s OOM reports will not be read'
    logs cgw | grep -E "$kmsg" | sed 's/^/info: /'
    ! logs cgw | grep -E 'warning|"kind":"problem"' | grep -vE "$kmsg"
}
check "cgwarden's image starts in its container with the DaemonSet's mounts and capabilities" t_start
t_restart() {
    # The pod restarted on the same node: its root, without CAP_DAC_OVERRIDE,
    # meets the state directory as the first start left it (the subdirectories
    # its user's); the store and the recordings (the kill below) must still work.
    "${P[@]}" restart -t 10 cgw >/dev/null || return 1
    twice() { [[ $(logs cgw | grep -c '"kind":"started"') -ge 2 ]]; }
    until_ok 120 twice || { logs cgw; return 1; }
    local kmsg='the kernel.s OOM reports will not be read'
    ! logs cgw | grep -E 'warning|"kind":"problem"' | grep -vE "$kmsg" || return 1
    ls -la /run/state-cgw | sed 's/^/info: /'
    local started; started=$("${P[@]}" exec cgw /usr/bin/cgwarden events --kind started --json | grep -c '"kind"')
    [[ $started == 2 ]] || { echo "started events in the store: $started"; return 1; }
}
check "restarted, it takes up its state directory again (store and recordings)" t_restart
t_healthz() {
    # The readiness probe's request, in the pod's network namespace.
    healthy() { http_get /healthz | has '^200 ok'; }
    until_ok 20 healthy || { http_get /healthz; return 1; }
    echo "info: /healthz: $(http_get /healthz)"
}
check "GET /healthz on the metrics port answers 200 (the DaemonSet's readiness and liveness probes)" t_healthz
own=$(cgroup_of cgw "" $uid_cgw)
t_own() {
    logs cgw | grep -F "own cgroup $own (id" >/dev/null || { echo "expected own cgroup $own in:"; logs cgw | head -n 3; return 1; }
}
check "it finds its own cgroup from inside its cgroup namespace (by its pid)" t_own
t_sees() {
    local out quiet json
    out=$("${P[@]}" exec cgw /usr/bin/cgwarden status /kubepods --depth 3) || return 1
    echo "$out"
    quiet=$(state quiet '{{.Id}}')
    # Pods by namespace/name (the kubelet's log directories through the
    # read-only mount), the quiet container with its 128M limit, and
    # cgwarden's own pod.
    grep -q "pod shop/quiet-0 " <<< "$out" && grep -q "ctr libpod-${quiet:0:5} .*128.0M" <<< "$out" \
        && grep -q "pod cgwarden/cgwarden-x7k2p " <<< "$out" || return 1
    # The same in JSON: the container is a Kubernetes container of its pod.
    json=$("${P[@]}" exec cgw /usr/bin/cgwarden status "/kubepods/burstable/pod$uid_quiet/libpod-$quiet" --json) || return 1
    /usr/bin/python3 -c '
import json, sys
g = [d for d in json.load(sys.stdin)["cgroups"] if d["path"].endswith("/" + sys.argv[1])]
k = (g[0].get("kubernetes") or {}) if g else {}
ok = k.get("level") == "container" and k.get("pod_uid") == sys.argv[2] and k.get("qos") == "burstable" and k.get("pod_name") == "quiet-0"
print("info: status --json: kubernetes " + json.dumps(k, sort_keys=True))
sys.exit(0 if ok else 1)
' "libpod-$quiet" "$uid_quiet" <<< "$json"
}
check "inside, cgwarden status shows the host's pods and containers" t_sees
t_privileges() {
    local pid helper
    pid=$(state cgw '{{.State.Pid}}')
    [[ $(awk '/^Uid:/{print $2}' /proc/$pid/status) == 61000 ]] || { grep -E '^(Uid|Cap)' /proc/$pid/status; return 1; }
    grep -q '^CapEff:[[:space:]]*0000000000000000' /proc/$pid/status || return 1
    [[ $(cat /proc/$pid/oom_score_adj) == -1000 ]] || { echo "oom_score_adj $(cat /proc/$pid/oom_score_adj)"; return 1; }
    grep -E '^VmLck:' /proc/$pid/status | grep -vq ' 0 kB' || { grep VmLck /proc/$pid/status; return 1; }
    # The helper: a root process in the same container, under two filters
    # (the runtime's, then its own).
    for helper in $(cat "$CG$own/cgroup.procs"); do
        [[ $(tr '\0' ' ' < /proc/$helper/cmdline) == *"kill-helper "* && $(tr '\0' ' ' < /proc/$helper/cmdline) != *--launcher* ]] && break
        helper=
    done
    [[ -n $helper ]] || { echo "no helper among $(cat "$CG$own/cgroup.procs")"; return 1; }
    grep -q '^Seccomp_filters:[[:space:]]*2' /proc/$helper/status || { grep Seccomp /proc/$helper/status; return 1; }
    [[ $(awk '/^Uid:/{print $2}' /proc/$helper/status) == 0 ]]
}
check "dropped to cgwarden (uid 61000, no capabilities), oom_score_adj -1000, memory locked; the helper is root under the runtime's filter and its own" t_privileges

check "the runaway starts (burstable pod, 128M limit, allocating 112M)" \
    load runaway /kubepods/burstable/pod$uid_run /usr/bin/cgwarden-testload alloc --mib 112 --step-mib 8 --interval-ms 250 --hold-s 900
run_cg=$(cgroup_of runaway burstable/ $uid_run)
t_kill() {
    until_ok 120 bash -c "[[ \$(${P[*]} inspect -f '{{.State.Running}}' runaway) == false ]]" || { logs cgw | tail -n 5; return 1; }
    local code oom
    code=$(state runaway '{{.State.ExitCode}}'); oom=$(state runaway '{{.State.OOMKilled}}')
    echo "info: runaway: exit code $code, OOMKilled $oom"
    [[ $code == 137 && $oom == false ]] || return 1
    grep -q '^oom_kill 0$' $CG/kubepods/burstable/pod$uid_run/memory.events || { cat $CG/kubepods/burstable/pod$uid_run/memory.events; return 1; }
    until_ok 10 bash -c "${P[*]} logs cgw 2>&1 | grep -F '\"kind\":\"kill\"' | grep -qF '\"cgroup\":\"$run_cg\"'" || { logs cgw | tail -n 5; return 1; }
    logs cgw | grep -F '"kind":"kill"' | grep -F '"method":"cgroup.kill"' | has -F '"guard":"container-at-limit"' || return 1
    # Named by its pod (the kubelet's log directory, read through the mount).
    logs cgw | grep -F '"kind":"kill"' | grep -F '"pod_namespace":"shop"' | has -F '"pod_name":"cart-0"' \
        || { logs cgw | grep -F '"kind":"kill"'; return 1; }
    echo "info: $(logs cgw | grep -F '"kind":"kill"' | sed 's/.*"message":"\([^"]*\)".*/\1/')"
    # Its flight recording, in the hostPath state directory, written by the
    # dropped daemon (recordings/ given to it while root: CAP_CHOWN).
    local rec
    rec=$(logs cgw | grep -F '"kind":"kill"' | sed -n 's/.*"recording":"\([^"]*\)".*/\1/p')
    [[ $rec == /var/lib/cgwarden/recordings/* ]] || { echo "no recording on the kill event"; return 1; }
    until_ok 20 test -s "/run/state-cgw/recordings/${rec##*/}" || { ls -la /run/state-cgw/recordings; return 1; }
    echo "info: recording ${rec##*/}: $(stat -c '%s bytes, owner %u' "/run/state-cgw/recordings/${rec##*/}")"
}
check "the runaway container's cgroup is killed through the helper, named by its pod (exit 137, not OOMKilled, kernel oom_kill 0)" t_kill
t_others() {
    [[ $(state quiet '{{.State.Running}}') == true && $(state cgw '{{.State.Running}}') == true ]] || return 1
    # One kill, of the runaway only.
    [[ $(logs cgw | grep -c '"kind":"kill"') == 1 ]] || { logs cgw | grep '"kind":"kill"'; return 1; }
}
check "the quiet container and cgwarden's own keep running; one kill in all" t_others
t_metrics() {
    local out
    out=$(http_get /metrics)
    [[ $out == "200 "* ]] || { head -c 400 <<< "$out"; return 1; }
    grep -qx 'cgwarden_kills_total{guard="container-at-limit",result="kill"} 1' <<< "$out" \
        || { grep '^cgwarden_kills_total' <<< "$out"; return 1; }
    # The quiet pod's group, labelled with its UID and QoS class.
    grep -E "^cgwarden_cgroup_memory_current_bytes\{cgroup=\"/kubepods/burstable/pod$uid_quiet\",.*pod_uid=\"$uid_quiet\"" <<< "$out" \
        | grep -q 'qos="burstable"' || { grep "^cgwarden_cgroup_memory_current_bytes" <<< "$out" | head; return 1; }
    echo "info: $(grep -c '^cgwarden_' <<< "$out") series; $(grep "^cgwarden_cgroup_memory_current_bytes{cgroup=\"/kubepods/burstable/pod$uid_quiet\"" <<< "$out")"
}
check "GET /metrics: the kill counted by guard and result, the pods' groups labelled by pod UID and QoS" t_metrics
t_refuses_own() {
    local out rc
    out=$("${P[@]}" exec cgw /usr/bin/cgwarden kill "$own" --json 2>&1); rc=$?
    [[ $rc == 3 ]] && grep -q '"reason": *"own_cgroup"' <<< "$out" || { echo "exit $rc: $out"; return 1; }
    out=$("${P[@]}" exec cgw /usr/bin/cgwarden kill "/kubepods/pod$uid_cgw" --json 2>&1); rc=$?
    [[ $rc == 3 ]] && grep -q '"reason": *"ancestor_of_own"' <<< "$out" || { echo "exit $rc: $out"; return 1; }
}
check "its helper refuses its own container and its pod (cgwarden kill, exit 3)" t_refuses_own
t_psi() {
    # The ConfigMap's node_pressure_above guard: its trigger armed on the
    # container's /proc (the host's PID namespace), no "sampled on the timer".
    ! logs cgw | grep -F "no PSI trigger"
}
check "the node PSI trigger is armed (no fallback to the timer)" t_psi
t_memory() {
    local pid hwm current peak
    pid=$(state cgw '{{.State.Pid}}')
    echo "info: daemon: $(grep -E '^(VmRSS|VmHWM|VmLck)' /proc/$pid/status | tr -s ' \t' ' ' | tr '\n' ' ')"
    current=$(cat "$CG$own/memory.current")
    peak=$(cat "$CG$own/memory.peak" 2>/dev/null || echo -)
    echo "info: container: memory.current $((current >> 20)) MiB, memory.peak $((peak >> 20)) MiB (daemon, launcher, helper)"
    hwm=$(awk '/^VmHWM:/{print $2}' /proc/$pid/status)
    ((hwm < 64 * 1024))
}
check "the daemon's peak RSS is under 64 MiB (the DaemonSet's limit is 128Mi)" t_memory
t_stop() {
    local start ms
    start=$(date +%s%N)
    "${P[@]}" stop -t 10 cgw >/dev/null || return 1
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "info: stopped in $ms ms, exit code $(state cgw '{{.State.ExitCode}}')"
    [[ $(state cgw '{{.State.ExitCode}}') == 0 ]] || return 1
    logs cgw | has '"kind":"stopping"' || { echo "no stopping event; the log's last lines:"; logs cgw | tail -n 5 | cut -c1-300; return 1; }
}
check "podman stop (SIGTERM) ends it with status 0" t_stop
echo "$passed passed, $failed failed"
((failed == 0))
