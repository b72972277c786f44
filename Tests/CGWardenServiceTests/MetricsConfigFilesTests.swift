#if canImport(Glibc)
import Glibc
#endif
import Testing
import CGWardenCore
import CGWardenTestSupport
@testable import CGWardenService

/// The shipped alert rules and Grafana dashboard, checked with Prometheus's
/// own tool and against what the endpoint renders.
@Suite struct MetricsConfigFilesTests {
    static let alerts = repositoryRoot() + "/Configs/prometheus/cgwarden-alerts.yml"
    static let alertTests = repositoryRoot() + "/Configs/prometheus/cgwarden-alerts.test.yml"
    static let dashboard = repositoryRoot() + "/Configs/grafana/cgwarden.json"

    /// Every family a rendering declares (`_bucket`, `_sum`, `_count` for histograms).
    func declared() throws -> Set<String> {
        let (recorder, _) = MetricsFixture.recorder(steps: 4)
        let text = MetricsFixture.text(try #require(recorder.board.latest))
        var names = Set<String>()
        for line in text.split(separator: "\n") where line.hasPrefix("# TYPE ") {
            let f = line.split(separator: " ")
            names.insert(String(f[2]))
            if f[3] == "histogram" { for s in ["_bucket", "_sum", "_count"] { names.insert(String(f[2]) + s) } }
        }
        return names
    }

    func used(_ text: String) -> Set<String> {
        var names = Set<String>()
        var rest = Substring(text)
        while let r = rest.firstRange(of: "cgwarden_") {
            names.insert(String(rest[r.lowerBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" }))
            rest = rest[r.upperBound...]
        }
        return names
    }

    @Test func promtoolChecksAndTestsTheRules() throws {
        let check = try runCommand(["promtool", "check", "rules", MetricsConfigFilesTests.alerts])
        #expect(check.status == 0 && check.output.contains("SUCCESS: 11 rules found"), "\(check.output)")
        let test = try runCommand(["/bin/sh", "-c", "cd \(repositoryRoot())/Configs/prometheus && promtool test rules cgwarden-alerts.test.yml 2>&1"])
        #expect(test.status == 0 && test.output.contains("SUCCESS"), "\(test.output)")
    }

    @Test func theRulesUseOnlyRenderedMetrics() throws {
        let names = used(readFile(MetricsConfigFilesTests.alerts) ?? "")
        #expect(names.count >= 10)
        let missing = names.subtracting(try declared())
        #expect(missing.isEmpty, "\(missing.sorted())")
    }

    /// Every query of the dashboard is PromQL that Prometheus parses (checked
    /// as recording rules, Grafana's variables filled in), on metrics the
    /// endpoint renders.
    @Test func theDashboardQueriesParseAndUseRenderedMetrics() throws {
        let text = try #require(readFile(MetricsConfigFilesTests.dashboard))
        let json = try JSON.parse(text)
        var exprs: [String] = []
        for panel in json["panels"]?.arrayValue ?? [] {
            for target in panel["targets"]?.arrayValue ?? [] { if let e = target["expr"]?.stringValue { exprs.append(e) } }
        }
        for a in json["annotations"]?["list"]?.arrayValue ?? [] { if let e = a["expr"]?.stringValue { exprs.append(e) } }
        #expect(exprs.count >= 20)
        let names = used(exprs.joined(separator: "\n"))
        let missing = names.subtracting(try declared())
        #expect(missing.isEmpty, "\(missing.sorted())")
        let dir = TempDir()
        defer { dir.remove() }
        var rules = "groups:\n  - name: dashboard\n    rules:\n"
        for (i, e) in exprs.enumerated() {
            let filled = e.replacingOccurrences("$__rate_interval", "5m").replacingOccurrences("$instance", ".*")
            rules += "      - record: dashboard:query\(i)\n        expr: '\(filled.replacingOccurrences("'", "''"))'\n"
        }
        writeFile(dir.path + "/dashboard-rules.yml", rules)
        let check = try runCommand(["/bin/sh", "-c", "promtool check rules \(dir.path)/dashboard-rules.yml 2>&1"])
        #expect(check.status == 0, "\(check.output)\n\(rules)")
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let r = rest.firstRange(of: target) {
            out += rest[..<r.lowerBound] + replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}
