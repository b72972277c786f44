#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenTestSupport

/// The dependency rules of Docs/architecture.md, checked on the sources: every
/// import of every Swift file of a target, in every folder below it, in
/// every form the language has.
@Suite struct ArchitectureTests {
    /// What each target may import (the platform's C library only where it is an I/O edge).
    static let allowed: [String: Set<String>] = [
        "CGWardenCore": [],
        "TOML": [],
        "CGWardenPolicy": ["CGWardenCore", "TOML"],
        "CGWardenSystem": ["CGWardenCore", "CShims", "Glibc", "Musl"],
        "CGWardenIO": ["CGWardenCore", "CGWardenSystem", "Glibc", "Musl"],
        "CGWardenEndpoint": ["CGWardenCore", "CGWardenSystem", "Glibc", "Musl", "Synchronization"],
        "CGWardenSandbox": ["CGWardenCore", "CGWardenSystem", "CShims", "CSeccomp", "Glibc", "Musl", "Synchronization"],
        "CGWardenActions": ["CGWardenCore", "CGWardenSystem", "CGWardenIO", "CGWardenSandbox", "Glibc", "Musl",
                            "Synchronization"],
        "CGWardenStore": ["CGWardenCore", "CGWardenSystem", "CSQLite", "Glibc", "Musl"],
        "CGWardenService": ["CGWardenCore", "CGWardenSystem", "CGWardenIO", "CGWardenPolicy", "CGWardenActions",
                            "CGWardenSandbox", "CGWardenStore", "CGWardenEndpoint", "CShims", "CSystemd", "Glibc", "Musl", "Synchronization"],
        "CGWardenCommands": ["CGWardenCore", "CGWardenSystem", "CGWardenIO", "CGWardenPolicy", "CGWardenActions",
                             "CGWardenSandbox", "CGWardenService", "CGWardenStore", "ArgumentParser", "Glibc", "Musl"],
        "cgwarden": ["CGWardenCommands"],
    ]

    /// The modules a source file imports: `import M`, `import M.Sub`,
    /// `import struct M.T`, with any attributes (`@testable`,
    /// `@preconcurrency`, `@_implementationOnly`, `@_exported`) and access
    /// level (`internal import`, `public import`, ...), several per line.
    static func imports(_ source: String) -> [String] {
        let modifiers: Set<Substring> = ["public", "package", "internal", "fileprivate", "private", "open"]
        let kinds: Set<Substring> = ["typealias", "struct", "class", "enum", "protocol", "let", "var", "func"]
        var out: [String] = []
        for line in source.split(separator: "\n") {
            for statement in line.split(separator: ";") {
                var words = statement.split(whereSeparator: { $0 == " " || $0 == "\t" })[...]
                while let w = words.first, w.hasPrefix("@") || modifiers.contains(w) { words = words.dropFirst() }
                guard words.first == "import" else { continue }
                words = words.dropFirst()
                if let w = words.first, kinds.contains(w) { words = words.dropFirst() }
                guard let path = words.first, !path.hasPrefix("//") else { continue }
                out.append(String(path.split(separator: ".").first ?? path))
            }
        }
        return out
    }

    /// Every `.swift` file below `dir`, in every folder.
    static func swiftFiles(_ dir: String) -> [String] { sourceFiles(dir, suffixes: [".swift"]) }

    /// Every file below `dir` whose name ends in one of `suffixes`, in every folder.
    static func sourceFiles(_ dir: String, suffixes: [String]) -> [String] {
        guard let d = opendir(dir) else { return [] }
        var out: [String] = []
        var folders: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            if e.pointee.d_type == UInt8(DT_DIR) { folders.append(dir + "/" + name) }
            if suffixes.contains(where: name.hasSuffix) { out.append(dir + "/" + name) }
        }
        closedir(d)
        return out + folders.flatMap { sourceFiles($0, suffixes: suffixes) }
    }

    @Test func everyImportFormIsSeen() {
        let source = """
            import A
            @testable import B
            internal import C.Sub
            @preconcurrency public import D
            @_implementationOnly import E; import F
            import struct G.Thing
              @_exported import H
            // import NotAnImport
            let importer = 1
            """
        #expect(ArchitectureTests.imports(source) == ["A", "B", "C", "D", "E", "F", "G", "H"])
    }

    @Test(arguments: Array(ArchitectureTests.allowed.keys).sorted())
    func targetsImportOnlyWhatTheRulesAllow(_ target: String) {
        let files = ArchitectureTests.swiftFiles(repositoryRoot() + "/Sources/" + target)
        #expect(!files.isEmpty)
        for f in files {
            let bad = ArchitectureTests.imports(readFile(f) ?? "").filter { !ArchitectureTests.allowed[target]!.contains($0) }
            #expect(bad.isEmpty, "\(f) imports \(bad)")
        }
    }

    /// One EINTR helper: only CGWardenSystem's funnel retries an interrupted
    /// call (Swift and C sources alike; comments may name it).
    @Test func onlyTheSystemLayerRetriesInterruptedCalls() {
        let sources = repositoryRoot() + "/Sources"
        guard let d = opendir(sources) else { Issue.record("no Sources"); return }
        var targets: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if !name.hasPrefix(".") && name != "CGWardenSystem" { targets.append(name) }
        }
        closedir(d)
        #expect(targets.contains("CGWardenIO") && targets.contains("CShims"))
        for target in targets {
            for f in ArchitectureTests.sourceFiles(sources + "/" + target, suffixes: [".swift", ".c", ".h"]) {
                let code = (readFile(f) ?? "").split(separator: "\n").filter {
                    !$0.drop(while: { $0 == " " }).hasPrefix("//")
                }
                #expect(!code.contains { $0.contains("EINTR") }, "\(f) handles EINTR itself: use CGWardenSystem's wrappers")
            }
        }
    }

    @Test func everyTargetHasRules() {
        guard let d = opendir(repositoryRoot() + "/Sources") else { Issue.record("no Sources"); return }
        defer { closedir(d) }
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard !name.hasPrefix("."), !name.hasPrefix("C") || name.hasPrefix("CGWarden") else { continue }
            #expect(ArchitectureTests.allowed[name] != nil, "no import rules for the target \(name)")
        }
    }
}
