#!/usr/bin/python3
"""The tables of Docs/comparison.md from the raw figures scripts/compare left.

    compare-tables.py DIR [--runs]

DIR holds session.txt and runs/r<round>-s<scenario>-<guard>/ (written by
scripts/vm/compare-guest.sh in the VM).  Prints one Markdown table per
scenario, one row per guard, with the ranges over the rounds; --runs adds a
table of every run.  Runs on the host: it only reads files.
"""
import os
import re
import sys
from collections import defaultdict

GUARD_ORDER = ["none", "earlyoom", "oomd", "oomd-tuned", "cgwarden"]
GUARD_NAMES = {
    "none": "kernel alone",
    "earlyoom": "earlyoom 1.7",
    "oomd": "systemd-oomd 252 (Debian defaults)",
    "oomd-tuned": "systemd-oomd 252 (tuned)",
    "cgwarden": "cgwarden",
}
SCENARIO_NAMES = {
    "1": "Scenario 1: tenant slices with their own memory.max",
    "2": "Scenario 2: node pressure, no per-group limits",
    "3": "Scenario 3: Kubernetes-shaped node under pressure",
}


def keyvalues(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if "=" in line:
                    k, v = line.split("=", 1)
                    out[k] = v
    except FileNotFoundError:
        pass
    return out


def rows(path):
    try:
        with open(path) as f:
            return [line.rstrip("\n").split("\t") for line in f if line.strip()]
    except FileNotFoundError:
        return []


def label(cgroup):
    """A short name for a load's group: a/app, b, BestEffort, ..."""
    leaf = cgroup.rsplit("/", 1)[-1]
    m = re.match(r"tenant-([a-z])-(\w+)\.service$", leaf)
    if m:
        return m.group(1) + "/" + m.group(2) if m.group(1) == "a" and "tenants-a" in cgroup else m.group(1)
    if "besteffort" in cgroup:
        return "BestEffort pod"
    if "burstable" in cgroup:
        return "Burstable pod"
    if "kubepods" in cgroup:
        return "Guaranteed pod"
    return leaf


def group_of(cgroup):
    """The group a load belongs to (its slice): the tenant or the pod."""
    return cgroup.rsplit("/", 1)[0]


def group_label(slice_path):
    leaf = slice_path.rsplit("/", 1)[-1]
    m = re.match(r"tenants-([a-z])\.slice$", leaf)
    if m:
        return "tenant " + m.group(1)
    return label(slice_path + "/x")


class Run:
    def __init__(self, path):
        self.path = path
        self.meta = keyvalues(os.path.join(path, "meta.txt"))
        self.scenario = self.meta.get("scenario")
        self.guard = self.meta.get("guard")
        self.round = int(self.meta.get("round", "0"))
        self.error = self.meta.get("error")
        self.units = {}
        for r in rows(os.path.join(path, "units.tsv")):
            self.units[r[0]] = dict(kv.split("=", 1) for kv in r[1:] if "=" in kv)
        self.unit_cgroup = {}
        self.procs = defaultdict(dict)
        for tag, unit, cg, n in rows(os.path.join(path, "unit-procs.tsv")):
            self.unit_cgroup[unit] = cg
            self.procs[unit][tag] = int(n)
        # The runaway was running when "before" was taken (it had stepped);
        # a count of 0 then is a read that raced its start.
        runaway = self.meta.get("runaway", "")
        if runaway in self.procs and self.procs[runaway].get("before", 0) == 0:
            self.procs[runaway]["before"] = 1
        self.slices = defaultdict(dict)
        self.slice_procs = defaultdict(dict)
        for r in rows(os.path.join(path, "slices.tsv")):
            tag, sl, oom, cur, n = (r + [""] * 5)[:5]
            self.slices[sl][tag] = int(oom or 0)
            self.slice_procs[sl][tag] = int(n or 0)
        self.trace = []
        for r in rows(os.path.join(path, "trace")):
            f = r[0].split()
            if len(f) == 4:
                self.trace.append(tuple(int(x) for x in f))
        self.guard_procs = []
        for r in rows(os.path.join(path, "guard-procs.tsv")):
            if len(r) >= 6:
                self.guard_procs.append({"pid": r[0], "name": r[1], "hwm": int(r[2] or 0), "rss": int(r[3] or 0),
                                         "pss": int(r[4] or 0), "ticks": int(r[5] or 0)})
        try:
            with open(os.path.join(path, "journal.txt"), errors="replace") as f:
                self.journal = f.read().splitlines()
        except FileNotFoundError:
            self.journal = []
        self.runaway = self.meta.get("runaway", "")
        self.runaway_cg = self.unit_cgroup.get(self.runaway, "")
        self.runaway_group = group_of(self.runaway_cg) if self.runaway_cg else ""
        self.kills = self.parse_kills()

    # -- who did what, from the journal ----------------------------------------
    def parse_kills(self):
        """(monotonic s, killer, what) for every kill the journal shows."""
        kills = []
        memcg = None
        for line in self.journal:
            m = re.match(r"\[\s*([0-9.]+)\] \S+ (\S+?)(?:\[\d+\])?: (.*)$", line)
            if not m:
                continue
            t, who, msg = float(m.group(1)), m.group(2), m.group(3)
            if who == "kernel":
                c = re.search(r"oom-kill:constraint=(\w+),.*task_memcg=(\S+?),task=", msg)
                if c:
                    memcg = (c.group(1), c.group(2))
                k = re.search(r"Killed process (\d+) \(([^)]*)\)", msg)
                if k:
                    kills.append((t, "kernel", {"pid": k.group(1), "constraint": memcg[0] if memcg else "?",
                                                "cgroup": memcg[1].lstrip("/") if memcg else ""}))
                    memcg = None
            elif who == "earlyoom":
                k = re.search(r"sending (SIG\w+) to process (\d+)", msg)
                if k:
                    kills.append((t, "earlyoom", {"pid": k.group(2), "signal": k.group(1)}))
            elif who == "systemd-oomd":
                k = re.search(r"Killed (\S+) due to (.*)", msg)
                if k:
                    kills.append((t, "systemd-oomd", {"cgroup": k.group(1).lstrip("/"), "reason": k.group(2)}))
            elif who == "cgwarden":
                k = re.search(r"guard '([^']*)': killed (\S+) in", msg)
                if k:
                    kills.append((t, "cgwarden", {"cgroup": k.group(2).lstrip("/"), "guard": k.group(1)}))
        return kills

    def pid_cgroup(self, pid):
        for unit, props in self.units.items():
            if props.get("ExecMainPID") == pid:
                return self.unit_cgroup.get(unit, "")
        return ""

    def kill_target(self, kill):
        _, who, d = kill
        if "cgroup" in d and d["cgroup"]:
            return d["cgroup"]
        return self.pid_cgroup(d.get("pid", ""))

    def runaway_kill(self):
        """The kill that ended the runaway: the first whose target holds it."""
        if not self.runaway_cg:
            return None
        pid = self.units.get(self.runaway, {}).get("ExecMainPID")
        for kill in self.kills:
            _, who, d = kill
            if d.get("pid") == pid or (d.get("cgroup") and (self.runaway_cg + "/").startswith(d["cgroup"] + "/")):
                return kill
        return None

    def runaway_killer(self):
        kill = self.runaway_kill()
        return kill[1] if kill else None

    def ended_by(self):
        """'cgwarden: group tenant a', 'kernel: process (memcg OOM)', ..."""
        kill = self.runaway_kill()
        if kill is None:
            return "nobody: alive at the end" if self.runaway_status == "alive" else "? (%s)" % self.runaway_status
        _, who, d = kill
        if d.get("cgroup") and who != "kernel":
            return "%s: group %s" % (who, group_label(d["cgroup"]) if d["cgroup"].endswith(".slice") else label(d["cgroup"]))
        if who == "kernel":
            kind = {"CONSTRAINT_MEMCG": "memcg OOM", "CONSTRAINT_NONE": "global OOM"}.get(d.get("constraint"), d.get("constraint"))
            return "kernel: process (%s)" % kind
        return "%s: process (%s)" % (who, d.get("signal", "?"))

    def group_kill(self):
        """The runaway ended by a guard's kill of a whole group (not a process)."""
        kill = self.runaway_kill()
        return bool(kill and kill[1] != "kernel" and kill[2].get("cgroup"))

    def guard_kills(self):
        """Kills by the guard itself (not the kernel's)."""
        return [k for k in self.kills if k[1] not in ("kernel",)]

    # -- figures ----------------------------------------------------------------------
    @property
    def threshold_step(self):
        kind = self.meta.get("threshold_kind")
        limit = int(self.meta.get("threshold_bytes", "0"))
        for ns, mib, current, avail in self.trace:
            if kind == "current" and current >= limit:
                return ns, mib
            if kind == "available" and 0 <= avail <= limit:
                return ns, mib
        return None

    @property
    def runaway_death_ns(self):
        us = int(self.units.get(self.runaway, {}).get("ExecMainExitTimestampMonotonic", "0") or 0)
        return us * 1000 if us else None

    @property
    def runaway_status(self):
        u = self.units.get(self.runaway, {})
        code, status = u.get("ExecMainCode"), u.get("ExecMainStatus")
        if code == "2":
            return {"9": "SIGKILL", "15": "SIGTERM"}.get(status, "signal " + str(status))
        if code == "1":
            return "exit " + str(status)
        return "alive"

    @property
    def time_to_death_ms(self):
        step, death = self.threshold_step, self.runaway_death_ns
        if step is None or death is None:
            return None
        return (death - step[0]) / 1e6

    def died(self):
        """[(unit, label, died, before)] for every load that lost processes."""
        out = []
        for unit, counts in self.procs.items():
            before, after = counts.get("before", 0), counts.get("after", 0)
            if before > after:
                out.append((unit, label(self.unit_cgroup.get(unit, unit)), before - after, before))
        return sorted(out, key=lambda x: x[1])

    def what_died(self):
        """From the process counts of the watched groups (slices.tsv): they are
        read first, before the per-unit counts, which a fast kill (scenario 1:
        a few seconds after the runaway's start under TCG) can overtake."""
        own = self.slice_procs.get(self.runaway_group, {})
        before, after = own.get("before", 0), own.get("after", 0)
        died_group = max(0, before - after)
        name = group_label(self.runaway_group)
        if died_group == 0:
            desc = "nothing"
        elif after == 0 and (before > 1 or self.group_kill()):
            desc = "whole %s (%d process%s)" % (name, died_group, "" if died_group == 1 else "es")
        else:
            desc = "%d of %d processes of %s" % (died_group, before, name)
        other = []
        for sl, v in sorted(self.slice_procs.items()):
            if sl == self.runaway_group:
                continue
            b, a2 = v.get("before", 0), v.get("after", 0)
            if b > a2:
                other.append("%s: %d of %d" % (group_label(sl), b - a2, b))
        return desc, ", ".join(other) or "none"

    def kernel_ooms(self):
        try:
            total = int(self.meta["vmstat_oom_kill_after"]) - int(self.meta["vmstat_oom_kill_before"])
        except (KeyError, ValueError):
            total = None
        per = []
        for sl, v in sorted(self.slices.items()):
            d = v.get("after", 0) - v.get("before", 0)
            if d:
                per.append("%s %d" % (group_label(sl), d))
        return total, per

    def guard_memory(self):
        if not self.guard_procs:
            return None
        main = self.guard_procs[0]["hwm"] / 1024
        total = sum(p["hwm"] for p in self.guard_procs) / 1024
        pss = sum(p["pss"] for p in self.guard_procs) / 1024
        try:
            peak = int(self.meta["guard_memory_peak"]) / 1048576
        except (KeyError, ValueError):
            peak = None
        return main, total, pss, len(self.guard_procs), peak

    def guard_cpu(self):
        try:
            used = (int(self.meta["guard_cpu_usec_end"]) - int(self.meta["guard_cpu_usec_start"])) / 1000
            start = int(self.units[self.runaway]["ExecMainStartTimestampMonotonic"]) / 1e6
            window = float(self.meta["end_uptime"]) - start
            startup = int(self.meta["guard_cpu_usec_start"]) / 1000
        except (KeyError, ValueError):
            return None
        return used, window, startup


def rng(values, fmt="%.0f", unit=""):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    lo, hi = min(values), max(values)
    if fmt % lo == fmt % hi:
        return (fmt % lo) + unit
    return (fmt % lo) + "–" + (fmt % hi) + unit


def tally(items):
    """'x (3/3)' or 'x (2/3); y (1/3)'."""
    n = len(items)
    counts = defaultdict(int)
    for i in items:
        counts[i] += 1
    if len(counts) == 1:
        return next(iter(counts)) + ("" if n == 1 else " (%d/%d)" % (n, n))
    return "; ".join("%s (%d/%d)" % (k, c, n) for k, c in sorted(counts.items(), key=lambda kv: -kv[1]))


def seconds(ms):
    return None if ms is None else ms / 1000


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    top = sys.argv[1]
    runs = []
    rundir = os.path.join(top, "runs")
    for name in sorted(os.listdir(rundir)) if os.path.isdir(rundir) else []:
        runs.append(Run(os.path.join(rundir, name)))
    session = keyvalues(os.path.join(top, "session.txt"))
    if session:
        print("Session: kernel %s, MemTotal %s MiB, %s vCPUs, swap devices %s; earlyoom %s, systemd %s, cgwarden %s; %s to %s"
              % (session.get("kernel"), int(session.get("memtotal_kib", "0")) // 1024, session.get("cpus"),
                 session.get("swap"), session.get("version_earlyoom"), session.get("version_systemd"),
                 session.get("version_cgwarden") or "?", session.get("started"), session.get("finished", "(unfinished)")))
        print()
    by = defaultdict(list)
    for r in runs:
        by[(r.scenario, r.guard)].append(r)
    for scen in sorted({r.scenario for r in runs}):
        print("### " + SCENARIO_NAMES.get(scen, "Scenario " + str(scen)))
        print()
        print("| guard | runaway ended by | died in the runaway's group | collateral (other groups) "
              "| threshold → runaway dead (s) | kernel OOM kills: node; per group "
              "| guard memory MiB: RSS peak of the main process; Pss of all; unit's memory.peak "
              "| guard CPU: ms during the run (run s, % of one CPU); ms at start |")
        print("|---|---|---|---|---|---|---|---|")
        notes = []
        for guard in GUARD_ORDER + sorted({g for (s, g) in by if s == scen} - set(GUARD_ORDER)):
            rs = [r for r in by.get((scen, guard), []) if not r.error]
            errs = [r for r in by.get((scen, guard), []) if r.error]
            name = GUARD_NAMES.get(guard, guard)
            if not rs and not errs:
                continue
            if not rs:
                print("| %s | (failed: %s) |||||||" % (name, ", ".join(r.error for r in errs)))
                continue
            killers = tally([r.ended_by() for r in rs])
            what = tally([r.what_died()[0] for r in rs])
            coll = tally([r.what_died()[1] for r in rs])
            times = rng([seconds(r.time_to_death_ms) for r in rs], "%.1f")
            ooms = [r.kernel_ooms() for r in rs]
            oom = rng([o[0] for o in ooms]) + "; " + tally([", ".join(o[1]) or "–" for o in ooms])
            mem = [r.guard_memory() for r in rs]
            if any(mem):
                memtext = "%s; %s; %s" % (rng([m[0] for m in mem if m], "%.1f"), rng([m[2] for m in mem if m], "%.1f"),
                                          rng([m[4] for m in mem if m and m[4] is not None], "%.1f"))
            else:
                memtext = "–"
            cpu = [r.guard_cpu() for r in rs]
            if any(cpu):
                cputext = "%s (%s s, %s %%); %s" % (
                    rng([c[0] for c in cpu if c]), rng([c[1] for c in cpu if c], "%.0f"),
                    rng([c[0] / 10 / c[1] for c in cpu if c and c[1] > 0], "%.1f"), rng([c[2] for c in cpu if c]))
            else:
                cputext = "–"
            n = "" if len(rs) == 1 else " ×%d" % len(rs)
            if errs:
                n += ", %d failed" % len(errs)
            print("| %s%s | %s | %s | %s | %s | %s | %s | %s |" % (name, n, killers, what, coll,
                                                                 times, oom, memtext, cputext))
            if guard != "none" and not any(r.guard_kills() for r in rs):
                first = [r.ended_by() for r in rs]
                full = [r for r in rs if r.meta.get("runaway_full")]
                line = ("%s killed nothing in %s: the runaway was ended by %s."
                        % (name, "this run" if len(rs) == 1 else "these %d runs" % len(rs), tally(first)))
                if full:
                    line += (" In %d of them it got all it asked for (%s MiB) and lived 15 s more, MemAvailable "
                             "then %s MiB%s." % (len(full), full[0].trace[-1][1] if full[0].trace else "?",
                                                  rng([int(r.meta.get("memavailable_after", "0")) / 1048576 for r in full]),
                                                  ", with swap" if any(int(r.meta.get("swap_total", "0") or 0) for r in full) else ""))
                notes.append(line)
        print()
        for line in notes:
            print("- " + line)
        if notes:
            print()
    if "--runs" in sys.argv:
        print("### Every run")
        print()
        print("| run | ended by | threshold step (MiB) | → dead (ms) | died | other groups | kills in the journal (s after the threshold) |")
        print("|---|---|---|---|---|---|---|")
        for r in sorted(runs, key=lambda r: (r.scenario or "", GUARD_ORDER.index(r.guard) if r.guard in GUARD_ORDER else 9, r.round)):
            step = r.threshold_step
            t0 = step[0] / 1e9 if step else None
            kills = ", ".join("%s→%s%s" % (who, label(r.kill_target((t, who, d)) or "?") if not d.get("cgroup", "").endswith(".slice")
                                            else group_label(d["cgroup"]),
                                            "" if t0 is None else " @%+.1f" % (t - t0)) for t, who, d in r.kills) or "–"
            what, coll = r.what_died()
            print("| s%s %s r%d | %s | %s | %s | %s | %s | %s |" % (
                r.scenario, r.guard, r.round, r.ended_by(),
                step[1] if step else "–", "%.0f" % r.time_to_death_ms if r.time_to_death_ms is not None else "–",
                what, coll, kills))


main()
