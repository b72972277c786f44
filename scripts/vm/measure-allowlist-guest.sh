#!/usr/bin/env bash
# Runs in the cgroup v2 VM (scripts/measure-allowlist starts it): drives the
# kill helper through every kind of request under strace -f and prints, per
# helper process, the system calls it made after its seccomp filter was
# installed. Anything here must be in HelperAllowList; anything there but
# never here must have a reason that says when it is needed.
set -euo pipefail
[[ ${IN_CGROUP2_VM:-} == 1 ]] || { echo "runs only in the cgroup v2 VM" >&2; exit 2; }
bin=$1
cg=/sys/fs/cgroup/cgw-measure
trace=$(mktemp)
mkdir -p $cg/sleepers $cg/forkers $cg/tree/a/b
echo "+pids +memory" > $cg/cgroup.subtree_control
echo 200 > $cg/forkers/pids.max
python3 -c "import os; os.setxattr('$cg/tree', 'user.oomd_avoid', b'1'); os.setxattr('$cg/tree', 'trusted.oomd_prefer', b'1')"
"$bin/cgwarden-testload" spawn --cgroup $cg/sleepers --count 20 --hold-s 300 >/dev/null &
"$bin/cgwarden-testload" forkloop --cgroup $cg/forkers --hold-s 300 >/dev/null &
"$bin/cgwarden-testload" sleep --cgroup $cg/tree/a/b --hold-s 300 >/dev/null &
sleep 5
run() { strace -f -qq -o "$trace.$1" "$bin/cgwarden" "${@:2}" >/dev/null 2>&1 || true; }
run check kill /cgw-measure/tree --dry-run
run kill kill /cgw-measure/sleepers
run fallback kill /cgw-measure/forkers --fallback
run refused kill /
run protected kill /cgw-measure/tree --protect '/cgw-measure/tree/a/*'
python3 - "$trace" <<'PY'
import collections, glob, re, sys
total = collections.Counter()
for path in sorted(glob.glob(sys.argv[1] + ".*")):
    lines = open(path).read().splitlines()
    filtered = set()
    counts = collections.Counter()
    for l in lines:
        m = re.match(r'(\d+)\s+(?:<\.\.\. )?(\w+)', l)
        if not m:
            continue
        pid, call = m.group(1), m.group(2)
        if re.match(r'\d+\s+seccomp\(SECCOMP_SET_MODE_FILTER, .*= 0$', l):
            filtered.add(pid)
            continue
        if pid in filtered and 'resumed>' not in l and not l.split(None, 1)[1].startswith(('+++', '---')):
            counts[call] += 1
        if pid in filtered and ('+++ killed' in l):
            counts['KILLED: ' + l.split('+++')[1].strip()] += 1
    name = path.rsplit('.', 1)[1]
    print(f"{name}: " + ", ".join(f"{c} {n}" for c, n in sorted(counts.items(), key=lambda kv: -kv[1])))
    total.update(counts)
print("all requests:", " ".join(sorted(total)))
PY
kill %1 %2 %3 2>/dev/null || true
wait 2>/dev/null || true
