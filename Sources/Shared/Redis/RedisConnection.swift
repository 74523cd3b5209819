import CHiredis
import Foundation

/// One hiredis connection: owns the `redisContext` and frees it once.
///
/// It blocks on the socket, so it is only used from `RedisClient`'s own threads.
/// `@unchecked Sendable`: a connection is checked out of `RedisClient`'s idle list by exactly
/// one thread, used there, and put back; no two threads ever touch it at once.
final class RedisConnection: @unchecked Sendable {
    private let context: UnsafeMutablePointer<redisContext>
    private let readTimeout: Duration
    private var currentTimeout: Duration
    /// Which master this connection was made to, in `RedisClient`'s count of master changes.
    var epoch = 0

    /// Connects to `configuration`'s server, or to `endpoint` (the master a sentinel named),
    /// authenticates and selects the database.
    convenience init(configuration: RedisConfiguration, endpoint: RedisEndpoint? = nil) throws(RedisError) {
        try self.init(
            endpoint: endpoint ?? RedisEndpoint(host: configuration.host, port: configuration.port),
            connectTimeout: configuration.connectTimeout, readTimeout: configuration.readTimeout, setup: Self.setupCommands(configuration))
    }

    /// What a new connection to `configuration`'s server runs first: AUTH, SELECT.
    static func setupCommands(_ configuration: RedisConfiguration) -> [RedisCommand] {
        var setup: [RedisCommand] = []
        if let password = configuration.password {
            setup.append(configuration.username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password))
        }
        if configuration.database != 0 {
            setup.append(RedisCommand("SELECT", String(configuration.database)))
        }
        return setup
    }

    /// Connects to `endpoint` and runs `setup` (AUTH, SELECT); an error reply to it fails the connect.
    init(endpoint: RedisEndpoint, connectTimeout: Duration, readTimeout: Duration, setup: [RedisCommand]) throws(RedisError) {
        guard let context = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), Self.timeval(connectTimeout)) else {
            throw .connectFailed("out of memory")
        }
        if context.pointee.err != 0 {
            let message = Self.errorString(context)
            redisFree(context)
            throw .connectFailed("\(endpoint): \(message)")
        }
        self.context = context
        self.readTimeout = readTimeout
        self.currentTimeout = readTimeout
        redisSetTimeout(context, Self.timeval(readTimeout))
        redisEnableKeepAlive(context)
        if !setup.isEmpty {
            for reply in try pipeline(setup) {
                if case .error(let message) = reply { throw .connectFailed("\(endpoint) setup: \(message)") }
            }
        }
    }

    deinit {
        redisFree(context)
    }

    /// True once hiredis reported an I/O or protocol error: the connection must be dropped.
    var isBroken: Bool { context.pointee.err != 0 }

    /// True when an idle connection can carry the next command: not broken, and its socket has
    /// neither been closed by the server (a restart, `CLIENT KILL`, an idle `timeout`) nor holds
    /// bytes nobody asked for. Checked before anything is written, so a dead connection is
    /// replaced without ever resending a command that may have run.
    var isUsableForNextCommand: Bool {
        guard !isBroken else { return false }
        var descriptor = pollfd(fd: context.pointee.fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, 0)
        if ready == 0 { return true }  // nothing to read: open and idle
        if ready < 0 { return false }
        var byte: UInt8 = 0
        let peeked = recv(context.pointee.fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        // 0: the server closed it; > 0: unsolicited bytes, out of step; < 0 with EAGAIN: a spurious wake-up.
        return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
    }

    /// Sends every command, then reads every reply: one round trip for the lot.
    /// `extraTimeout` lengthens the read timeout for blocking commands.
    func pipeline(_ commands: [RedisCommand], extraTimeout: Duration = .zero) throws(RedisError) -> [RedisReply] {
        let timeout = readTimeout + extraTimeout
        if timeout != currentTimeout {
            redisSetTimeout(context, Self.timeval(timeout))
            currentTimeout = timeout
        }
        for command in commands {
            try append(command)
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                // The commands were written: whether they ran is unknown (a server that executes
                // and then dies answers exactly like one that never read them).
                if context.pointee.err == REDIS_ERR_EOF { throw .closed(Self.errorString(context)) }
                throw .io(Self.errorString(context))
            }
            replies.append(RedisReply(copying: raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
        return replies
    }

    private func append(_ command: RedisCommand) throws(RedisError) {
        let lengths = command.arguments.map(\.count)
        var flat: [UInt8] = []
        flat.reserveCapacity(lengths.reduce(1, +))
        for argument in command.arguments { flat.append(contentsOf: argument) }
        flat.append(0)  // never empty, so the base address exists
        let status = flat.withUnsafeBufferPointer { buffer -> Int32 in
            let base = UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = []
            pointers.reserveCapacity(lengths.count)
            var offset = 0
            for length in lengths {
                pointers.append(base + offset)
                offset += length
            }
            return pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeBufferPointer { argvlen in
                    redisAppendCommandArgv(context, Int32(lengths.count), argv.baseAddress, argvlen.baseAddress)
                }
            }
        }
        guard status == REDIS_OK else { throw .io(Self.errorString(context)) }
    }

    private static func errorString(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let text = String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            return text.isEmpty ? "error \(context.pointee.err)" : text
        }
    }

    private static func timeval(_ duration: Duration) -> Foundation.timeval {
        let (seconds, attoseconds) = duration.components
        return Foundation.timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
