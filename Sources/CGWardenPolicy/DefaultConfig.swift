/// The default configuration, used when /etc/cgwarden/cgwarden.toml does not
/// exist. The same text as Configs/cgwarden.toml (a test keeps them equal).
public enum DefaultConfig {
    public static let path = "/etc/cgwarden/cgwarden.toml"
    public static let name = "built-in default (Configs/cgwarden.toml)"

    public static let text = #"""
# cgwarden: the default configuration, as a package installs it at
# /etc/cgwarden/cgwarden.toml. Every key is described in Docs/configuration.md.
# Site changes belong in drop-ins, /etc/cgwarden/cgwarden.d/*.toml (read in
# name order; a guard with the name of one here replaces it).

# Never killed, whatever a guard decides. The root cgroup, cgwarden's own
# cgroup and its ancestors are never killed in any case.
protect = [
    "/init.scope",
    "/system.slice/systemd-*.service",
    "/system.slice/dbus.service",
    "/system.slice/dbus-broker.service",
    "/system.slice/ssh.service",
    "/system.slice/sshd.service",
    "/system.slice/cgwarden.service",
]

# Killing a group this small frees too little to help.
min_kill_size = "32M"

[daemon]
interval = "1s"
# A user of its own (scripts/setup and the package create it): a user other
# services share could signal or trace cgwarden's unprivileged side.
user = "cgwarden"
group = "cgwarden"
dry_run = false

# The node runs out of memory: kill the leaf group (a service, a session
# scope, a container) that uses most beyond its memory.low protection,
# before the kernel's OOM killer picks a single process.
[[guard]]
name = "node-memory"
match = "/"
candidates = "leaves"
rank = "usage_above_protection"

  # Almost nothing left to allocate without reclaim.
  [[guard.trigger]]
  node_available_below = "3%"
  for = "5s"

  # Everything stalls on memory (systemd-oomd's default: full 60% for 30 s).
  [[guard.trigger]]
  node_pressure_above = "60%"
  pressure = "full"
  for = "30s"

# A group pinned at its own memory.max with memory the kernel cannot drop:
# the kernel is about to OOM-kill one task inside it and leave the rest
# half-working. Kill the group whole instead.
[[guard]]
name = "at-own-limit"
match = "/**"
candidates = "self"

  [[guard.trigger]]
  usage_of_limit = "98%"
  count = "unreclaimable"
  for = "15s"
"""#
}
