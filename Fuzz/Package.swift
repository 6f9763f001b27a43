// swift-tools-version:6.1
import PackageDescription

// The libFuzzer driver of PayFleet's parsers. A package of its own, so that the product's
// `swift build --build-tests` never builds it; `scripts/fuzz.sh` builds it with
// `--sanitize=fuzzer --sanitize=address` and runs each target (docs/fuzzing.md).
let package = Package(
    name: "payfleet-fuzz",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "payfleet", path: "..")
    ],
    targets: [
        // One executable for every target (PAYFLEET_FUZZ_TARGET chooses): one sanitized link of
        // the whole product instead of seven.
        .executableTarget(
            name: "PayFleetFuzz",
            dependencies: [.product(name: "FuzzTargets", package: "payfleet")]
        )
    ]
)
