// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "payfleet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "payfleet", targets: ["payfleet"]),
        // The producer process of `payfleet bench kafka` (only the Kafka module, as kcat holds only librdkafka).
        .executable(name: "payfleet-kafka-produce", targets: ["payfleet-kafka-produce"]),
        .library(name: "Kafka", targets: ["Kafka"]),
        .library(name: "Payments", targets: ["Payments"]),
        // The parser entry points the fuzzers in Fuzz/ drive (and the corpus regression test replays).
        .library(name: "FuzzTargets", targets: ["FuzzTargets"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Already resolved through async-http-client; named here because the vendor client builds
        // TLS client identities (mutual TLS for WeChat Pay v2 refunds).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // `payfleet demo --bench` latency percentiles
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // MARK: Observability (log keys, metric names and instruments shared by every module)
        .target(
            name: "Observability",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),

        // MARK: Kafka
        .systemLibrary(
            name: "CRdKafka",
            path: "Sources/CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .target(
            name: "Kafka",
            dependencies: [
                "CRdKafka",
                "Observability",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Yams", package: "Yams"),
            ],
            // topics/*.yaml, bundled by scripts/generate-topics.sh, carried by the binary
            resources: [.embedInCode("Topics/BuiltIn/topics.bundle")]
        ),

        // MARK: gzip through the system zlib (vendor bills; the sandbox serves them compressed)
        .systemLibrary(
            name: "CZlib",
            path: "Sources/CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .target(name: "Zlib", dependencies: ["CZlib"]),

        // MARK: Vendors (one target per vendor family; nothing vendor-specific leaks out of its folder)
        .target(
            name: "Payments",
            dependencies: [
                "Observability",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/Vendors/Core"
        ),
        .target(
            name: "WeChatPay",
            dependencies: [
                "Payments",
                "Observability",
                "Zlib",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Sources/Vendors/WeChatPay"
        ),
        .target(name: "YunGouOS", dependencies: vendorDeps, path: "Sources/Vendors/YunGouOS"),
        .target(name: "Leshouying", dependencies: vendorDeps, path: "Sources/Vendors/Leshouying"),
        .target(name: "StorePOS", dependencies: vendorDeps, path: "Sources/Vendors/StorePOS"),

        // MARK: Vendor simulator (independent of the client code on purpose)
        .target(
            name: "Sandbox",
            dependencies: [
                "Zlib",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: The fleet: worker, ingress, scheduler, contracts, configuration
        .target(
            name: "Fleet",
            dependencies: [
                "Kafka", "Payments", "WeChatPay", "YunGouOS", "Leshouying", "StorePOS",
                "Observability",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Collections", package: "swift-collections"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),

        // MARK: Development: the whole fleet with the vendor simulator in one process (`payfleet dev`,
        // `payfleet sandbox`, `payfleet demo`, the end-to-end tests); the fleet itself never needs the simulator.
        .target(
            name: "FleetDev",
            dependencies: [
                "Fleet", "Kafka", "Payments", "Sandbox",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // MARK: `payfleet bench kafka`'s producer run, and the lean process that runs it
        .target(
            name: "KafkaProduceBench",
            dependencies: ["Kafka", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "payfleet-kafka-produce",
            dependencies: ["Kafka", "KafkaProduceBench", .product(name: "Logging", package: "swift-log")],
            // Linked as the image links payfleet (`--static-swift-stdlib`, deploy/Dockerfile), in every
            // build: the Swift runtime and Foundation inside the binary, so that, like kcat, the
            // process loads librdkafka and the C libraries only, and the benchmark does not time the
            // dynamic loader binding the Swift libraries (about 6 ms a start).
            // (A dynamic build's objects do not name Foundation's internal libraries for the linker,
            // as the static modules' do: named here.)
            linkerSettings: [
                .unsafeFlags(
                    [
                        "-static-stdlib", "-Xlinker", "--start-group", "-lFoundation", "-lCoreFoundation",
                        "-lFoundationEssentials", "-lFoundationInternationalization", "-l_FoundationICU",
                        "-l_FoundationCShims", "-l_FoundationCollections", "-Xlinker", "--end-group",
                    ], .when(platforms: [.linux]))
            ]
        ),

        // MARK: The CLI (thin)
        .executableTarget(
            name: "payfleet",
            dependencies: [
                // StorePOS: `bench ingress` signs callbacks; StorePOS and WeChatPay: `bench signing`
                "Kafka", "Payments", "StorePOS", "WeChatPay", "Sandbox", "Fleet", "FleetDev", "KafkaProduceBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // MARK: Tests
        .testTarget(name: "KafkaTests", dependencies: ["Kafka"]),
        .testTarget(name: "PaymentsTests", dependencies: ["Payments"]),
        .testTarget(
            name: "AggregatorTests",
            dependencies: [
                "YunGouOS", "Leshouying", "StorePOS", "Payments", "Sandbox",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "WeChatPayTests",
            dependencies: [
                "WeChatPay", "Payments", "Sandbox", "Zlib",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            // The conformance corpus is read by path (#filePath), not bundled.
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "FleetTests",
            dependencies: [
                "Fleet", "FleetDev", "Kafka", "Payments", "Sandbox", "WeChatPay", "YunGouOS", "Leshouying", "StorePOS",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "Observability",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),

        // MARK: Fuzzing: the parsers of outside bytes as plain functions (driven by Fuzz/, replayed by the test)
        .target(
            name: "FuzzTargets",
            dependencies: [
                "Fleet", "Kafka", "Payments", "WeChatPay", "YunGouOS", "Leshouying", "StorePOS",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzTargets"]),
    ]
)

// Warnings are errors in the package's own targets (a dependency's warnings are not ours to fix).
for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + [.treatAllWarnings(as: .error)]
}

var vendorDeps: [Target.Dependency] {
    [
        "Payments",
        "Observability",
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "AsyncHTTPClient", package: "async-http-client"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "Metrics", package: "swift-metrics"),
    ]
}
