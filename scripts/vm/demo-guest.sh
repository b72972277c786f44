#!/usr/bin/env bash
# Guest side of scripts/demo: runs inside the cgroup v2 VM only.
set -euo pipefail
CG=/sys/fs/cgroup
if [[ "$(stat -fc %T $CG)" != cgroup2fs || ${IN_CGROUP2_VM:-} != 1 ]]; then
    echo "demo-guest: not inside the cgroup v2 VM ($CG is $(stat -fc %T $CG)); refusing" >&2
    exit 2
fi
bin=${CGWARDEN_BIN:?}
cgw() { echo "\$ cgwarden $*"; "$bin/cgwarden" "$@"; }
load() { "$bin/cgwarden-testload" "$@" >/dev/null 2>&1 & disown; }

echo "kernel $(uname -r); creating /tenants.slice with three tenants:"
mkdir -p $CG/tenants.slice
echo "+memory +pids" > $CG/tenants.slice/cgroup.subtree_control
for t in alpha beta gamma; do mkdir -p $CG/tenants.slice/$t.slice; done
echo "  alpha.slice: memory.max 256M, uses 96 MiB"
echo 256M > $CG/tenants.slice/alpha.slice/memory.max
load alloc --cgroup $CG/tenants.slice/alpha.slice --mib 96 --hold-s 600
echo "  beta.slice:  memory.high 48M, memory.max 128M, no swap, wants 64 MiB (throttled at high)"
echo 48M > $CG/tenants.slice/beta.slice/memory.high
echo 128M > $CG/tenants.slice/beta.slice/memory.max
echo 0 > $CG/tenants.slice/beta.slice/memory.swap.max
load alloc --cgroup $CG/tenants.slice/beta.slice --mib 64 --step-mib 2 --hold-s 600
echo "  gamma.slice: memory.max 64M, no swap, wants 512 MiB (the kernel OOM-kills it)"
echo 64M > $CG/tenants.slice/gamma.slice/memory.max
echo 0 > $CG/tenants.slice/gamma.slice/memory.swap.max
load alloc --cgroup $CG/tenants.slice/gamma.slice --mib 512 --step-mib 4 --hold-s 600
# A Kubernetes-shaped pod slice (systemd driver), so that its identity shows.
pod=$CG/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice
mkdir -p $pod
echo "+memory +pids" > $CG/kubepods.slice/cgroup.subtree_control
echo "+memory +pids" > $CG/kubepods.slice/kubepods-burstable.slice/cgroup.subtree_control
echo "+memory +pids" > $pod/cgroup.subtree_control
mkdir -p $pod/cri-containerd-3b9a0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b.scope
echo 200M > $pod/memory.max
load alloc --cgroup $pod/cri-containerd-3b9a0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b.scope --mib 40 --hold-s 600

# Let the loads reach their sizes (gamma's death, beta's throttling).
for _ in $(seq 150); do
    grep -q "oom_kill [1-9]" $CG/tenants.slice/gamma.slice/memory.events \
      && [[ $(awk '$1=="high"{print $2}' $CG/tenants.slice/beta.slice/memory.events) -gt 0 ]] && break
    sleep 0.2
done
sleep 1
echo
cgw status
echo
cgw status /tenants.slice --sort oom --procs
echo
echo "\$ cgwarden status /tenants.slice/gamma.slice --json"
"$bin/cgwarden" status /tenants.slice/gamma.slice --json

# Decide: a policy for the tenants. beta is throttled at its memory.high with
# memory it cannot reclaim; the guard fires once that has held for 2 s.
cat > /run/demo.toml <<'TOML'
protect = ["/tenants.slice/alpha.slice"]
[[guard]]
name = "tenants"
match = "/tenants.slice/*"
candidates = "self"
[[guard.trigger]]
usage_of_limit = "95%"
limit = "high"
count = "unreclaimable"
for = "2s"
[[guard.trigger]]
oom_kill = true
TOML
echo
echo "\$ cat /run/demo.toml"; cat /run/demo.toml
echo
cgw check-config /run/demo.toml
echo
cgw explain --config /run/demo.toml --samples 4 --every 1s
victim=$("$bin/cgwarden" explain --config /run/demo.toml --samples 3 --every 1s --json \
         | sed -n 's/.*"path": "\([^"]*\)",$/\1/p' | head -n 1)

# Act: the operator's kill through the seccomp-confined helper, dry run first.
echo
cgw kill "$victim" --dry-run --config /run/demo.toml
cgw kill "$victim" --config /run/demo.toml
echo
cgw kill /tenants.slice/alpha.slice --config /run/demo.toml || echo "(exit status $?: refused, alpha.slice is protected)"
echo
cgw status /tenants.slice

# Guard: the daemon on its own. A new tenant runs away toward its limit;
# cgwarden run empties it before the kernel's OOM killer acts inside it.
echo
echo "== the guard: cgwarden run"
mkdir -p $CG/tenants.slice/delta.slice
echo 128M > $CG/tenants.slice/delta.slice/memory.max
echo 0 > $CG/tenants.slice/delta.slice/memory.swap.max
cat > /run/guard.toml <<'TOML'
protect = ["/tenants.slice/alpha.slice"]
[daemon]
interval = "1s"
[[guard]]
name = "runaway"
match = "/tenants.slice/*"
post_action_delay = "10s"
[[guard.trigger]]
usage_of_limit = "85%"
TOML
echo "\$ cat /run/guard.toml"; cat /run/guard.toml
echo "\$ cgwarden run --config /run/guard.toml &"
"$bin/cgwarden" run --config /run/guard.toml > /run/guard.log 2>&1 &
guard=$!
sleep 3
echo "  delta.slice: memory.max 128M, no swap, ramps to 120 MiB in 8 MiB steps every 150 ms"
load alloc --cgroup $CG/tenants.slice/delta.slice --mib 120 --step-mib 8 --interval-ms 150 --hold-s 600
for _ in $(seq 100); do grep -q "killed /tenants.slice/delta.slice" /run/guard.log && break; sleep 0.2; done
sleep 1
kill -TERM $guard; wait $guard || true
echo "what cgwarden reported:"
sed 's/^/  /' /run/guard.log
echo "delta.slice after: $(tr '\n' ' ' < $CG/tenants.slice/delta.slice/cgroup.events)"
echo "delta.slice memory.events: $(grep -E '^(max|oom|oom_kill) ' $CG/tenants.slice/delta.slice/memory.events | tr '\n' ' ')(the kernel never OOM-killed inside it)"
echo "the others still run: alpha.slice $(wc -l < $CG/tenants.slice/alpha.slice/cgroup.procs) process(es), the pod's container $(wc -l < $pod/cri-containerd-3b9a0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b.scope/cgroup.procs)"
