// swift-tools-version: 6.0
import PackageDescription

// Dependency direction (see Docs/architecture.md):
//   cgwarden (main) -> CGWardenCommands -> CGWardenIO -> CGWardenCore
//                                       -> CGWardenPolicy -> CGWardenCore, TOML
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
        // C helpers for syscalls glibc does not wrap (getdents64, later openat2).
        .target(name: "CShims"),
        .target(name: "CGWardenIO", dependencies: ["CGWardenCore", "CShims"]),
        .target(
            name: "CGWardenCommands",
            dependencies: [
                "CGWardenCore", "CGWardenIO", "CGWardenPolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .executableTarget(name: "cgwarden", dependencies: ["CGWardenCommands"]),
        // A bounded memory allocator / process spawner the real-kernel tests and
        // the demo run inside cgroups. Never part of the installed product.
        .executableTarget(name: "cgwarden-testload", dependencies: ["CShims"], path: "Tests/Support/testload"),
        // Reproducible benchmarks on a real kernel (scripts/bench; Docs/performance.md).
        .executableTarget(
            name: "cgwarden-bench", dependencies: ["CGWardenIO", "CGWardenCore", "CGWardenPolicy", "CShims"],
            path: "Benchmarks/cgwarden-bench"),
        // Fixture trees and guards shared by the test targets.
        .target(name: "CGWardenTestSupport", dependencies: ["CShims"], path: "Tests/Support/TestSupport"),
        .testTarget(name: "CGWardenCoreTests", dependencies: ["CGWardenCore"]),
        .testTarget(name: "TOMLTests", dependencies: ["TOML"]),
        .testTarget(name: "CGWardenPolicyTests", dependencies: ["CGWardenPolicy", "CGWardenCore"]),
        .testTarget(name: "CGWardenIOTests", dependencies: ["CGWardenIO", "CGWardenCore", "CGWardenTestSupport"]),
        .testTarget(name: "CGWardenCommandsTests", dependencies: ["CGWardenCommands", "CGWardenTestSupport"]),
        .testTarget(
            name: "KernelTests",
            dependencies: ["CGWardenCommands", "CGWardenIO", "CGWardenCore", "CGWardenPolicy", "CGWardenTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
