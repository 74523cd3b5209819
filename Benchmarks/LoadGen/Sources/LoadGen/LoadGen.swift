import ArgumentParser
import Foundation
import Histogram
import NIOCore
import NIOPosix

/// Command-line entry point: parses the options, runs the load on one event loop and prints the `BENCH` line.
@main
struct LoadGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "LoadGen",
        abstract: "Open-loop (constant arrival rate) HTTP/1.1 POST load generator.",
        discussion: "Latency is measured from each request's intended start time (t0 + i/rate) to its full response.")

    @Option(help: "Target URL, plain http only, e.g. http://127.0.0.1:3100/event.") var url: String
    @Option(help: "Target arrival rate in requests per second.") var rate: Int
    @Option(help: "Measured duration in seconds.") var duration: Double
    @Option(help: "Keep-alive connections, one request in flight on each.") var connections: Int = 64
    @Option(help: "File whose contents are POSTed as the body of every request.") var bodyFile: String
    @Option(help: "Content-Type header of every request.") var contentType: String = "application/json"
    @Option(help: "Seconds run at the same rate before measuring; not recorded.") var warmup: Double = 2

    /// Rejects option values the schedule cannot work with.
    func validate() throws {
        guard rate > 0, duration > 0, connections > 0, warmup >= 0 else {
            throw ValidationError("--rate, --duration and --connections must be positive, --warmup not negative")
        }
    }

    /// Runs warmup plus measured window on a single-threaded loop group, then reports.
    func run() throws {
        guard let body = FileManager.default.contents(atPath: bodyFile) else {
            throw ValidationError("cannot read --body-file \(bodyFile)")
        }
        let config = LoadConfig(
            target: try Target(parsing: url), rate: rate, duration: duration, warmup: warmup,
            connections: connections, body: ByteBuffer(bytes: body), contentType: contentType)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let outcome = Result { try loop.flatSubmit { LoadRunner(config: config, eventLoop: loop).start() }.wait() }
        try group.syncShutdownGracefully()
        let report = try outcome.get()
        print(report.benchLine)
        if let note = report.note {
            FileHandle.standardError.write(Data("LoadGen: \(note)\n".utf8))
        }
    }
}

/// Everything the runner needs, fixed before the loop starts.
struct LoadConfig: Sendable {
    let target: Target
    let rate: Int
    let duration: Double
    let warmup: Double
    let connections: Int
    let body: ByteBuffer
    let contentType: String
}

/// Host, port, request target and Host header taken from an `http://` URL.
struct Target: Sendable {
    let host: String
    let port: Int
    let path: String
    let hostHeader: String

    /// Parses `http://host[:port][/path][?query]`; anything else is a usage error.
    init(parsing string: String) throws {
        guard let parts = URLComponents(string: string), parts.scheme == "http", let host = parts.host, !host.isEmpty
        else { throw ValidationError("--url must look like http://host[:port]/path") }
        self.host = host
        self.port = parts.port ?? 80
        let path = parts.percentEncodedPath.isEmpty ? "/" : parts.percentEncodedPath
        self.path = parts.percentEncodedQuery.map { "\(path)?\($0)" } ?? path
        let bracketed = host.contains(":") ? "[\(host)]" : host
        self.hostHeader = parts.port.map { "\(bracketed):\($0)" } ?? bracketed
    }
}

/// The outcome of the measured window.
struct LoadReport: Sendable {
    let rate: Int
    let duration: Double
    let latencies: Histogram<UInt64>  // microseconds from intended start to full response
    let completed: Int
    let errors: Int
    let non2xx: Int
    let unsent: Int  // intended requests still queued when the window ended
    let timedOut: Int  // requests in flight after the drain timeout (also counted in errors)

    /// Completed measured requests per second of the measured window.
    var achieved: Double { Double(completed) / duration }

    /// The single machine-readable result line.
    var benchLine: String {
        /// Formats a microsecond value as milliseconds with two decimals.
        func ms(_ us: UInt64) -> String { String(format: "%.2f", Double(us) / 1000) }
        return "BENCH rate=\(rate) achieved=\(String(format: "%.1f", achieved))"
            + " p50=\(ms(latencies.valueAtPercentile(50))) p99=\(ms(latencies.valueAtPercentile(99)))"
            + " p999=\(ms(latencies.valueAtPercentile(99.9))) max=\(ms(latencies.max)) errors=\(errors) non2xx=\(non2xx)"
    }

    /// A warning for stderr when the run did not deliver the target rate, else nil.
    var note: String? {
        guard timedOut > 0 || achieved < 0.95 * Double(rate) else { return nil }
        return "target not delivered: achieved \(String(format: "%.1f", achieved))/s of \(rate)/s; "
            + "\(unsent) intended requests were still queued (never sent) at the end, "
            + "\(timedOut) got no response within the 5 s drain. Either the server or the generator could not keep up."
    }
}
