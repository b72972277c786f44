import Testing
import CGWardenCore
@testable import CGWardenPolicy

@Suite struct MetricsConfigTests {
    func errors(_ text: String) -> [String] {
        do {
            _ = try ConfigLoader.load([(name: "m.toml", text: text)])
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func offByDefault() throws {
        let c = try ConfigLoader.load([(name: "m.toml", text: "")])
        #expect(c.metrics.listen == nil)
        #expect(c.metrics.maximumGroups == 500)
    }

    static let zeros: [UInt8] = [UInt8](repeating: 0, count: 16)
    static let loopback6: [UInt8] = [UInt8](repeating: 0, count: 15) + [1]
    static let linkLocal: [UInt8] = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2]
    static let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3]
    static let full: [UInt8] = [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]
    static let addresses: [(String, ListenAddress)] = [
        ("127.0.0.1:9464", .inet4([127, 0, 0, 1], port: 9464)),
        ("0.0.0.0:1", .inet4([0, 0, 0, 0], port: 1)),
        ("[::1]:9464", .inet6(loopback6, port: 9464)),
        ("[::]:65535", .inet6(zeros, port: 65535)),
        ("[fe80::1:2]:80", .inet6(linkLocal, port: 80)),
        ("[::ffff:10.1.2.3]:9464", .inet6(mapped, port: 9464)),
        ("[1:2:3:4:5:6:7:8]:9", .inet6(full, port: 9)),
        ("/run/cgwarden/metrics.sock", .unix("/run/cgwarden/metrics.sock")),
    ]

    @Test(arguments: MetricsConfigTests.addresses)
    func addressesAreRead(text: String, expected: ListenAddress) throws {
        let c = try ConfigLoader.load([(name: "m.toml", text: "[metrics]\nlisten = \"\(text)\"\n")])
        #expect(c.metrics.listen == expected)
    }

    @Test func addressesPrintAsWritten() {
        for text in ["127.0.0.1:9464", "[::1]:9464", "[::]:9464", "[fe80::1:0:0:2]:80", "[1:2:3:4:5:6:7:8]:9",
                     "[1::]:9", "/run/cgwarden/metrics.sock"] {
            #expect((try? ListenAddress.parse(text).get())?.description == text)
        }
        // The longest run of zeros is the one shortened (RFC 5952).
        #expect((try? ListenAddress.parse("[1:0:0:2:0:0:0:3]:9").get())?.description == "[1:0:0:2::3]:9")
    }

    @Test func maxGroupsAndADropInOverride() throws {
        let c = try ConfigLoader.load([
            (name: "a.toml", text: "[metrics]\nlisten = \"127.0.0.1:9464\"\nmax_groups = 50\n"),
            (name: "b.toml", text: "[metrics]\nlisten = \"[::1]:9100\"\n"),
        ])
        #expect(c.metrics.listen == .inet6([UInt8](repeating: 0, count: 15) + [1], port: 9100))
        #expect(c.metrics.maximumGroups == 50)
    }

    @Test(arguments: [
        ("[metrics]\nlisten = \"localhost:9464\"\n",
         "m.toml:2:10: metrics.listen: 'localhost' is not an IPv4 address (names are not resolved: write 127.0.0.1 or [::1])"),
        ("[metrics]\nlisten = \"127.0.0.1\"\n",
         "m.toml:2:10: metrics.listen: '127.0.0.1' needs an address and a port (127.0.0.1:9464, [::1]:9464) or an absolute socket path"),
        ("[metrics]\nlisten = \"127.0.0.1:0\"\n", "m.toml:2:10: metrics.listen: '0' is not a port (1 to 65535)"),
        ("[metrics]\nlisten = \"127.0.0.1:65536\"\n", "m.toml:2:10: metrics.listen: '65536' is not a port (1 to 65535)"),
        ("[metrics]\nlisten = \"127.0.0.1:-1\"\n", "m.toml:2:10: metrics.listen: '-1' is not a port (1 to 65535)"),
        ("[metrics]\nlisten = \"127.0.0.01:9464\"\n",
         "m.toml:2:10: metrics.listen: '127.0.0.01' is not an IPv4 address (names are not resolved: write 127.0.0.1 or [::1])"),
        ("[metrics]\nlisten = \"256.0.0.1:9464\"\n",
         "m.toml:2:10: metrics.listen: '256.0.0.1' is not an IPv4 address (names are not resolved: write 127.0.0.1 or [::1])"),
        ("[metrics]\nlisten = \"::1:9464\"\n", "m.toml:2:10: metrics.listen: '::1:9464': write an IPv6 address in brackets, e.g. [::1]:9464"),
        ("[metrics]\nlisten = \"[::1]\"\n", "m.toml:2:10: metrics.listen: '[::1]' needs a port: [::1]:9464"),
        ("[metrics]\nlisten = \"[::1:9464\"\n", "m.toml:2:10: metrics.listen: '[::1:9464': an IPv6 address ends with ']' before its port"),
        ("[metrics]\nlisten = \"[1::2::3]:9\"\n", "m.toml:2:10: metrics.listen: '1::2::3' is not an IPv6 address"),
        ("[metrics]\nlisten = \"[1:2:3:4:5:6:7:8:9]:9\"\n", "m.toml:2:10: metrics.listen: '1:2:3:4:5:6:7:8:9' is not an IPv6 address"),
        ("[metrics]\nlisten = \"[fe80::1%eth0]:9\"\n", "m.toml:2:10: metrics.listen: 'fe80::1%eth0' is not an IPv6 address"),
        ("[metrics]\nlisten = \"/run/cgwarden/\"\n", "m.toml:2:10: metrics.listen: '/run/cgwarden/' names a directory, not a socket"),
        ("[metrics]\nlisten = 9464\n", "m.toml:2:10: metrics.listen: must be a string, not an integer"),
        ("[metrics]\nmax_groups = 0\n",
         "m.toml:2:14: metrics.max_groups: must be a whole number from 1 to 10000 (each group is up to 15 series)"),
        ("[metrics]\nmax_groups = 10001\n",
         "m.toml:2:14: metrics.max_groups: must be a whole number from 1 to 10000 (each group is up to 15 series)"),
        ("[metrics]\nmax_groups = \"500\"\n",
         "m.toml:2:14: metrics.max_groups: must be a whole number from 1 to 10000 (each group is up to 15 series)"),
        ("[metrics]\nlisen = \"127.0.0.1:9464\"\n", "m.toml:2:1: metrics: lisen: unknown key (did you mean 'listen'?)"),
        ("metrics = \"127.0.0.1:9464\"\n", "m.toml:1:11: metrics: must be a table, not a string"),
    ])
    func badSettingsAreNamedByFileLineAndKey(text: String, expected: String) {
        #expect(errors(text) == [expected])
    }

    @Test func aSocketPathPastSunPathIsRefused() {
        let path = "/run/" + String(repeating: "x", count: 103)
        #expect(errors("[metrics]\nlisten = \"\(path)\"\n")
            == ["m.toml:2:10: metrics.listen: a Unix socket path is at most 107 bytes (sun_path), this is 108"])
        #expect(errors("[metrics]\nlisten = \"/run/" + String(repeating: "x", count: 102) + "\"\n").isEmpty)
    }
}
