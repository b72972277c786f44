# shellcheck shell=bash
# Sourced by podman-in-vm.sh --capabilities, in the VM: what cgwarden's
# container can and cannot do with each capability set. For each variant:
# does the daemon start (and with which warnings or problems), its uid,
# oom_score_adj and locked memory; then, through `cgwarden kill` in a
# container of the same variant: a cgroup.kill, the freeze+SIGKILL fallback
# (processes of uid 1000), a dry run that reads trusted.* attributes, and a
# kill in a subtree delegated to uid 1000 (its files chowned, as systemd and
# runc do for delegation). One line per variant; Docs/kubernetes.md has the table.

VICTIMS=$CG/victims
dargs=() pidns=(--pid host)
mkdir -p $VICTIMS
echo "+memory +pids" > $VICTIMS/cgroup.subtree_control
n=0
# A fresh group with one sleeping process of uid 1000; its path below the
# root in $v (not a subshell: the count must go on).
victim() {
    n=$((n + 1))
    local d=$VICTIMS/v$n
    mkdir -p $d
    setsid bash -c "echo \$\$ > $d/cgroup.procs && exec setpriv --reuid 1000 --regid 1000 --clear-groups sleep 900" \
        </dev/null >/dev/null 2>&1 &
    disown
    until_ok 10 grep -q . $d/cgroup.procs
    v=${d#$CG}
}
# The kill command in a one-off container of the current variant: its JSON.
kill_in() {
    "${P[@]}" run --rm --network none "${pidns[@]}" --cap-drop all "${caps[@]}" --security-opt no-new-privileges \
        --read-only --read-only-tmpfs=false "${extra[@]}" -v $CG:$CG:rw --entrypoint /usr/bin/cgwarden "$image" \
        kill "$@" --json 2>&1
}
field() { /usr/bin/python3 -c '
import json, sys
t = sys.stdin.read()
try:
    d = json.loads(t[t.index("{"):])
except Exception:
    print(t.strip().splitlines()[-1] if t.strip() else "?"); sys.exit()
k = d.get("kill") or {}
if d["outcome"] in ("killed", "incomplete"):
    print(d["outcome"], k.get("method"), "released", k.get("released"), "remaining", k.get("remaining"))
elif d["outcome"] == "would_kill":
    print("would_kill xattrs", json.dumps((d.get("check") or {}).get("xattrs")))
elif d.get("refusal"):
    print("refused", d["refusal"]["reason"])
else:
    print(d["outcome"], (d.get("failure") or {}).get("message"))
'; }

variant() {
    local label=$1; shift
    caps=() extra=()
    local c name=cap$((++n))
    for c in "$@"; do
        case $c in
            -*) extra+=("$c") ;;
            *) caps+=(--cap-add "CAP_$c") ;;
        esac
    done
    echo "== $label: ${caps[*]:-no capabilities} ${extra[*]}"
    mkdir -p /run/state-$name
    "${P[@]}" run -d --name $name --network none "${pidns[@]}" --cgroup-parent /kubepods/pod$uid_cgw --memory 128m \
        --cap-drop all "${caps[@]}" --security-opt no-new-privileges --read-only --read-only-tmpfs=false "${extra[@]}" \
        -v $CG:$CG:rw -v /dev/kmsg:/dev/kmsg:ro -v /var/log/pods:/var/log/pods:ro -v /run/state-$name:/var/lib/cgwarden:rw \
        -v "$work/etc":/etc/cgwarden:ro "$image" "${DS_ARGS[@]}" "${dargs[@]}" >/dev/null
    until_ok 120 bash -c "${P[*]} logs $name 2>&1 | grep -q '\"kind\":\"started\"' || [[ \$(${P[*]} inspect -f '{{.State.Running}}' $name) == false ]]"
    if logs $name | has '"kind":"started"'; then
        local pid; pid=$(state $name '{{.State.Pid}}')
        echo "  daemon: started; uid $(awk '/^Uid:/{print $2}' /proc/$pid/status), oom_score_adj $(cat /proc/$pid/oom_score_adj), $(grep VmLck /proc/$pid/status | tr -s ' \t' ' ')"
    elif [[ $(state $name '{{.State.Running}}') == true ]]; then
        echo "  daemon: running, no started event after 120 s"
    else
        echo "  daemon: did not start (exit $(state $name '{{.State.ExitCode}}'))"
    fi
    logs $name | grep -vF '"kind":"started"' | grep -E 'warning|error|cannot|problem|denied|not permitted' \
        | sed 's/.*"message":"\([^"]*\)".*/\1/; s/^/  log: /' | head -n 6
    "${P[@]}" rm -f $name >/dev/null 2>&1
    victim; echo "  cgroup.kill (uid 1000 process): $(kill_in "$v" | field)"
    victim; echo "  fallback freeze+SIGKILL (uid 1000 process): $(kill_in "$v" --fallback | field)"
    victim; /usr/bin/python3 -c "import os; os.setxattr('$CG$v', 'trusted.oomd_prefer', b'1')"
    echo "  dry run, trusted.oomd_prefer=1 set: $(kill_in "$v" --dry-run | field)"
    victim; chown -R 1000:1000 "$CG$v"
    echo "  cgroup.kill in a subtree delegated to uid 1000: $(kill_in "$v" | field)"
}

# /dev/kmsg from an unprivileged container: a read-only bind mount of the
# device node (what a hostPath volume is), then with CAP_SYSLOG, then with
# the device granted (--device: what only a privileged pod gets).
kmsg() {
    local label=$1; shift
    echo "== /dev/kmsg, $label: $("${P[@]}" run --rm --network none --cap-drop all "$@" --rootfs "$work/load" \
        /usr/bin/busybox head -c 60 /dev/kmsg 2>&1 | head -n 1)"
}

selected() { [[ -z ${CGWARDEN_CAP_VARIANTS:-} || " $CGWARDEN_CAP_VARIANTS " == *" $1 "* ]]; }
selected base && variant "the DaemonSet's set" "${CAPS[@]}"
for drop in "${CAPS[@]}"; do
    rest=()
    for c in "${CAPS[@]}"; do [[ $c == "$drop" ]] || rest+=("$c"); done
    selected "no-$drop" && variant "without $drop" "${rest[@]}"
done
selected ipc && variant "with IPC_LOCK" "${CAPS[@]}" IPC_LOCK
selected admin && variant "with SYS_ADMIN" "${CAPS[@]}" SYS_ADMIN
selected dac && variant "with DAC_OVERRIDE" "${CAPS[@]}" DAC_OVERRIDE
selected unconfined && variant "seccomp unconfined" "${CAPS[@]}" --security-opt=seccomp=unconfined
# /proc: the host's, bind-mounted read-only at /host/proc (--proc /host/proc),
# instead of the container's own /proc in the host's PID namespace.
if selected hostproc; then
    dargs=(--proc /host/proc)
    variant "host /proc read-only at /host/proc" "${CAPS[@]}" -v=/proc:/host/proc:ro
    dargs=()
fi
if selected nopid; then
    pidns=()
    variant "no hostPID (a PID namespace of its own)" "${CAPS[@]}"
    pidns=(--pid host)
fi
selected default && variant "podman's default set (no --cap-drop)" CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT
if selected kmsg; then
    kmsg "bind mount, no capabilities" -v /dev/kmsg:/dev/kmsg:ro
    kmsg "bind mount, CAP_SYSLOG" -v /dev/kmsg:/dev/kmsg:ro --cap-add CAP_SYSLOG
    kmsg "--device, no capabilities" --device /dev/kmsg:/dev/kmsg:r
    kmsg "--device, CAP_SYSLOG" --device /dev/kmsg:/dev/kmsg:r --cap-add CAP_SYSLOG
fi
