import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Non-blocking commands to one Redis over a single pipelined connection on a SwiftNIO event
/// loop: a caller's commands are written from the loop and its replies parsed there (by
/// hiredis's `redisReader`), so a command costs no thread hop and no blocked thread. Concurrent
/// callers share the connection; Redis answers them in the order they were written.
///
/// The connection is made on first use and again after it ends. A command written before the
/// end fails as one that may have run (`.closed`, `.io`); one not yet written when it ended is
/// sent once on a new connection. A new connection runs AUTH and SELECT as configured, then
/// PING: it is used only once Redis answered. While Redis cannot be reached, connects back off
/// as `RedisClient`'s do (50 ms doubling to 2 s) and calls fail fast with `.unavailable`.
///
/// Commands that block or change the connection for whoever comes next (`BLPOP`, `SELECT`,
/// `MULTI`, `SUBSCRIBE`, `CLIENT REPLY`, …) cannot share it (`RedisCommand.canShareConnection`):
/// `RedisClient` sends those through its pool. The read timeout is shared too: a command that
/// runs longer than it (a slow script) fails every command awaiting a reply on the connection,
/// each as one that may have run.
final class RedisMultiplexer: Sendable {
    /// The connection's handler, reached on its event loop.
    private typealias Handler = NIOLoopBound<RedisPipelineHandler>

    private let configuration: RedisConfiguration
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let state = NIOLockedValueBox(State())

    /// The connection in use or being made; `handler` once it answered its handshake.
    private struct Connection {
        let generation: Int
        let ready: EventLoopFuture<Handler>
        var handler: Handler?
    }

    /// The connection, the channels to close at shutdown, and the connect backoff.
    private struct State {
        var connection: Connection?
        var channels: [Int: any Channel] = [:]
        var generation = 0
        var backoff = ConnectBackoff()
        var isShutdown = false
    }

    /// A multiplexer for `configuration`'s server (its AUTH and SELECT run on each new connection).
    init(configuration: RedisConfiguration, eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next(), logger: Logger) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Sends the commands in one write and returns their replies in order.
    func pipeline(_ commands: [RedisCommand]) async throws(RedisError) -> [RedisReply] {
        var attempts = 0
        while true {
            attempts += 1
            let handler = try await connection()
            do {
                return try await send(commands, on: handler)
            } catch is RedisPipelineHandler.NotSent where attempts < 2 {
                continue  // the connection ended before anything was written: a new one is safe
            } catch is RedisPipelineHandler.NotSent {
                throw .unavailable("the connection to redis ended before the command was sent")
            } catch let error as RedisError {
                throw error
            } catch {
                throw .io("\(error)")
            }
        }
    }

    /// Refuses new calls and closes each connection once the replies it awaits have arrived
    /// (or its read timeout failed them); later calls throw `.shutdown`.
    func shutdown() async {
        let channels = state.withLockedValue { state in
            state.isShutdown = true
            state.connection = nil
            return Array(state.channels.values)
        }
        for channel in channels {
            channel.eventLoop.execute {
                if let handler = try? channel.pipeline.syncOperations.handler(type: RedisPipelineHandler.self) {
                    handler.closeWhenIdle()
                } else {
                    channel.close(promise: nil)
                }
            }
        }
        for channel in channels {
            try? await channel.closeFuture.get()
        }
    }

    /// Hands `commands` to the handler on its event loop and awaits their replies.
    private func send(_ commands: [RedisCommand], on handler: Handler) async throws -> [RedisReply] {
        let loop = handler.eventLoop
        let promise = loop.makePromise(of: [RedisReply].self)
        if loop.inEventLoop {
            handler.value.send(commands, promise: promise)
        } else {
            loop.execute { handler.value.send(commands, promise: promise) }
        }
        return try await promise.futureResult.get()
    }

    /// What `connection()` found: a connection to use, one to wait for, or one to make.
    private enum Next {
        case ready(Handler)
        case use(EventLoopFuture<Handler>)
        case connect(EventLoopPromise<Handler>, generation: Int)
    }

    /// The open connection, the one being made, or a new one; fails fast while connects back off.
    private func connection() async throws(RedisError) -> Handler {
        let now = NIODeadline.now()
        let next: Result<Next, RedisError> = state.withLockedValue { state in
            if state.isShutdown { return .failure(.shutdown) }
            if let connection = state.connection { return .success(connection.handler.map { .ready($0) } ?? .use(connection.ready)) }
            if let refusal = state.backoff.refusal(at: now) { return .failure(.unavailable(refusal)) }
            state.generation += 1
            let promise = eventLoop.makePromise(of: Handler.self)
            state.connection = Connection(generation: state.generation, ready: promise.futureResult)
            return .success(.connect(promise, generation: state.generation))
        }
        let ready: EventLoopFuture<Handler>
        switch try next.get() {
        case .ready(let handler):
            return handler
        case .use(let future):
            ready = future
        case .connect(let promise, let generation):
            connect(generation: generation, promise: promise)
            ready = promise.futureResult
        }
        do {
            return try await ready.get()
        } catch {
            throw (error as? RedisError) ?? .connectFailed("\(configuration.host):\(configuration.port): \(error)")
        }
    }

    /// Connects, runs AUTH, SELECT and PING, and completes `promise` with the connection's handler.
    private func connect(generation: Int, promise: EventLoopPromise<Handler>) {
        let endpoint = RedisEndpoint(host: configuration.host, port: configuration.port)
        let timeout = TimeAmount.nanoseconds(Int64(configuration.readTimeout.totalNanoseconds))
        let setup = RedisConnection.setupCommands(configuration) + [RedisCommand("PING")]
        ClientBootstrap(group: eventLoop)
            .connectTimeout(.nanoseconds(Int64(configuration.connectTimeout.totalNanoseconds)))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard let reader = RedisReplyReader() else { throw RedisError.connectFailed("out of memory") }
                    try channel.pipeline.syncOperations.addHandler(RedisPipelineHandler(timeout: timeout, reader: reader))
                }
            }
            .connect(host: endpoint.host, port: endpoint.port)
            .flatMap { channel -> EventLoopFuture<Handler> in
                let registered = self.state.withLockedValue { state in
                    guard !state.isShutdown else { return false }
                    state.channels[generation] = channel
                    return true
                }
                channel.closeFuture.whenComplete { _ in self.ended(generation) }
                guard registered else {
                    channel.close(promise: nil)
                    return channel.eventLoop.makeFailedFuture(RedisError.shutdown)
                }
                let handler: Handler
                do {
                    let pipelined = try channel.pipeline.syncOperations.handler(type: RedisPipelineHandler.self)
                    pipelined.onEnd = { self.ended(generation) }
                    handler = Handler(pipelined, eventLoop: channel.eventLoop)
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
                let replies = channel.eventLoop.makePromise(of: [RedisReply].self)
                handler.value.send(setup, promise: replies)
                return replies.futureResult.flatMapThrowing { replies in
                    for case .error(let message) in replies { throw RedisError.connectFailed("\(endpoint) setup: \(message)") }
                    guard replies.last == .status("PONG") else { throw RedisError.connectFailed("\(endpoint) answered PING with \(replies.last ?? .null)") }
                    return handler
                }
                .flatMapErrorThrowing { error in
                    channel.close(promise: nil)
                    throw error
                }
            }
            .whenComplete { result in
                switch result {
                case .success(let handler):
                    self.connected(handler, generation: generation)
                    promise.succeed(handler)
                case .failure where self.state.withLockedValue({ $0.isShutdown }):
                    promise.fail(RedisError.shutdown)  // cut short by shutdown: neither logged nor backed off
                case .failure(let error):
                    // Nothing of any caller's was written before the handshake finished: whatever
                    // ended it (a close, a timeout), the connect failed.
                    let failure: RedisError
                    if case .connectFailed(let message)? = error as? RedisError {
                        failure = .connectFailed(message)
                    } else {
                        failure = .connectFailed("\(endpoint): \(Self.describe(error))")
                    }
                    self.connectFailed(failure, generation: generation)
                    promise.fail(failure)
                }
            }
    }

    /// A connect error as the socket reported it (NIO wraps each attempt's error in a list).
    private static func describe(_ error: any Error) -> String {
        if let connect = error as? NIOConnectionError, let first = connect.connectionErrors.first { return "\(first.error)" }
        return "\(error)"
    }

    /// Keeps `handler` as the connection of `generation` (unless it ended meanwhile) and ends the backoff.
    private func connected(_ handler: Handler, generation: Int) {
        let recovered = state.withLockedValue { state in
            if state.connection?.generation == generation { state.connection?.handler = handler }
            return state.backoff.succeeded()
        }
        if recovered { logger.info("redis reconnected", metadata: ["redis": "\(configuration.displayName)"]) }
    }

    /// Forgets the connection of `generation` and backs the next connect off.
    private func connectFailed(_ error: RedisError, generation: Int) {
        state.withLockedValue { state in
            if state.connection?.generation == generation { state.connection = nil }
            state.backoff.failed(error)
        }
        logger.warning("redis connect failed", metadata: ["redis": "\(configuration.displayName)", "error": "\(error)"])
    }

    /// Forgets the connection of `generation` once its channel closed: the next call makes a new one.
    private func ended(_ generation: Int) {
        state.withLockedValue { state in
            state.channels[generation] = nil
            if state.connection?.generation == generation { state.connection = nil }
        }
    }
}
