#if canImport(Glibc)
import Glibc
#endif
import CGWardenSystem
import CSeccomp
import CShims

/// Why building or installing a ``SeccompFilter`` failed.
public enum SeccompError: Error, Equatable, Hashable, Sendable {
    /// libseccomp does not know this system call name.
    case unknownSyscall(String)
    /// libseccomp knows the name, but it is no system call on this
    /// architecture (it resolves to a negative pseudo number, e.g.
    /// `socketcall` on x86_64).
    case syscallNotOnThisArchitecture(String)
    /// A condition names an argument outside 0...5, or a rule has more
    /// than 6 conditions.
    case invalidCondition(String)
    /// `.errno(x)` with `x` outside 0...4095.
    case invalidErrno(Int32)
    /// `prctl(PR_SET_NO_NEW_PRIVS)` failed.
    case noNewPrivileges(errno: Int32)
    /// A libseccomp call failed; libseccomp returns `-errno`.
    case libseccomp(operation: String, errno: Int32)
}

/// A seccomp-bpf allow-list built by system-call *name*.
///
/// Value type: building it makes no system call besides name resolution
/// (which libseccomp does in memory), so a filter can be built and checked
/// before the process reaches its sandboxing point, then ``install()``ed.
///
/// ```swift
/// var filter = SeccompFilter(defaultAction: .killProcess)
/// try filter.allow(["read", "write", "exit_group"])
/// try filter.allow("kill", where: .argument(1, equals: UInt64(SIGKILL)))
/// try filter.install()
/// ```
///
/// Rules are for the native architecture only; any other architecture
/// (e.g. i386 syscalls from an x86_64 process via `int 0x80`) and the x32
/// ABI get the default action too (libseccomp's bad-architecture action is
/// set to the same action).
public struct SeccompFilter: Sendable, Hashable {
    /// What the kernel does with a matching system call.
    public enum Action: Sendable, Hashable {
        /// Run the system call.
        case allow
        /// Kill the whole process as if by an uncatchable SIGSYS (signal 31).
        case killProcess
        /// Send a catchable SIGSYS to the thread (for probing).
        case trap
        /// Run the system call and log it to the audit log / kernel log.
        case log
        /// Fail the system call with this errno (0...4095).
        case errno(Int32)

        var rawValue: UInt32 {
            switch self {
            case .allow: return cgw_scmp_act_allow()
            case .killProcess: return cgw_scmp_act_kill_process()
            case .trap: return cgw_scmp_act_trap()
            case .log: return cgw_scmp_act_log()
            case .errno(let value): return cgw_scmp_act_errno(UInt16(truncatingIfNeeded: value))
            }
        }
    }

    /// A comparison on one of the six system-call arguments (the raw
    /// 64-bit register value).
    public struct ArgumentCondition: Sendable, Hashable {
        public enum Comparison: Sendable, Hashable {
            case equal, notEqual, less, lessOrEqual, greater, greaterOrEqual
            /// `(argument & mask) == value`.
            case maskedEqual(mask: UInt64)
        }
        /// Argument index, 0...5.
        public var index: UInt32
        public var comparison: Comparison
        public var value: UInt64

        public init(index: UInt32, _ comparison: Comparison, _ value: UInt64) {
            self.index = index
            self.comparison = comparison
            self.value = value
        }

        /// `argument[index] == value`.
        public static func argument(_ index: UInt32, equals value: UInt64) -> ArgumentCondition {
            ArgumentCondition(index: index, .equal, value)
        }

        /// `argument[index] & mask == value`, e.g. to restrict flags.
        public static func argument(_ index: UInt32, masked mask: UInt64, equals value: UInt64) -> ArgumentCondition {
            ArgumentCondition(index: index, .maskedEqual(mask: mask), value)
        }

        var cValue: scmp_arg_cmp {
            let op: scmp_compare
            var datumA = value
            var datumB: UInt64 = 0
            switch comparison {
            case .equal: op = SCMP_CMP_EQ
            case .notEqual: op = SCMP_CMP_NE
            case .less: op = SCMP_CMP_LT
            case .lessOrEqual: op = SCMP_CMP_LE
            case .greater: op = SCMP_CMP_GT
            case .greaterOrEqual: op = SCMP_CMP_GE
            case .maskedEqual(let mask):
                op = SCMP_CMP_MASKED_EQ
                datumA = mask
                datumB = value
            }
            return scmp_arg_cmp(arg: index, op: op, datum_a: datumA, datum_b: datumB)
        }
    }

    /// One rule: `action` for `syscall` when all `conditions` hold.
    public struct Rule: Sendable, Hashable {
        public let name: String
        /// The native system-call number libseccomp resolved `name` to.
        public let number: Int32
        public let action: Action
        public let conditions: [ArgumentCondition]
    }

    /// The action for every system call no rule matches.
    public var defaultAction: Action
    /// Apply the filter to all threads of the process
    /// (`SECCOMP_FILTER_FLAG_TSYNC`). Default `true`.
    public var synchronizeThreads: Bool = true
    /// The rules, in the order they were added.
    public private(set) var rules: [Rule] = []

    /// An empty filter: every system call gets `defaultAction`.
    public init(defaultAction: Action = .killProcess) {
        self.defaultAction = defaultAction
    }

    /// A filter that allows exactly `syscalls` (unconditionally).
    /// - Throws: ``SeccompError/unknownSyscall(_:)`` for an unknown name.
    public init(defaultAction: Action = .killProcess, allowing syscalls: some Sequence<String>) throws(SeccompError) {
        self.defaultAction = defaultAction
        try allow(syscalls)
    }

    /// The native system-call number of `name`.
    /// - Throws: ``SeccompError/unknownSyscall(_:)`` or
    ///   ``SeccompError/syscallNotOnThisArchitecture(_:)``.
    public static func syscallNumber(_ name: String) throws(SeccompError) -> Int32 {
        if name.isEmpty || name.utf8.contains(0) { throw .unknownSyscall(name) }
        let number = seccomp_syscall_resolve_name(name)
        if number == cgw_scmp_nr_error() { throw .unknownSyscall(name) }
        if number < 0 { throw .syscallNotOnThisArchitecture(name) }
        return number
    }

    /// Adds a rule giving `action` to `syscall` when all `conditions` hold.
    public mutating func add(
        _ action: Action, for syscall: String, where conditions: [ArgumentCondition] = []
    ) throws(SeccompError) {
        let number = try Self.syscallNumber(syscall)
        if case .errno(let value) = action, !(0...4095).contains(value) { throw .invalidErrno(value) }
        if conditions.count > 6 { throw .invalidCondition("\(syscall): more than 6 conditions") }
        for condition in conditions where condition.index > 5 {
            throw .invalidCondition("\(syscall): argument index \(condition.index)")
        }
        rules.append(Rule(name: syscall, number: number, action: action, conditions: conditions))
    }

    /// Allows `syscall` when all `conditions` hold.
    public mutating func allow(_ syscall: String, where conditions: ArgumentCondition...) throws(SeccompError) {
        try add(.allow, for: syscall, where: conditions)
    }

    /// Allows every name in `syscalls` unconditionally.
    public mutating func allow(_ syscalls: some Sequence<String>) throws(SeccompError) {
        for name in syscalls { try add(.allow, for: name) }
    }

    /// Sets `PR_SET_NO_NEW_PRIVS`, then loads the filter into the kernel.
    /// Irreversible: from here on, the calling process (all its threads if
    /// ``synchronizeThreads``) and every process it execs is filtered.
    public func install() throws(SeccompError) {
        do { try ProcessControl.setNoNewPrivileges() } catch { throw .noNewPrivileges(errno: error.errno) }
        let context = try makeContext()
        defer { seccomp_release(context) }
        let rc = seccomp_load(context)
        if rc < 0 { throw .libseccomp(operation: "seccomp_load", errno: -rc) }
    }

    /// Writes the filter as libseccomp's human-readable pseudo filter code
    /// (PFC) to `fileDescriptor` (for documentation and debugging).
    public func exportPseudoFilterCode(to fileDescriptor: Int32) throws(SeccompError) {
        let context = try makeContext()
        defer { seccomp_release(context) }
        let rc = seccomp_export_pfc(context, fileDescriptor)
        if rc < 0 { throw .libseccomp(operation: "seccomp_export_pfc", errno: -rc) }
    }

    /// Builds a libseccomp context from the rules. The caller releases it.
    private func makeContext() throws(SeccompError) -> scmp_filter_ctx {
        if case .errno(let value) = defaultAction, !(0...4095).contains(value) { throw .invalidErrno(value) }
        guard let context = seccomp_init(defaultAction.rawValue) else {
            throw .libseccomp(operation: "seccomp_init", errno: EINVAL)
        }
        do throws(SeccompError) {
            try check(seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, defaultAction.rawValue), "seccomp_attr_set(BADARCH)")
            if synchronizeThreads {
                try check(seccomp_attr_set(context, SCMP_FLTATR_CTL_TSYNC, 1), "seccomp_attr_set(TSYNC)")
            }
            for rule in rules where !(rule.action == defaultAction && rule.conditions.isEmpty) {
                let conditions = rule.conditions.map(\.cValue)
                let rc = conditions.withUnsafeBufferPointer { buffer in
                    seccomp_rule_add_array(context, rule.action.rawValue, rule.number,
                                           UInt32(buffer.count), buffer.baseAddress)
                }
                try check(rc, "seccomp_rule_add_array(\(rule.name))")
            }
        } catch {
            seccomp_release(context)
            throw error
        }
        return context
    }

    private func check(_ rc: Int32, _ operation: String) throws(SeccompError) {
        if rc < 0 { throw .libseccomp(operation: operation, errno: -rc) }
    }
}
