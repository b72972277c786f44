# The resident pages of a binary's file mappings in a live process, from
# /proc/PID/pagemap (root): shared by resident-by-module.py and hot-text.py.
import struct

PAGE = 4096


def file_mappings(pid, binary):
    """(start, end, file offset, permissions) of each mapping of `binary` in process `pid`."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            p = line.split()
            if len(p) >= 6 and p[5] == binary:
                lo, hi = (int(x, 16) for x in p[0].split("-"))
                out.append((lo, hi, int(p[2], 16), p[1]))
    return out


def resident(pid, mappings):
    """(file offset, permissions) of each page of `mappings` present in memory."""
    with open(f"/proc/{pid}/pagemap", "rb") as pm:
        for lo, hi, offset, perms in mappings:
            pm.seek(lo // PAGE * 8)
            entries = pm.read((hi - lo) // PAGE * 8)
            for i in range(len(entries) // 8):
                (e,) = struct.unpack_from("<Q", entries, i * 8)
                if e >> 63 & 1:
                    yield offset + i * PAGE, perms
