#!/usr/bin/env python3
# The code the daemon runs, for the release link's symbol order
# (Configs/link/hot-text.order; Docs/performance.md, "Bringing it down").
#
#   hot-text.py pages PID BINARY
#       (root, in the VM) the resident pages of BINARY's code in process PID
#       (/proc/PID/pagemap), one ELF virtual address per line. Taken with
#       the kernel's fault-around off (fault_around_bytes = 4096, as
#       scripts/vm/daemon-rss-guest.sh --profile sets it), a resident page is
#       a page the process ran code in since the daemon dropped the pages of
#       its start.
#   hot-text.py order MAP PAGES [MAP PAGES ...] [--shuffle]
#       the hot input sections (those that overlap a resident page) of each
#       profile, each profile's link map (lld -Map, --no-demangle) beside its
#       pages; with two or more profiles of different layouts, a section is
#       hot if it is hot in every profile in which it shared a page with
#       other hot candidates, i.e. a section that only sat beside hot code
#       in one layout drops out. Prints one symbol per hot section, for
#       lld's --symbol-ordering-file: the order of the first profile's
#       layout, or (--shuffle) an order by a hash of the name, to link the
#       next profile's binary with the candidates' neighbours changed.
#
# A page is 4 KiB; the kernel maps up to 16 neighbouring pages of the page
# cache at each fault (fault_around_bytes, 64 KiB by default): the hot
# sections laid out together are what those 64 KiB windows then hold.
import re, subprocess, sys

import pagemap

PAGE = pagemap.PAGE
MAP_LINE = re.compile(r"^\s*([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+(\d+)( +)(.*?)\s*$")


def loads(binary):
    """PT_LOAD segments: (offset, vaddr, filesz, flags)."""
    out = []
    for line in subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        p = line.split()
        if p and p[0] == "LOAD":
            flags = "".join(p[7:-1])
            out.append((int(p[1], 16), int(p[2], 16), int(p[4], 16), flags))
    return out


def pages(pid, binary):
    segments = [s for s in loads(binary) if "E" in s[3]]
    code = [m for m in pagemap.file_mappings(pid, binary) if "x" in m[3]]
    for off, _ in pagemap.resident(pid, code):
        for s_off, s_vaddr, s_size, _ in segments:
            if s_off // PAGE * PAGE <= off < s_off + s_size:
                print(f"{off - s_off + s_vaddr:#x}")
                break


def text_sections(map_path):
    """The input sections of .text in an lld map: [(vaddr, size, name, [symbols])]."""
    sections, inside = [], False
    with open(map_path) as f:
        next(f)
        for line in f:
            # VMA LMA Size Align, then the name, indented by what it is: an
            # output section (1 space), an input section (9), a symbol (17).
            m = MAP_LINE.match(line)
            if not m:
                continue
            p = m.groups()
            depth, name = len(p[4]), p[5]
            if depth <= 1:
                inside = name == ".text"
            elif not inside:
                continue
            elif depth <= 9:
                sections.append((int(p[0], 16), int(p[2], 16), name, []))
            elif sections:
                sections[-1][3].append(name)
    return sections


def is_hot(vaddr, size, touched):
    """Code ran in the section: a resident page it covers whole, or, if it
    covers none whole, a resident page it is on. (A big section whose only
    resident page is the one it shares with its neighbour did not run.)"""
    if size == 0:
        return False
    first, last = vaddr // PAGE, (vaddr + size - 1) // PAGE
    whole = range((vaddr + PAGE - 1) // PAGE, (vaddr + size) // PAGE)
    if len(whole):
        return any(p in touched for p in whole)
    return any(p in touched for p in range(first, last + 1))


def order(args):
    if len(args) < 2 or len(args) % 2:
        sys.exit("order: MAP PAGES pairs")
    # A section is known by its first symbol (the names of objects differ
    # between links); hot if hot in any profile.
    names, size = [], {}
    for m, p in zip(args[0::2], args[1::2]):
        with open(p) as f:
            touched = {int(l, 16) // PAGE for l in f if l.strip()}
        for vaddr, length, _, symbols in text_sections(m):
            if symbols and symbols[0] not in size and is_hot(vaddr, length, touched):
                names.append(symbols[0])
                size[symbols[0]] = length
    # A section of more than 64 KiB (libswiftCore's internal functions are
    # one .text of 1.6 MB) comes last: resident by its own windows wherever
    # it is, it would split the rest.
    names.sort(key=lambda n: size[n] > 64 << 10)
    small = sum(size[n] for n in names if size[n] <= 64 << 10)
    print(f"hot-text: {len(names)} sections, {small / 1024:.0f} KiB and {len(names) - sum(size[n] <= 64 << 10 for n in names)}"
          f" of more than 64 KiB ({sum(size[n] for n in names) / 1024 - small / 1024:.0f} KiB)", file=sys.stderr)
    for n in names:
        print(n)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "pages":
        pages(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) >= 4 and sys.argv[1] == "order":
        order(sys.argv[2:])
    else:
        sys.exit("usage: hot-text.py pages PID BINARY | order MAP PAGES [MAP PAGES ...] [--shuffle]")
