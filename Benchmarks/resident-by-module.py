#!/usr/bin/env python3
# Where a running process's resident pages of one ELF file (the static
# cgwarden) come from: each resident page (/proc/PID/pagemap, root) is mapped
# back to its section and, inside code and data, to the symbol that covers it,
# counted per Swift module (from the mangled name), the Swift runtime and
# "C and other". A page shared by two symbols counts for the first.
#   resident-by-module.py PID BINARY
# Run by `cgwarden-bench daemon-idle` in the VM (it needs the process's
# pagemap); prints Markdown rows.
import bisect, os, re, subprocess, sys

import pagemap

pid, binary = int(sys.argv[1]), os.path.realpath(sys.argv[2])
PAGE = pagemap.PAGE

sections = []  # (file offset, size, addr, name)
for line in subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
    if m and int(m.group(2), 16) and int(m.group(4), 16):
        sections.append((int(m.group(3), 16), int(m.group(4), 16), int(m.group(2), 16), m.group(1)))
sections.sort()

symbols = []  # (addr, module), sorted
def module(name):
    m = re.match(r"\$s(\d+)", name)
    if m:
        n = int(m.group(1))
        return name[2 + len(m.group(1)):2 + len(m.group(1)) + n]
    if name.startswith("$ss") or name.startswith("$sS"):
        return "Swift"
    if name.startswith("swift_") or name.startswith("_swift_") or name.startswith("_ZN5swift"):
        return "Swift runtime"
    return "C and other"
for line in subprocess.run(["nm", "-n", "--defined-only", binary], capture_output=True, text=True, check=True).stdout.splitlines():
    parts = line.split()
    if len(parts) == 3:
        symbols.append((int(parts[0], 16), module(parts[2])))
addrs = [a for a, _ in symbols]

by_section, by_module, total = {}, {}, 0
for off, perms in pagemap.resident(pid, pagemap.file_mappings(pid, binary)):
    total += 4
    j = bisect.bisect_right([s[0] for s in sections], off) - 1
    name = "?"
    if j >= 0 and off < sections[j][0] + sections[j][1]:
        fo, size, addr, name = sections[j]
        vaddr = addr + (off - fo)
        if name in (".text", ".rodata", ".data", ".data.rel.ro") or name.startswith("swift5_"):
            k = bisect.bisect_right(addrs, vaddr) - 1
            mod = symbols[k][1] if k >= 0 else "?"
            by_module[mod] = by_module.get(mod, 0) + 4
    key = f"{name} ({perms})"
    by_section[key] = by_section.get(key, 0) + 4

print(f"# {binary}: {total} KiB resident in its file mappings")
print("# by section, KiB: " + ", ".join(f"{k} {v}" for k, v in sorted(by_section.items(), key=lambda x: -x[1]) if v >= 16))
print("# code and data by module (the symbol at each resident page's start), KiB: "
      + ", ".join(f"{k} {v}" for k, v in sorted(by_module.items(), key=lambda x: -x[1]) if v >= 16))
