// swift-tools-version:6.0
import PackageDescription

// The baseline for ingest benchmarks: the same Hummingbird version as IngestAPI, with a
// POST handler that reads the body and answers 202 without doing anything else.
let package = Package(
    name: "BareServer",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", exact: "2.28.1"),
    ],
    targets: [
        .executableTarget(name: "BareServer", dependencies: [.product(name: "Hummingbird", package: "hummingbird")]),
    ],
    swiftLanguageModes: [.v6]
)
