import Testing
import TOML

@Test func realisticConfig() throws {
    let text = """
        # cgwarden
        [daemon]
        interval = "1s"
        protect = ["/init.scope", "/system.slice/cgwarden.service"]

        [[guard]]
        name = "tenants"
        match = "/tenants.slice/*"
          [guard.trigger]
          memory_percent = 90
          for = "10s"

        [[guard]]
        name = "batch"
        match = "/batch.slice/*"
        trigger = { memory_percent = 95, for = "30s" }
        """
    let config = try parseTOML(text, file: "cgwarden.toml")
    #expect(config.keys == ["daemon", "guard"])
    let daemon = try #require(config["daemon"])
    #expect(daemon.location == TOMLLocation(line: 2, column: 1))
    #expect(daemon.value.tableValue?.keys == ["interval", "protect"])
    #expect(daemon["interval"] == TOMLNode(value: .string("1s"), location: TOMLLocation(line: 3, column: 12)))
    #expect(daemon["protect"]?.value.arrayValue?.map(\.value) == [.string("/init.scope"), .string("/system.slice/cgwarden.service")])
    #expect(daemon["protect"]?.value.arrayValue?.map(\.location.column) == [12, 27])

    let guards = try #require(config["guard"]?.value.arrayValue)
    #expect(guards.count == 2)
    #expect(guards.map(\.location.line) == [6, 13])
    #expect(guards[0].value.tableValue?.keys == ["name", "match", "trigger"])
    #expect(guards[0]["name"]?.value.stringValue == "tenants")
    let trigger = try #require(guards[0]["trigger"])
    #expect(trigger.location == TOMLLocation(line: 9, column: 3))
    #expect(trigger["memory_percent"] == TOMLNode(value: .integer(90), location: TOMLLocation(line: 10, column: 20)))
    #expect(trigger["for"]?.value == .string("10s"))
    #expect(guards[1]["trigger"]?.location == TOMLLocation(line: 16, column: 11))
    #expect(guards[1]["trigger"]?["for"]?.value == .string("30s"))
}

@Test func configErrorsNameFileLineAndKey() {
    let text = """
        [daemon]
        interval = "1s"

        [[guard]]
        name = "tenants"
        match = "/tenants.slice/*"
        name = "again"
        """
    #expect(throws: TOMLError(file: "cgwarden.toml", location: TOMLLocation(line: 7, column: 1),
                              message: "duplicate key 'name' (first defined at line 5)")) {
        try parseTOML(text, file: "cgwarden.toml")
    }
}
