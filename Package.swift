// swift-tools-version:6.1
// Phalanx: a distributed task cluster with four layers of defense.
// Module arrows follow docs/architecture.md: pure logic depends on nothing that does I/O.
import PackageDescription

// The pure machines are generic over the shell's message types (CoordinatorMachine<Spec, Output>).
// Without cross-module optimization their code runs unspecialized in the shell's module (every
// dictionary operation through value witnesses): measured 30-40 % less throughput end to end.
let crossModuleOptimized: [SwiftSetting] = [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]

let package = Package(
    name: "phalanx",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "PhalanxResilience", targets: ["PhalanxResilience"]),
        .library(name: "PhalanxCore", targets: ["PhalanxCore"]),
        .library(name: "PhalanxWire", targets: ["PhalanxWire"]),
        .library(name: "PhalanxStore", targets: ["PhalanxStore"]),
        .library(name: "PhalanxTransport", targets: ["PhalanxTransport"]),
        .library(name: "PhalanxCluster", targets: ["PhalanxCluster"]),
        .library(name: "PhalanxClient", targets: ["PhalanxClient"]),
        .executable(name: "phalanx", targets: ["phalanx"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/pointfreeco/swift-clocks.git", from: "1.1.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
    ],
    targets: [
        // The four layers of defense as a standalone library: no networking, time injected.
        .target(
            name: "PhalanxResilience",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: crossModuleOptimized
        ),
        // The protocols as pure value-type machines: no sockets, no disk, no clock reads.
        .target(name: "PhalanxCore", dependencies: ["PhalanxResilience"], swiftSettings: crossModuleOptimized),
        // Bytes ↔ messages: generated protobuf, frame codec, conversions.
        .target(
            name: "PhalanxWire",
            dependencies: [
                "PhalanxCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
        // The disk edge: the durable task ledger in SQLite (GRDB), with group commit.
        .target(
            name: "PhalanxStore",
            dependencies: [
                "PhalanxCore", "PhalanxResilience", "PhalanxWire", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ]
        ),
        // The network edge: the only module that opens sockets.
        .target(
            name: "PhalanxTransport",
            dependencies: [
                "PhalanxWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // Coordinator and worker runtimes: actors that step the Core machines.
        .target(
            name: "PhalanxCluster",
            dependencies: [
                "PhalanxCore", "PhalanxResilience", "PhalanxWire", "PhalanxTransport", "PhalanxStore",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The Swift client API.
        .target(
            name: "PhalanxClient",
            dependencies: [
                "PhalanxWire", "PhalanxTransport", "PhalanxResilience",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The command-line tool: one subcommand per file, configuration layering.
        .executableTarget(
            name: "phalanx",
            dependencies: [
                "PhalanxCluster", "PhalanxClient", "PhalanxStore", "PhalanxWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // An example of a user's own worker executable with its own task handler.
        .executableTarget(
            name: "custom-worker-example",
            dependencies: ["PhalanxCluster"],
            path: "Examples/CustomWorker"
        ),
        // Test support: certificates, an in-process coordinator, raw TLS peers, a process harness,
        // Prometheus text read back, a local receiver of Loki's push API.
        .target(
            name: "PhalanxTesting",
            dependencies: [
                "PhalanxTransport", "PhalanxCluster", "PhalanxClient", "PhalanxWire", "PhalanxCore", "PhalanxStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "PhalanxResilienceTests",
            dependencies: [
                "PhalanxResilience",
                .product(name: "Clocks", package: "swift-clocks"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "InMemoryLogging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "PhalanxCoreTests", dependencies: ["PhalanxCore"]),
        .testTarget(
            name: "PhalanxWireTests",
            dependencies: [
                "PhalanxWire",
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "PhalanxTransportTests",
            dependencies: [
                "PhalanxTransport", "PhalanxCluster", "PhalanxClient", "PhalanxWire", "PhalanxCore", "PhalanxTesting", "PhalanxStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "PhalanxStoreTests", dependencies: ["PhalanxStore", "PhalanxCore"]),
        .testTarget(name: "PhalanxClientTests", dependencies: ["PhalanxClient", "PhalanxResilience"]),
        .testTarget(
            name: "PhalanxClusterTests",
            dependencies: [
                "PhalanxCluster", "PhalanxResilience", "PhalanxWire", "PhalanxTransport", "PhalanxCore", "PhalanxTesting", "PhalanxStore",
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The command-line tool's own pieces (log lines, the Loki push), tested in process.
        .testTarget(
            name: "PhalanxCommandTests",
            dependencies: [
                "phalanx", "PhalanxTransport", "PhalanxTesting",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "PhalanxEndToEndTests",
            dependencies: [
                "PhalanxClient", "PhalanxTesting", "PhalanxWire", "PhalanxCore", "PhalanxTransport", "PhalanxStore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
