import Testing
#if canImport(Glibc)
import Glibc
#endif
import CGWardenCore
@testable import CGWardenPolicy

/// The configurations in Configs/ load, and the built-in default is the file.
@Suite struct ShippedConfigTests {
    static let root: String = {
        let file: String = #filePath   // .../Tests/CGWardenPolicyTests/ShippedConfigTests.swift
        return file.split(separator: "/", omittingEmptySubsequences: false).dropLast(3).joined(separator: "/")
    }()

    static func read(_ path: String) -> String? {
        guard let f = fopen(path, "r") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        while true {
            let c = fgetc(f)
            if c == EOF { break }
            out.append(UInt8(c))
        }
        return String(decoding: out, as: UTF8.self)
    }

    @Test(arguments: ["Configs/cgwarden.toml", "Configs/examples/kubernetes-node.toml",
                      "Configs/examples/tenant-slices.toml", "Configs/examples/systemd-user-sessions.toml"])
    func loads(_ file: String) throws {
        let text = try #require(ShippedConfigTests.read(ShippedConfigTests.root + "/" + file))
        let c = try ConfigLoader.load([(name: file, text: text)])
        #expect(!c.guards.isEmpty)
        #expect(!c.protect.isEmpty)
    }

    @Test func builtInDefaultIsTheShippedFile() throws {
        let text = try #require(ShippedConfigTests.read(ShippedConfigTests.root + "/Configs/cgwarden.toml"))
        #expect(DefaultConfig.text + "\n" == text)
    }
}
