#!/usr/bin/env bash
# Guest side: builds a small realistic hierarchy on the real kernel (tenants
# with loads, one OOM-killed; a Kubernetes pod; a memory-less group), then
# copies the control files cgwarden reads, and /proc figures, into $1.
# Regenerate Tests/Fixtures/node-6.1 with:
#   scripts/vm/run-in-cgroup2-vm -w "$PWD/Tests/Fixtures" -- \
#     env CGWARDEN_BIN="$(swift build --show-bin-path)" scripts/vm/capture-fixture.sh "$PWD/Tests/Fixtures/node-6.1"
set -euo pipefail
CG=/sys/fs/cgroup
[[ "$(stat -fc %T $CG)" == cgroup2fs && ${IN_CGROUP2_VM:-} == 1 ]] || { echo "not in the cgroup2 VM" >&2; exit 2; }
out=${1:?output directory}
load() { "$CGWARDEN_BIN/cgwarden-testload" "$@" >/dev/null 2>&1 & disown; }

mkdir -p $CG/tenants.slice/a.slice $CG/tenants.slice/b.slice $CG/plain
echo "+memory +pids" > $CG/tenants.slice/cgroup.subtree_control
echo 128M > $CG/tenants.slice/a.slice/memory.max
echo 32M > $CG/tenants.slice/b.slice/memory.max
echo 24M > $CG/tenants.slice/b.slice/memory.high
echo 0 > $CG/tenants.slice/b.slice/memory.swap.max
echo 16M > $CG/tenants.slice/a.slice/memory.low
load alloc --cgroup $CG/tenants.slice/a.slice --mib 40 --hold-s 600
load alloc --cgroup $CG/tenants.slice/b.slice --mib 100 --step-mib 2 --hold-s 600
pod=$CG/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8a9b_0c1d2e3f4a5b.slice
mkdir -p $pod/cri-containerd-3b9a0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b.scope
for d in $CG/kubepods.slice $CG/kubepods.slice/kubepods-burstable.slice $pod; do echo "+memory +pids" > $d/cgroup.subtree_control; done
load alloc --cgroup $pod/cri-containerd-3b9a0c4d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b.scope --mib 8 --hold-s 600
for _ in $(seq 200); do grep -q "oom_kill [1-9]" $CG/tenants.slice/b.slice/memory.events && break; sleep 0.1; done
sleep 1

rm -rf "$out"; mkdir -p "$out/cgroup" "$out/proc/pressure"
files="cgroup.controllers cgroup.subtree_control cgroup.procs cgroup.events cgroup.stat memory.current memory.max memory.high memory.low memory.min memory.peak memory.swap.current memory.swap.max memory.events memory.events.local memory.pressure memory.stat"
cd $CG
find . -type d | while read -r d; do
    mkdir -p "$out/cgroup/$d"
    for f in $files; do [[ -r $d/$f ]] && cat "$d/$f" > "$out/cgroup/$d/$f" 2>/dev/null || true; done
done
cp /proc/meminfo /proc/vmstat "$out/proc/"
cp /proc/pressure/memory "$out/proc/pressure/memory"
for pid in $(cat $CG/tenants.slice/*/cgroup.procs); do
    mkdir -p "$out/proc/$pid"
    for f in comm statm oom_score oom_score_adj; do cat /proc/$pid/$f > "$out/proc/$pid/$f"; done
done
echo "captured $(find "$out/cgroup" -type d | wc -l) groups into $out"
