// swift-tools-version: 6.0
import PackageDescription

// Dependency direction (see Docs/architecture.md):
//   cgwarden (main) -> CGWardenCommands -> CGWardenService -> CGWardenActions -> CGWardenSandbox -> CGWardenSystem -> CGWardenCore
//                                                                            -> CGWardenIO -> CGWardenSystem
//                                                          -> CGWardenPolicy -> CGWardenCore, TOML
//                                                          -> CGWardenStore -> CGWardenSystem, CSQLite
// CGWardenCore, TOML and CGWardenPolicy are pure: no file access, no syscalls, no Foundation.
let package = Package(
    name: "cgwarden",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "cgwarden", targets: ["cgwarden"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(name: "CGWardenCore"),
        // TOML 1.0 with a source location on every key and value (config errors name file:line:column).
        .target(name: "TOML"),
        // Pure: the config language, rules, triggers, ranking and the decision.
        .target(name: "CGWardenPolicy", dependencies: ["CGWardenCore", "TOML"]),
        // C helpers for syscalls glibc does not wrap (getdents64, openat2, ...).
        .target(name: "CShims"),
        // libseccomp (the kill helper's allow-list), through pkg-config.
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        // libsystemd: sd_notify (READY, STATUS, WATCHDOG) and journal fields for the daemon.
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // libsqlite3: the event store (Docs/events.md says why the C library and not a Swift one).
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // The one system-call layer of the I/O edges: SystemError, the errno/EINTR
        // funnel, every wrapper (files, listings, processes, sockets, credentials,
        // clocks), the bounded read buffer, and the kernel's wake-up sources
        // (poll, signalfd, inotify, PSI triggers). Core for the values its calls
        // take and give (names as listed, paths, timestamps).
        .target(name: "CGWardenSystem", dependencies: ["CGWardenCore", "CShims"]),
        .target(name: "CGWardenIO", dependencies: ["CGWardenCore", "CGWardenSystem"]),
        // The metrics endpoint's HTTP side: a small HTTP/1.1 responder on a
        // thread of its own over non-blocking sockets and one poll (no NIO:
        // two GET paths do not need its threads and memory).
        .target(name: "CGWardenEndpoint", dependencies: ["CGWardenCore", "CGWardenSystem"]),
        // Sandbox primitives: seccomp filters, spawned helpers on a socketpair,
        // opening beneath a directory, dropping privileges.
        .target(name: "CGWardenSandbox", dependencies: ["CGWardenCore", "CGWardenSystem", "CShims", "CSeccomp"]),
        // The kill path: the privileged helper, its launcher, the client.
        .target(name: "CGWardenActions",
                dependencies: ["CGWardenCore", "CGWardenSystem", "CGWardenIO", "CGWardenSandbox"]),
        // The event history: a SQLite database in WAL mode under the state
        // directory, its schema and migrations, retention, and the queries of
        // `cgwarden events` and `status` (an I/O edge over CSQLite).
        .target(name: "CGWardenStore", dependencies: ["CGWardenCore", "CGWardenSystem", "CSQLite"]),
        // Orchestration between the commands and the libraries: the snapshot
        // source, the privileged start, the policy session and replay, the daemon.
        .target(name: "CGWardenService",
                dependencies: ["CGWardenCore", "CGWardenSystem", "CGWardenIO", "CGWardenPolicy", "CGWardenActions",
                               "CGWardenSandbox", "CGWardenStore", "CGWardenEndpoint", "CSystemd"]),
        .target(
            name: "CGWardenCommands",
            dependencies: [
                "CGWardenCore", "CGWardenSystem", "CGWardenIO", "CGWardenPolicy", "CGWardenActions", "CGWardenSandbox",
                "CGWardenService", "CGWardenStore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "cgwarden", dependencies: ["CGWardenCommands"]),
        // A bounded memory allocator / process spawner the real-kernel tests and
        // the demo run inside cgroups. Never part of the installed product.
        .executableTarget(name: "cgwarden-testload", dependencies: ["CShims"], path: "Tests/Support/testload"),
        // Drives the kill client from a process that drops to nobody (kernel tests).
        .executableTarget(
            name: "cgwarden-testclient", dependencies: ["CGWardenActions", "CGWardenSandbox", "CGWardenCore"],
            path: "Tests/Support/testclient"),
        // Reproducible benchmarks on a real kernel (scripts/bench; Docs/performance.md).
        .executableTarget(
            name: "cgwarden-bench",
            dependencies: ["CGWardenSystem", "CGWardenIO", "CGWardenCore", "CGWardenPolicy", "CGWardenActions",
                           "CGWardenService", "CGWardenEndpoint", "CGWardenStore", "CShims"],
            path: "Benchmarks/cgwarden-bench"),
        // Fuzzing (Tests/Fuzz/README.md): kernel-file parsers, TOML and the config
        // loader, the helper's wire decoders. A seeded mutation run by default
        // (scripts/test); libFuzzer's driver when built with -DCGWARDEN_LIBFUZZER
        // and libFuzzer's instrumentation (scripts/fuzz).
        .target(name: "CFuzzDriver", path: "Tests/Fuzz/CFuzzDriver"),
        .executableTarget(
            name: "cgwarden-fuzz",
            dependencies: ["CGWardenCore", "TOML", "CGWardenPolicy", "CGWardenCommands", "CFuzzDriver"],
            path: "Tests/Fuzz/Harness"),
        // Fixture trees and guards shared by the test targets.
        .target(name: "CGWardenTestSupport", dependencies: ["CShims"], path: "Tests/Support/TestSupport"),
        .testTarget(name: "CGWardenCoreTests", dependencies: ["CGWardenCore"]),
        .testTarget(name: "TOMLTests", dependencies: ["TOML"]),
        .testTarget(name: "CGWardenPolicyTests", dependencies: ["CGWardenPolicy", "CGWardenCore"]),
        .testTarget(name: "CGWardenIOTests",
                    dependencies: ["CGWardenIO", "CGWardenSystem", "CGWardenCore", "CGWardenTestSupport"]),
        .testTarget(
            name: "CGWardenActionsTests",
            dependencies: ["CGWardenActions", "CGWardenSandbox", "CGWardenSystem", "CGWardenIO", "CGWardenCore",
                           "CGWardenTestSupport"]),
        .testTarget(name: "CGWardenCommandsTests", dependencies: ["CGWardenCommands", "CGWardenTestSupport"]),
        .testTarget(name: "CGWardenServiceTests",
                    dependencies: ["CGWardenService", "CGWardenPolicy", "CGWardenSystem", "CGWardenCore", "CGWardenEndpoint",
                                   "CGWardenTestSupport"]),
        .testTarget(
            name: "CGWardenStoreTests",
            dependencies: ["CGWardenStore", "CGWardenService", "CGWardenCommands", "CGWardenPolicy", "CGWardenSystem",
                           "CGWardenCore", "CGWardenTestSupport"]),
        .testTarget(
            name: "KernelTests",
            dependencies: ["CGWardenCommands", "CGWardenActions", "CGWardenSandbox", "CGWardenSystem", "CGWardenIO",
                           "CGWardenCore", "CGWardenPolicy", "CGWardenService", "CGWardenStore", "CGWardenEndpoint",
                           "CGWardenTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
