import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// A subcommand that runs against a console and returns its exit status,
/// so that tests can run it and read what it printed.
public protocol ConsoleCommand: ParsableCommand {
    func execute(_ console: Console) throws -> Int32
}

extension ConsoleCommand {
    public func run() throws {
        let code = try execute(.standard)
        if code != 0 { throw ExitCode(code) }
    }
}

/// An operator error: printed as one line, `cgwarden: <message>`, with this exit status.
public struct CommandFailure: Error, CustomStringConvertible {
    public var message: String
    public var exitCode: Int32
    public init(_ message: String, exitCode: Int32 = ExitStatus.failure) {
        self.message = message
        self.exitCode = exitCode
    }
    public var description: String { message }
}

/// Exit statuses, the same for every command.
public enum ExitStatus {
    public static let success: Int32 = 0
    /// The command ran and failed (a cgroup not found, a read failed).
    public static let failure: Int32 = 1
    /// No cgroup v2 hierarchy with the memory controller at the root.
    public static let noCgroup2: Int32 = 2
    /// The kill helper refused the request (root, own or protected group, stale id, ...).
    public static let refused: Int32 = 3
    /// Bad flags or arguments (EX_USAGE).
    public static let usage: Int32 = 64
}

public struct CGWarden: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "cgwarden",
        abstract: "A cgroup-v2-aware memory guard: see, per cgroup, where memory goes and how close each group is to its limit and to an OOM.",
        subcommands: [Status.self, Run.self, Events.self, Explain.self, Record.self, CheckConfig.self, Kill.self,
                      KillHelperCommand.self])

    public init() {}
}

public enum CGWardenCLI {
    /// Parses `arguments` (without the program name), runs the command and
    /// returns the exit status. Every error is one line on standard error.
    public static func run(_ arguments: [String], console: Console = .standard) -> Int32 {
        let command: ParsableCommand
        do {
            command = try CGWarden.parseAsRoot(arguments)
        } catch {
            let code = CGWarden.exitCode(for: error)
            if code == .success {
                // --help, --version
                console.out(CGWarden.fullMessage(for: error) + "\n")
                return 0
            }
            let sub = arguments.first.flatMap { name in
                CGWarden.configuration.subcommands.contains { $0._commandName == name } ? name : nil
            }
            let help = sub.map { "cgwarden \($0) --help" } ?? "cgwarden --help"
            console.error("cgwarden: \(CGWarden.message(for: error)) (see '\(help)')")
            return ExitStatus.usage
        }
        do {
            if let c = command as? any ConsoleCommand {
                return try c.execute(console)
            }
            var c = command
            try c.run()
            return 0
        } catch let failure as CommandFailure {
            console.error("cgwarden: \(failure.message)")
            return failure.exitCode
        } catch {
            let code = CGWarden.exitCode(for: error)
            if code == .success { console.out(CGWarden.fullMessage(for: error) + "\n"); return 0 }
            let message = CGWarden.message(for: error)
            if !message.isEmpty { console.error("cgwarden: \(message)") }
            return code.rawValue
        }
    }

    /// The process entry point.
    public static func main() -> Never {
        exit(run(Array(CommandLine.arguments.dropFirst())))
    }
}
