import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A small pool of hiredis connections whose blocking I/O runs on threads of its own,
/// never on a SwiftNIO event loop or the Swift concurrency pool.
///
/// At most `maxConnections` commands run at once, one per thread, so a thread never waits
/// for a connection. A dropped connection is discarded and replaced on next use; while
/// Redis is unreachable, new connects back off exponentially (50 ms doubling to 2 s) and
/// calls fail fast with `RedisError.unavailable` instead of each waiting for a TCP timeout.
public final class RedisClient: Sendable {
    /// The configuration connections are made with.
    public let configuration: RedisConfiguration
    private let threads: NIOThreadPool
    private let state: NIOLockedValueBox<State>
    private let logger: Logger

    private struct State {
        var idle: [RedisConnection] = []
        var consecutiveConnectFailures = 0
        var nextConnectAttempt = NIODeadline.uptimeNanoseconds(0)
        var lastConnectError = ""
        var isShutdown = false
    }

    /// Creates a client; `maxConnections` bounds both threads and connections.
    public init(configuration: RedisConfiguration, maxConnections: Int = 4, logger: Logger) {
        self.configuration = configuration
        self.threads = NIOThreadPool(numberOfThreads: max(1, maxConnections))
        self.state = NIOLockedValueBox(State())
        self.logger = logger
        threads.start()
    }

    /// Closes idle connections and stops the threads; later calls throw `.shutdown`.
    public func shutdown() async {
        state.withLockedValue { state in
            state.isShutdown = true
            state.idle = []
        }
        try? await threads.shutdownGracefully()
    }

    /// Sends one command and returns its reply (error replies are returned, not thrown).
    public func send(_ command: RedisCommand, extraTimeout: Duration = .zero) async throws(RedisError) -> RedisReply {
        try await pipeline([command], extraTimeout: extraTimeout)[0]
    }

    /// Sends the commands in one round trip and returns their replies in order.
    public func pipeline(_ commands: [RedisCommand], extraTimeout: Duration = .zero) async throws(RedisError) -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        do {
            return try await threads.runIfActive { [self] in
                try self.runBlocking(commands, extraTimeout: extraTimeout)
            }
        } catch let error as RedisError {
            throw error
        } catch {
            throw .shutdown
        }
    }

    /// Runs on a pool thread. An idle connection is checked before use and replaced if the
    /// server closed it, so nothing is ever written to a dead socket; once the commands are
    /// written, a failure is reported as it is and nothing is resent: it may have run (`RedisError.mayHaveRun`).
    private func runBlocking(_ commands: [RedisCommand], extraTimeout: Duration) throws(RedisError) -> [RedisReply] {
        let connection = try checkout()
        do {
            let replies = try connection.pipeline(commands, extraTimeout: extraTimeout)
            checkin(connection)
            return replies
        } catch {
            logger.debug("redis command failed after it was sent; not resending", metadata: ["error": "\(error)", "may_have_run": "\(error.mayHaveRun)"])
            throw error
        }
    }

    /// An idle connection that passes `isUsableForNextCommand`, else a new one.
    private func checkout() throws(RedisError) -> RedisConnection {
        while true {
            let idle: Result<RedisConnection?, RedisError> = state.withLockedValue { state in
                state.isShutdown ? .failure(.shutdown) : .success(state.idle.popLast())
            }
            guard let connection = try idle.get() else { break }
            if connection.isUsableForNextCommand { return connection }
            logger.debug("redis closed an idle connection; replacing it before sending")
        }
        let now = NIODeadline.now()
        let decision: Result<Void, RedisError> = state.withLockedValue { state in
            now < state.nextConnectAttempt ? .failure(.unavailable(state.lastConnectError)) : .success(())
        }
        try decision.get()
        do {
            let connection = try RedisConnection(configuration: configuration)
            state.withLockedValue { state in
                if state.consecutiveConnectFailures > 0 {
                    logger.info("redis reconnected", metadata: ["redis": "\(configuration.displayName)"])
                }
                state.consecutiveConnectFailures = 0
            }
            return connection
        } catch {
            state.withLockedValue { state in
                state.consecutiveConnectFailures += 1
                let exponent = min(state.consecutiveConnectFailures - 1, 6)
                state.nextConnectAttempt = .now() + .milliseconds(min(50 << exponent, 2000))
                state.lastConnectError = "\(error)"
            }
            logger.warning("redis connect failed", metadata: ["redis": "\(configuration.displayName)", "error": "\(error)"])
            throw error
        }
    }

    private func checkin(_ connection: RedisConnection) {
        guard !connection.isBroken else { return }
        state.withLockedValue { state in
            if !state.isShutdown { state.idle.append(connection) }
        }
    }
}
