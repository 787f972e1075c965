// swift-tools-version:6.1
// Phalanx: a distributed task cluster with four layers of defense.
// Module arrows follow docs/architecture.md: pure logic depends on nothing that does I/O.
import PackageDescription

let package = Package(
    name: "phalanx",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "PhalanxResilience", targets: ["PhalanxResilience"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/pointfreeco/swift-clocks.git", from: "1.1.1"),
    ],
    targets: [
        .target(
            name: "PhalanxResilience",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
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
    ],
    swiftLanguageModes: [.v6]
)
