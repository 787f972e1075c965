// swift-tools-version:6.1
// Benchmarks live apart from the main package and never run as tests.
// Run: cd Benchmarks && swift package benchmark
import PackageDescription

let package = Package(
    name: "phalanx-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "phalanx", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "ResilienceBenchmarks",
            dependencies: [
                .product(name: "PhalanxResilience", package: "phalanx"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/ResilienceBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "WireBenchmarks",
            dependencies: [
                .product(name: "PhalanxWire", package: "phalanx"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PhalanxResilience", package: "phalanx"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/WireBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
