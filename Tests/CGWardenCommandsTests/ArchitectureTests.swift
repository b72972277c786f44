#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenTestSupport

/// The dependency rules of Docs/architecture.md, checked on the sources:
/// the pure targets import nothing that reaches files or the kernel.
@Suite struct ArchitectureTests {
    static let allowed: [String: Set<String>] = [
        "CGWardenCore": [],
        "TOML": [],
        "CGWardenPolicy": ["CGWardenCore", "TOML"],
    ]

    func imports(_ file: String) -> [String] {
        (readFile(file) ?? "").split(separator: "\n").compactMap { line in
            let t = line.drop { $0 == " " }
            guard t.hasPrefix("import ") || t.hasPrefix("@testable import ") else { return nil }
            return t.split(separator: " ").last.map(String.init)
        }
    }

    func swiftFiles(_ dir: String) -> [String] {
        guard let d = opendir(dir) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            if name.hasSuffix(".swift") { out.append(dir + "/" + name) }
        }
        return out
    }

    @Test(arguments: ["CGWardenCore", "TOML", "CGWardenPolicy"])
    func pureTargetsImportOnlyPureModules(_ target: String) {
        let files = swiftFiles(repositoryRoot() + "/Sources/" + target)
        #expect(!files.isEmpty)
        for f in files {
            let bad = imports(f).filter { !ArchitectureTests.allowed[target]!.contains($0) }
            #expect(bad.isEmpty, "\(f) imports \(bad)")
        }
    }
}
