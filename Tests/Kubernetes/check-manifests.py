#!/usr/bin/python3
"""The Kubernetes manifests of Deploy/kubernetes, checked offline.

    Tests/Kubernetes/check-manifests.py CGWARDEN_BINARY

Parses the YAML (Debian's python3-yaml) and checks what the DaemonSet must
hold: every mount the arguments need, read-only where nothing is written;
requests equal to limits; tolerations for every taint; the probe and the
scrape annotations on the metrics port; the capability list that
Docs/kubernetes.md gives and Tests/Container runs with; and that the
ConfigMap's configuration passes `cgwarden check-config`.
Prints one "pass:"/"FAIL:" line per check and "N passed, N failed".
"""
import os
import re
import subprocess
import sys
import tempfile
import tomllib

import yaml

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEPLOY = os.path.join(TOP, "Deploy", "kubernetes")
passed = failed = 0


def check(name, fn):
    global passed, failed
    try:
        problems = fn() or []
    except Exception as e:  # a missing key is a failed check, not a crash
        problems = [f"{type(e).__name__}: {e}"]
    if problems:
        failed += 1
        print(f"FAIL: {name}")
        for p in problems:
            print(f"      {p}")
    else:
        passed += 1
        print(f"pass: {name}")


docs = {}
for name in sorted(os.listdir(DEPLOY)):
    if name.endswith(".yaml"):
        with open(os.path.join(DEPLOY, name)) as f:
            docs[name] = [d for d in yaml.safe_load_all(f) if d is not None]
objects = {(d["kind"], d["metadata"]["name"]): d for name, ds in docs.items() for d in ds if "metadata" in d}
ds = objects[("DaemonSet", "cgwarden")]
pod = ds["spec"]["template"]["spec"]
ctr = pod["containers"][0]
cm = objects[("ConfigMap", "cgwarden")]


def parse_args(args):
    """--flag value pairs of `cgwarden run` (the image's entrypoint)."""
    out, i = {}, 0
    while i < len(args):
        if args[i] in ("--dry-run",):
            out[args[i]] = True
            i += 1
        else:
            out[args[i]] = args[i + 1]
            i += 2
    return out


args = parse_args(ctr.get("args", []))
volumes = {v["name"]: v for v in pod.get("volumes", [])}
mounts = {m["mountPath"]: m for m in ctr.get("volumeMounts", [])}


def host_mount(path, host):
    """The mount at `path` and its volume, which must be the host's `host`."""
    m = mounts.get(path)
    if m is None:
        return None, [f"no volumeMount at {path}"]
    v = volumes.get(m["name"], {})
    if v.get("hostPath", {}).get("path") != host:
        return m, [f"{path} is not the host's {host}: {v}"]
    return m, []


def t_kustomization():
    k = docs["kustomization.yaml"][0]
    listed = set(k["resources"])
    present = set(docs) - {"kustomization.yaml"}
    return [f"kustomization.yaml does not list {n}" for n in sorted(present - listed)] + \
           [f"kustomization.yaml lists missing {n}" for n in sorted(listed - present)]


def t_namespace():
    p = []
    ns = objects[("Namespace", "cgwarden")]
    if ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce") != "privileged":
        p.append("the namespace must allow hostPID and hostPath (pod-security enforce=privileged)")
    for (kind, name), o in objects.items():
        if kind != "Namespace" and o["metadata"].get("namespace") != "cgwarden":
            p.append(f"{kind}/{name} is not in the namespace cgwarden")
    sa = objects[("ServiceAccount", "cgwarden")]
    if sa.get("automountServiceAccountToken") is not False or pod.get("automountServiceAccountToken") is not False:
        p.append("no API token: automountServiceAccountToken false on the account and the pod")
    if pod.get("serviceAccountName") != "cgwarden":
        p.append("the pod runs as the service account cgwarden")
    return p


def t_scheduling():
    p = []
    if pod.get("priorityClassName") != "system-node-critical":
        p.append(f"priorityClassName {pod.get('priorityClassName')}, not system-node-critical")
    if not any(t.get("operator") == "Exists" and "key" not in t and "effect" not in t for t in pod.get("tolerations", [])):
        p.append(f"no toleration of every taint (operator Exists, no key, no effect): {pod.get('tolerations')}")
    if ds["spec"]["selector"]["matchLabels"].items() - ds["spec"]["template"]["metadata"]["labels"].items():
        p.append("the selector does not match the template's labels")
    return p


def t_resources():
    r = ctr["resources"]
    p = []
    for k in ("cpu", "memory"):
        if k not in r.get("requests", {}) or r["requests"].get(k) != r.get("limits", {}).get(k):
            p.append(f"{k}: request {r.get('requests', {}).get(k)} != limit {r.get('limits', {}).get(k)}")
    return p


def t_mounts_match_args():
    p = []
    if not pod.get("hostPID"):
        p.append("hostPID must be true (host pids in cgroup.procs, the helper's own-cgroup search, the fallback)")
    if pod.get("hostNetwork"):
        p.append("hostNetwork is not needed")
    root = args.get("--root", "/sys/fs/cgroup")
    m, e = host_mount(root, "/sys/fs/cgroup")
    p += e
    if m is not None and m.get("readOnly"):
        p.append(f"{root} must be writable (cgroup.kill, cgroup.freeze, PSI triggers)")
    proc = args.get("--proc", "/proc")
    if proc != "/proc":
        p += host_mount(proc, "/proc")[1]
    config = args.get("--config", "/etc/cgwarden/cgwarden.toml")
    cdir, cfile = os.path.split(config)
    m = mounts.get(cdir)
    if m is None or volumes.get(m["name"], {}).get("configMap", {}).get("name") != "cgwarden" or not m.get("readOnly"):
        p.append(f"{cdir} must be the ConfigMap cgwarden, read-only: {m}")
    elif cfile not in cm["data"]:
        p.append(f"the ConfigMap has no key {cfile}")
    # Where the binary looks, by default or as the arguments say, and the
    # host's directory that must be there.
    for path, host, ro in ((args.get("--state-dir", "/var/lib/cgwarden"), "/var/lib/cgwarden", False),
                           ("/dev/kmsg", "/dev/kmsg", True),
                           (args.get("--pod-logs", "/var/log/pods"), "/var/log/pods", True)):
        m, e = host_mount(path, host)
        p += e
        if m is not None and bool(m.get("readOnly")) != ro:
            p.append(f"{path} must be {'read-only' if ro else 'writable'}")
    for m in ctr["volumeMounts"]:
        if m["name"] not in volumes:
            p.append(f"mount {m['mountPath']} names no volume {m['name']}")
    unused = set(volumes) - {m["name"] for m in ctr["volumeMounts"]}
    if unused:
        p.append(f"volumes never mounted: {sorted(unused)}")
    if args.get("--log") != "json":
        p.append("--log json: one JSON line per event on standard error (no journald in a pod)")
    return p


def t_security():
    s = ctr["securityContext"]
    p = []
    for key, want in (("privileged", False), ("allowPrivilegeEscalation", False),
                      ("readOnlyRootFilesystem", True), ("runAsUser", 0)):
        if s.get(key) != want:
            p.append(f"securityContext.{key} is {s.get(key)}, not {want}")
    if s["capabilities"].get("drop") != ["ALL"]:
        p.append("capabilities: drop ALL, then add the few")
    seccomp = s.get("seccompProfile") or pod.get("securityContext", {}).get("seccompProfile")
    if (seccomp or {}).get("type") != "RuntimeDefault":
        p.append("the runtime's default seccomp profile (RuntimeDefault)")
    return p


def t_capabilities_agree():
    added = ctr["securityContext"]["capabilities"].get("add", [])
    with open(os.path.join(TOP, "Docs", "kubernetes.md")) as f:
        m = re.search(r"^The DaemonSet adds exactly: (.*)\.$", f.read(), re.M)
    doc = re.findall(r"`CAP_([A-Z_]+)`", m.group(1)) if m else None
    with open(os.path.join(TOP, "Tests", "Container", "podman-in-vm.sh")) as f:
        m = re.search(r"^CAPS=\((.*)\)$", f.read(), re.M)
    tested = m.group(1).split() if m else None
    p = []
    if doc is None or sorted(doc) != sorted(added):
        p.append(f"Docs/kubernetes.md says {doc}, the DaemonSet adds {added}")
    if tested is None or sorted(tested) != sorted(added):
        p.append(f"Tests/Container runs with {tested}, the DaemonSet adds {added}")
    return p


def t_metrics_port():
    p = []
    ports = {pt["name"]: pt["containerPort"] for pt in ctr.get("ports", [])}
    ann = ds["spec"]["template"]["metadata"].get("annotations", {})
    if ports.get("metrics") != 9464:
        p.append(f"container port metrics is {ports.get('metrics')}, not 9464")
    if ann.get("prometheus.io/scrape") != "true" or ann.get("prometheus.io/port") != str(ports.get("metrics")):
        p.append(f"scrape annotations {ann} do not name the metrics port")
    for kind in ("readinessProbe", "livenessProbe"):
        probe = ctr.get(kind, {}).get("httpGet", {})
        if probe.get("path") != "/healthz" or ports.get(probe.get("port"), probe.get("port")) != 9464:
            p.append(f"{kind} {probe}: not GET /healthz on 9464")
    live = ctr.get("livenessProbe", {})
    if live.get("periodSeconds", 10) * live.get("failureThreshold", 3) < 60:
        p.append("the liveness probe restarts the guard within a minute of 503s: too eager on a node short of memory")
    listen = tomllib.loads(cm["data"]["cgwarden.toml"]).get("metrics", {}).get("listen", "")
    if not listen.endswith(":9464"):
        p.append(f"the configuration's [metrics] listen is {listen!r}, not on port 9464")
    return p


def t_config_scope():
    c = tomllib.loads(cm["data"]["cgwarden.toml"])
    p = []
    if c.get("daemon", {}).get("user") != "cgwarden":
        p.append("daemon.user must be the image's user cgwarden")
    for g in c.get("guard", []):
        matches = g["match"] if isinstance(g["match"], list) else [g["match"]]
        for pat in matches:
            if not re.match(r"^/kubepods(\.slice)?/(kubepods-)?(besteffort|burstable)", pat):
                p.append(f"guard {g['name']}: {pat} is not below the BestEffort or Burstable pods")
    return p


def t_check_config():
    text = cm["data"]["cgwarden.toml"]
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "cgwarden.toml")
        with open(path, "w") as f:
            f.write(text)
        r = subprocess.run([sys.argv[1], "check-config", path], capture_output=True, text=True)
        if r.returncode != 0:
            return [line for line in (r.stdout + r.stderr).splitlines()]
        print(f"      {r.stdout.strip()}")
    return []


if len(sys.argv) != 2:
    sys.exit("usage: check-manifests.py CGWARDEN_BINARY")
check("kustomization.yaml lists every manifest", t_kustomization)
check("namespace (pod security: privileged), service account without a token", t_namespace)
check("system-node-critical, tolerates every taint", t_scheduling)
check("requests equal limits (Guaranteed QoS)", t_resources)
check("every mount the arguments need, read-only where nothing is written", t_mounts_match_args)
check("not privileged, no privilege escalation, read-only root, drop ALL, RuntimeDefault seccomp", t_security)
check("the capabilities added are those Docs/kubernetes.md lists and Tests/Container runs with", t_capabilities_agree)
check("metrics port 9464: scrape annotations, readiness and liveness GET /healthz, [metrics] listen", t_metrics_port)
check("the guards watch only BestEffort and Burstable pods; the unprivileged user is the image's", t_config_scope)
check("the ConfigMap's configuration passes cgwarden check-config", t_check_config)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
