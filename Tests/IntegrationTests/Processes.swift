import Foundation
import Testing

@testable import Shared

/// A `Worker` executable running against the test servers, killed at the end if still alive.
final class WorkerProcess: Sendable {
    private let process: Process

    /// Starts the built Worker binary (`TEST_WORKER_BIN`) in the servers' namespace.
    init(_ servers: TestServers, extra: [String: String], arguments: [String] = [], output: FileHandle? = nil) throws {
        guard let binary = TestServers.environment["TEST_WORKER_BIN"] else {
            throw TestSetupError("TEST_WORKER_BIN is unset: run the tests with scripts/test")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        var environment = ProcessInfo.processInfo.environment
        environment["REDIS_URL"] = try TestServers.urls().redis
        environment["MONGO_URI"] = servers.configuration.mongoURI
        environment["QUEUE_PREFIX"] = servers.configuration.keys.prefix
        if let cluster = servers.configuration.redis.cluster {
            environment["REDIS_CLUSTER_NODES"] = cluster.nodes.map(\.description).joined(separator: ",")
        }
        if servers.configuration.redis.cluster != nil || servers.configuration.keys.shards.count > 1 {
            environment["QUEUE_SHARDS"] = String(servers.configuration.keys.shards.count)
        }
        environment["LOG_LEVEL"] = "warning"
        environment.merge(extra) { _, new in new }
        process.environment = environment
        process.arguments = arguments
        process.standardOutput = output ?? FileHandle.nullDevice
        process.standardError = output ?? FileHandle.standardError
        try process.run()
        self.process = process
    }

    /// Sends `signal` to the process.
    func kill(signal: Int32) {
        if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
    }

    /// The exit status, once the process has exited.
    func waitForExit(timeout: Duration) async throws -> Int32 {
        try await eventually("the worker exits", timeout: timeout) { !process.isRunning }
        return process.terminationStatus
    }

    /// SIGTERM, then waits for the exit (SIGKILL after `timeout`): nothing outlives the test.
    func stop(timeout: Duration = .seconds(10)) async {
        kill(signal: SIGTERM)
        kill(signal: SIGCONT)  // a stopped process acts on SIGTERM only once it runs
        if (try? await waitForExit(timeout: timeout)) == nil { kill(signal: SIGKILL) }
        process.waitUntilExit()
    }

    deinit {
        // A test that threw before `stop()`: the process dies with the test, and is reaped here.
        if process.isRunning {
            Foundation.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Runs `Worker arguments…` (an admin command) to its end; its exit status and output.
    static func run(_ servers: TestServers, _ arguments: [String]) async throws -> (status: Int32, output: String) {
        let pipe = Pipe()
        let process = try WorkerProcess(servers, extra: [:], arguments: arguments, output: pipe.fileHandleForWriting)
        let status = try await process.waitForExit(timeout: .seconds(30))
        try pipe.fileHandleForWriting.close()
        return (status, String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }
}

/// A server of the test's own (redis-server or nx-27017) on a free port, that the test may
/// stop and start again.
final class ServerProcess: @unchecked Sendable {
    // @unchecked Sendable: used by one test at a time; `process` is only replaced in start().
    let port: Int
    private let executable: String
    private let arguments: [String]
    private var process: Process?
    /// A directory of its own (a sentinel's configuration), removed when it stops.
    private var scratch: URL?

    /// redis-server (`TEST_REDIS_SERVER_BIN`), started at once, without persistence; a replica
    /// of the server on `masterPort` when given.
    static func redis(replicaOf masterPort: Int? = nil) throws -> ServerProcess {
        let server = try ServerProcess(executable: TestServers.environment["TEST_REDIS_SERVER_BIN"] ?? "/usr/bin/redis-server") { port in
            ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
                + (masterPort.map { ["--replicaof", "127.0.0.1", String($0)] } ?? [])
        }
        try server.start()
        return server
    }

    /// A Redis Cluster node (its nodes.conf in a directory of its own), node timeout 1 s, not in
    /// a cluster yet (`ClusterTests.Deployment` creates one).
    static func clusterNode() throws -> ServerProcess {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let server = try ServerProcess(executable: TestServers.environment["TEST_REDIS_SERVER_BIN"] ?? "/usr/bin/redis-server", arguments: { port in
            ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory.path,
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "1000"]
        }, clusterBus: true)
        server.scratch = directory
        try server.start()
        return server
    }

    /// A sentinel (redis-server in sentinel mode) watching the master on `masterPort` as `name`,
    /// quorum 2, the master deemed down after 1 s; its configuration file in a directory of its own.
    static func sentinel(watching masterPort: Int, name: String) throws -> ServerProcess {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sentinel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("sentinel.conf")
        try """
            sentinel monitor \(name) 127.0.0.1 \(masterPort) 2
            sentinel down-after-milliseconds \(name) 1000
            sentinel failover-timeout \(name) 10000
            sentinel parallel-syncs \(name) 1

            """.write(to: file, atomically: true, encoding: .utf8)
        let server = try ServerProcess(executable: TestServers.environment["TEST_REDIS_SERVER_BIN"] ?? "/usr/bin/redis-server") { port in
            [file.path, "--sentinel", "--port", String(port), "--bind", "127.0.0.1", "--dir", directory.path]
        }
        server.scratch = directory
        try server.start()
        return server
    }

    /// nx-27017 (`TEST_NX_BIN`) with an in-memory database, not started yet.
    static func nx() throws -> ServerProcess {
        guard let binary = TestServers.environment["TEST_NX_BIN"] else {
            throw TestSetupError("TEST_NX_BIN is unset: run the tests with scripts/test")
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("nx-\(UUID().uuidString)").path
        return try ServerProcess(executable: binary) { port in
            ["--db", "memory", "--port", String(port), "--log-file", scratch + ".log", "--pid-file", scratch + ".pid"]
        }
    }

    private init(executable: String, arguments: (Int) -> [String], clusterBus: Bool = false) throws {
        var port = try Self.freePort()
        // A cluster node's bus listens 10,000 above its port: at most 55535, and that one free too.
        while clusterBus, port > 55_535 || Self.accepts(port: port + 10_000) { port = try Self.freePort() }
        self.port = port
        self.executable = executable
        self.arguments = arguments(port)
    }

    /// Starts it (again) on the same port and waits until it answers.
    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        for _ in 0..<200 {
            if Self.accepts(port: port) { return }
            usleep(50_000)
        }
        throw TestSetupError("\(executable) did not start on port \(port)")
    }

    /// Sends `signal` (SIGSTOP: a hung server that accepts and never answers; SIGCONT: back).
    func send(_ signal: Int32) {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, signal)
    }

    /// Stops it and waits until the port is closed.
    func stop() {
        defer {
            if let scratch { try? FileManager.default.removeItem(at: scratch) }
        }
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        for _ in 0..<100 where process.isRunning || Self.accepts(port: port) {
            usleep(50_000)
        }
    }

    deinit { stop() }

    private static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    private static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw TestSetupError("no free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
