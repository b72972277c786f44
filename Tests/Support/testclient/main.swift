// cgwarden-testclient: the unprivileged side of the kill path, as the kernel
// tests need it in a process of its own (the test runner must keep root):
// spawns the launcher and a helper, drops to --user/--group, then makes the
// helper die of a forbidden system call, checks that the launcher gave it a
// new one, and kills --target through it. Prints one JSON document.
//
//   cgwarden-testclient --cgwarden PATH --target CGROUP [--root DIR] [--user U] [--group G]
//
// Runs only in the test VM (IN_CGROUP2_VM=1): it kills a cgroup.
//
//   cgwarden-testclient --seccomp-kill PID SIGNAL
//
// Installs the helper's seccomp filter, then calls kill(PID, SIGNAL) and
// prints its errno (0 when it succeeded); a call the filter refuses ends the
// process with SIGSYS instead. Harmless anywhere when PID names no process.
#if canImport(Glibc)
import Glibc
#endif
import CGWardenActions
import CGWardenCore
import CGWardenSandbox

func fail(_ message: String) -> Never {
    let s = "cgwarden-testclient: \(message)\n"
    _ = s.withCString { write(2, $0, strlen($0)) }
    exit(2)
}

/// Nothing after the filter may need a call outside it: no main-actor
/// checks (a nonisolated function), no string formatting (digits by hand).
nonisolated func killUnderHelperFilter(_ pid: Int32, _ signal: Int32) -> Never {
    var out = [UInt8](repeating: 0, count: 16)
    errno = 0
    do { try HelperAllowList.filter().install() } catch { fail("\(error)") }
    var e = kill(pid, signal) == 0 ? 0 : errno
    var n = 0
    repeat { out[n] = UInt8(48 + e % 10); e /= 10; n += 1 } while e > 0
    out[0..<n].reverse()
    out[n] = 10
    _ = out.withUnsafeBytes { write(1, $0.baseAddress, n + 1) }
    _exit(0)
}

if CommandLine.arguments.count == 4, CommandLine.arguments[1] == "--seccomp-kill",
   let pid = Int32(CommandLine.arguments[2]), let signal = Int32(CommandLine.arguments[3]) {
    killUnderHelperFilter(pid, signal)
}

var options: [String: String] = [:]
var args = Array(CommandLine.arguments.dropFirst())
while !args.isEmpty {
    let k = args.removeFirst()
    guard k.hasPrefix("--"), !args.isEmpty else { fail("bad argument \(k)") }
    options[String(k.dropFirst(2))] = args.removeFirst()
}
guard getenv("IN_CGROUP2_VM").map({ String(cString: $0) }) == "1" else { fail("runs only in the cgroup v2 test VM") }
guard let cgwarden = options["cgwarden"], let targetText = options["target"],
      case .success(let targetPath) = CgroupPath.parse(targetText) else {
    fail("usage: --cgwarden PATH --target CGROUP [--root DIR] [--user U] [--group G]")
}
let root = options["root"] ?? "/sys/fs/cgroup"
guard let uid = Privileges.userID(options["user"] ?? "nobody"), let gid = Privileges.groupID(options["group"] ?? "nogroup") else {
    fail("unknown user or group")
}

var c = KillHelperClient.Configuration()
c.executable = cgwarden
c.settings = KillHelperProcess.Settings(root: root)
c.useLauncher = true
c.environment = HelperProcess.defaultEnvironment + ["\(KillHelperProcess.testHooksVariable)=1"]
let client: KillHelperClient
do { client = try KillHelperClient(c) } catch { fail("\(error)") }

let credentials: Credentials
do { credentials = try Privileges.drop(toUser: uid, group: gid) } catch { fail("\(error)") }

func uidOf(_ pid: Int32) -> JSON {
    let fd = open("/proc/\(pid)/status", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return .null }
    defer { close(fd) }
    var buf = [UInt8](repeating: 0, count: 8192)
    let n = read(fd, &buf, buf.count)
    guard n > 0 else { return .null }
    let c = Credentials.parse(String(decoding: buf[0..<n], as: UTF8.self))
    return .object([("uid", .uint(UInt64(c.uid))), ("cap_eff", .string(Privileges.hexMask(c.capEff)))])
}

func describe(_ o: KillOutcome) -> String {
    switch o {
    case .killed: return "killed"
    case .incomplete(let r): return "incomplete \(r)"
    case .wouldKill: return "would_kill"
    case .refused(let r): return "refused \(r)"
    case .failed(let f): return "failed \(f)"
    }
}

let first = client.helperPID ?? 0
let firstHelper = uidOf(first)
let forbidden = client.requestForbiddenSyscall()
let second = (try? client.ping())?.pid ?? 0
let outcome: String
switch CgroupResolution.target(targetPath, root: root) {
case .success(let t): outcome = describe(client.kill(t, timeout: .seconds(30)))
case .failure(let e): outcome = "unresolved \(e)"
}
let doc = JSON.object([
    ("unprivileged", .object([("uid", .uint(UInt64(credentials.uid))), ("gid", .uint(UInt64(credentials.gid))),
                              ("cap_eff", .string(Privileges.hexMask(credentials.capEff))),
                              ("no_new_privs", .bool(credentials.noNewPrivs))])),
    ("launcher", uidOf(client.launcherPID ?? 0)),
    ("first_helper", .object([("pid", .int(Int64(first))), ("status", firstHelper)])),
    ("forbidden", .string("\(forbidden)")),
    ("last_termination", .string(client.lastTermination.map { "\($0)" } ?? "none")),
    ("second_helper", .object([("pid", .int(Int64(second))), ("status", uidOf(second))])),
    ("respawns", .int(Int64(client.respawns))),
    ("kill", .string(outcome)),
])
print(doc.serialized())
client.shutdown()
