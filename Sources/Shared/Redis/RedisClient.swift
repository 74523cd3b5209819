import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A small pool of hiredis connections whose blocking I/O runs on threads of its own,
/// never on a SwiftNIO event loop or the Swift concurrency pool.
///
/// At most `maxConnections` commands run at once on the pool, one per thread, so a thread never waits
/// for a connection. A dropped connection is discarded and replaced on next use; while
/// Redis is unreachable, new connects back off exponentially (50 ms doubling to 2 s) and
/// calls fail fast with `RedisError.unavailable` instead of each waiting for a TCP timeout.
///
/// With Sentinel (`configuration.sentinel`), every new connection goes to the master the
/// sentinels name, checked with `ROLE`. A failover is followed without a restart: a lost
/// connection or a `READONLY` answer makes the next connection ask again, and the sentinels
/// are asked anyway every `recheckInterval`; when the master changed, every connection to the
/// old one is dropped (idle ones at once, busy ones when they come back). A pooled connection
/// to a master demoted without either sign is used until that recheck. One thread at a time
/// asks the sentinels; meanwhile the others go on with the master in use or, when there is
/// none, fail fast as unavailable.
///
/// With a cluster (`configuration.cluster`), `ClusterRouter` sends each request to the master of
/// its keys' slot, with a pool of connections per node.
///
/// With one Redis (neither Sentinel nor a cluster), commands that do not block go through
/// `RedisMultiplexer` instead: one pipelined connection on a SwiftNIO event loop, no thread hop.
/// Blocking commands (`BLMOVE`, `WAIT`: those sent with an `extraTimeout`) and commands that
/// change their connection (`RedisCommand.canShareConnection`) keep the pool.
public final class RedisClient: Sendable {
    /// The configuration connections are made with.
    public let configuration: RedisConfiguration
    private let threads: NIOThreadPool
    private let state: NIOLockedValueBox<State>
    private let logger: Logger
    private let sentinels: SentinelResolver?
    private let cluster: ClusterRouter?
    private let multiplexer: RedisMultiplexer?

    private struct State {
        var idle: [RedisConnection] = []
        var backoff = ConnectBackoff()
        var isShutdown = false
        /// The master new connections go to (Sentinel only); nil: ask the sentinels first.
        var master: RedisEndpoint?
        /// The master the sentinels named last: a change of it starts a new epoch, and it is
        /// tried when the sentinels cannot be reached.
        var lastKnownMaster: RedisEndpoint?
        /// Bumped whenever the master changes or is in doubt: older connections are dropped.
        var epoch = 0
        /// When to ask the sentinels again.
        var nextMasterCheck = NIODeadline.uptimeNanoseconds(0)
        /// True while a thread asks the sentinels: after a failure every thread would otherwise ask at once.
        var askingSentinels = false
    }

    /// Creates a client; `maxConnections` bounds both the pool's threads and its connections.
    public init(configuration: RedisConfiguration, maxConnections: Int = 4, logger: Logger) {
        self.configuration = configuration
        self.threads = NIOThreadPool(numberOfThreads: max(1, maxConnections))
        self.state = NIOLockedValueBox(State())
        self.logger = logger
        sentinels = configuration.sentinel.map {
            SentinelResolver($0, connectTimeout: configuration.connectTimeout, readTimeout: configuration.readTimeout)
        }
        cluster = configuration.cluster.map { ClusterRouter($0, configuration: configuration, logger: logger) }
        let single = configuration.sentinel == nil && configuration.cluster == nil
        multiplexer = single ? RedisMultiplexer(configuration: configuration, logger: logger) : nil
        threads.start()
    }

    /// Closes idle connections and stops the threads; later calls throw `.shutdown`.
    public func shutdown() async {
        state.withLockedValue { state in
            state.isShutdown = true
            state.idle = []
        }
        cluster?.shutdown()
        await multiplexer?.shutdown()
        try? await threads.shutdownGracefully()
    }

    /// Sends one command and returns its reply (error replies are returned, not thrown).
    public func send(_ command: RedisCommand, extraTimeout: Duration = .zero) async throws(RedisError) -> RedisReply {
        try await pipeline([command], extraTimeout: extraTimeout)[0]
    }

    /// True when this client talks to a Redis Cluster.
    public var isCluster: Bool { cluster != nil }

    /// The cluster's masters (one Redis: its address), from the slot map.
    public func masters() async throws(RedisError) -> [RedisEndpoint] {
        guard let cluster else { return [RedisEndpoint(host: configuration.host, port: configuration.port)] }
        return try await onThread { () throws(RedisError) in try cluster.masters() }
    }

    /// The master serving `key` (one Redis: its address).
    public func master(of key: String) async throws(RedisError) -> RedisEndpoint {
        guard let cluster else { return RedisEndpoint(host: configuration.host, port: configuration.port) }
        return try await onThread { () throws(RedisError) in try cluster.master(ofSlot: RedisSlot.of(key)) }
    }

    private func onThread<T: Sendable>(_ body: @escaping @Sendable () throws(RedisError) -> T) async throws(RedisError) -> T {
        do {
            return try await threads.runIfActive { try body() }
        } catch let error as RedisError {
            throw error
        } catch {
            throw .shutdown
        }
    }

    /// Sends the commands in one round trip and returns their replies in order.
    public func pipeline(_ commands: [RedisCommand], extraTimeout: Duration = .zero) async throws(RedisError) -> [RedisReply] {
        guard !commands.isEmpty else { return [] }
        if let multiplexer, extraTimeout == .zero, commands.allSatisfy(\.canShareConnection) { return try await multiplexer.pipeline(commands) }
        return try await onThread { [self] () throws(RedisError) in try self.runBlocking(commands, extraTimeout: extraTimeout) }
    }

    /// Runs on a pool thread. An idle connection is checked before use and replaced if the
    /// server closed it, so nothing is ever written to a dead socket; once the commands are
    /// written, a failure is reported as it is and nothing is resent: it may have run (`RedisError.mayHaveRun`).
    private func runBlocking(_ commands: [RedisCommand], extraTimeout: Duration) throws(RedisError) -> [RedisReply] {
        if let cluster { return try cluster.run(commands, extraTimeout: extraTimeout) }
        let connection = try checkout()
        do {
            let replies = try connection.pipeline(commands, extraTimeout: extraTimeout)
            if sentinels != nil, replies.contains(where: Self.saysDemoted) {
                // A replica answered: the master we knew was demoted. Nothing was written; ask again.
                masterInDoubt(connection, reason: "the server answered as a replica")
            } else {
                checkin(connection)
            }
            return replies
        } catch {
            logger.debug("redis command failed after it was sent; not resending", metadata: ["error": "\(error)", "may_have_run": "\(error.mayHaveRun)"])
            if sentinels != nil { masterInDoubt(connection, reason: "connection lost") }
            throw error
        }
    }

    /// True for an answer only a demoted master gives: a write refused as `READONLY` (a script's
    /// error carries it inside its message on Redis 6), or a blocked command released because
    /// the server turned replica (`UNBLOCKED`).
    static func saysDemoted(_ reply: RedisReply) -> Bool {
        guard case .error(let message) = reply else { return false }
        return message.contains("READONLY") || message.hasPrefix("UNBLOCKED")
    }

    /// Forgets the master (Sentinel only) after `connection` failed or met a replica: every
    /// connection of its epoch is dropped (idle now, or checked in later) and the next connect
    /// asks the sentinels again.
    private func masterInDoubt(_ connection: RedisConnection, reason: String) {
        guard sentinels != nil else { return }
        let changed = state.withLockedValue { state -> Bool in
            guard state.epoch == connection.epoch else { return false }
            state.epoch += 1
            state.idle = []
            state.master = nil
            state.nextMasterCheck = .uptimeNanoseconds(0)
            return true
        }
        if changed { logger.info("redis master in doubt; asking the sentinels again", metadata: ["reason": "\(reason)"]) }
    }

    /// Asks the sentinels which server is master when it is unknown or the recheck is due; on a
    /// change, drops every idle connection to the old one. Runs on a pool thread.
    private func refreshMaster(_ resolver: SentinelResolver) throws(RedisError) -> (RedisEndpoint, epoch: Int) {
        let now = NIODeadline.now()
        let due: (current: RedisEndpoint?, lastKnown: RedisEndpoint?, epoch: Int, ask: Bool, backingOff: String?) = state.withLockedValue { state in
            // While connects back off, the sentinels are not asked either: they would name the same server.
            let backingOff = state.backoff.refusal(at: now)
            let ask = backingOff == nil && !state.askingSentinels && (state.master == nil || now >= state.nextMasterCheck)
            if ask {
                state.askingSentinels = true
                state.nextMasterCheck = now + .nanoseconds(Int64(resolver.configuration.recheckInterval.totalNanoseconds))
            }
            return (state.master, state.lastKnownMaster, state.epoch, ask, backingOff)
        }
        guard due.ask else {
            if let current = due.current { return (current, due.epoch) }
            throw .unavailable(due.backingOff ?? "no master known yet; the sentinels are being asked")
        }
        let named: RedisEndpoint
        do {
            defer { state.withLockedValue { $0.askingSentinels = false } }
            named = try resolver.master()
        } catch {
            // The sentinels are unreachable but the last master they named may be fine: try it
            // (a new connection is still checked with ROLE), and ask again at the next recheck.
            guard let fallback = due.current ?? due.lastKnown else { throw error }
            logger.warning("redis sentinels did not answer; using the last master they named", metadata: ["master": "\(fallback)", "error": "\(error)"])
            state.withLockedValue { $0.master = fallback }
            return (fallback, due.epoch)
        }
        return state.withLockedValue { state in
            if state.lastKnownMaster != named {
                // Connections made to the one named before (idle or in use) belong to an older epoch.
                if state.lastKnownMaster != nil { state.epoch += 1 }
                state.idle = []
                logger.info("redis master is \(named)", metadata: ["sentinel_master": "\(resolver.configuration.masterName)"])
                state.lastKnownMaster = named
            }
            state.master = named
            return (named, state.epoch)
        }
    }

    /// An idle connection that passes `isUsableForNextCommand`, else a new one (to the master
    /// the sentinels name, with Sentinel).
    private func checkout() throws(RedisError) -> RedisConnection {
        var master: (endpoint: RedisEndpoint, epoch: Int)?
        if let sentinels {
            do {
                master = try refreshMaster(sentinels)
            } catch {
                // No sentinel named a master: back off as from a failed connect.
                if case .unavailable = error {} else { connectFailed(error) }
                throw error
            }
        }
        while true {
            let idle: Result<RedisConnection?, RedisError> = state.withLockedValue { state in
                state.isShutdown ? .failure(.shutdown) : .success(state.idle.popLast())
            }
            guard let connection = try idle.get() else { break }
            if let master, connection.epoch != master.epoch { continue }  // made to an older master
            if connection.isUsableForNextCommand { return connection }
            logger.debug("redis closed an idle connection; replacing it before sending")
        }
        let now = NIODeadline.now()
        let decision: Result<Void, RedisError> = state.withLockedValue { state in
            state.backoff.refusal(at: now).map { .failure(.unavailable($0)) } ?? .success(())
        }
        try decision.get()
        do throws(RedisError) {
            let connection = try RedisConnection(configuration: configuration, endpoint: master?.endpoint)
            if let master {
                connection.epoch = master.epoch
                do throws(RedisError) {
                    try SentinelResolver.checkIsMaster(connection, at: master.endpoint)
                } catch {
                    masterInDoubt(connection, reason: "\(error)")
                    throw error
                }
            }
            if state.withLockedValue({ $0.backoff.succeeded() }) {
                logger.info("redis reconnected", metadata: ["redis": "\(configuration.displayName)"])
            }
            return connection
        } catch {
            connectFailed(error)
            throw error
        }
    }

    /// Backs new connects off exponentially (50 ms doubling to 2 s) after `error`; with
    /// Sentinel, the next connect after the backoff asks the sentinels again.
    private func connectFailed(_ error: RedisError) {
        state.withLockedValue { state in
            if sentinels != nil { state.master = nil }
            state.backoff.failed(error)
        }
        logger.warning("redis connect failed", metadata: ["redis": "\(configuration.displayName)", "error": "\(error)"])
    }

    private func checkin(_ connection: RedisConnection) {
        guard !connection.isBroken else { return }
        state.withLockedValue { state in
            // A connection of an older epoch (made to a master since replaced) is dropped.
            if !state.isShutdown, connection.epoch == state.epoch { state.idle.append(connection) }
        }
    }
}
