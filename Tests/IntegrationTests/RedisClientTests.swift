import Logging
import Testing

@testable import Shared

/// The client replaces a connection Redis closed before writing to it, and never resends; with one
/// Redis, calls share a pipelined connection (`RedisMultiplexer`).
struct RedisClientTests {
    @Test func aConnectionRedisKilledWhileIdleIsReplacedBeforeTheNextCommand() async throws {
        let servers = try TestServers()
        let client = RedisClient(configuration: servers.configuration.redis, maxConnections: 1, logger: servers.logger)
        let key = servers.configuration.keys.prefix + "killed"
        guard let id = try await client.send(RedisCommand("CLIENT", "ID")).orThrow().int else {
            Issue.record("CLIENT ID answered no integer")
            return
        }
        #expect(try await servers.redis.send(RedisCommand("CLIENT", "KILL", "ID", String(id))).orThrow().int == 1)
        // The killed connection is idle: the push must go out on a new one, once.
        #expect(try await client.send(RedisCommand("LPUSH", key, "x")).orThrow().int == 1)
        #expect(try await client.send(RedisCommand("CLIENT", "ID")).orThrow().int != id)
        #expect(try await servers.length(key) == 1)
        await client.shutdown()
        await servers.shutdown()
    }

    /// Concurrent callers share one pipelined connection, and each gets its own replies.
    @Test func concurrentCallersShareOneConnectionAndEachGetsItsOwnReplies() async throws {
        let servers = try TestServers()
        let client = RedisClient(configuration: servers.configuration.redis, maxConnections: 1, logger: servers.logger)
        let answers = try await withThrowingTaskGroup(of: (Int, [RedisReply]).self) { group in
            for index in 0..<200 {
                group.addTask {
                    (index, try await client.pipeline([RedisCommand("ECHO", "call-\(index)"), RedisCommand("CLIENT", "ID")]))
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(answers.count == 200)
        for (index, replies) in answers {
            #expect(replies.first?.string == "call-\(index)")
        }
        #expect(Set(answers.values.compactMap { $0.last?.int }).count == 1, "one connection carried every call")
        await client.shutdown()
        await servers.shutdown()
    }

    /// A new connection selects the configured database: after Redis killed the first one too.
    @Test func everyNewConnectionSelectsTheConfiguredDatabase() async throws {
        let servers = try TestServers()
        var configuration = servers.configuration.redis
        configuration.database = 7
        let client = RedisClient(configuration: configuration, maxConnections: 1, logger: servers.logger)
        let key = servers.configuration.keys.prefix + "db7"
        #expect(try await client.send(RedisCommand("SET", key, "a")).orThrow() == .status("OK"))
        let id = try #require(try await client.send(RedisCommand("CLIENT", "ID")).orThrow().int)
        #expect(try await servers.redis.send(RedisCommand("CLIENT", "KILL", "ID", String(id))).orThrow().int == 1)
        #expect(try await client.send(RedisCommand("GET", key)).orThrow().string == "a", "the new connection is in database 7 too")
        #expect(try await servers.redis.send(RedisCommand("GET", key)).orThrow() == .null, "database 0 holds nothing")
        _ = try await client.send(RedisCommand("DEL", key))
        await client.shutdown()
        await servers.shutdown()
    }

    /// A reply later than the read timeout fails the command as one that may have run; the
    /// connection is dropped and the next command goes out on a new one. (That such a command
    /// did run, and is not resent, is `FrontDoorTests`' reply-dropping proxy case.)
    @Test func aReplyLaterThanTheReadTimeoutFailsAsMayHaveRun() async throws {
        let server = try ServerProcess.redis()
        defer { server.stop() }
        let logger = Logger(label: "test")
        var configuration = RedisConfiguration(port: server.port)
        configuration.readTimeout = .seconds(1)
        let client = RedisClient(configuration: configuration, maxConnections: 1, logger: logger)
        let admin = RedisClient(configuration: RedisConfiguration(port: server.port), maxConnections: 1, logger: logger)
        let before = try #require(try await client.send(RedisCommand("CLIENT", "ID")).orThrow().int)
        #expect(try await admin.send(RedisCommand("CLIENT", "PAUSE", "30000", "WRITE")).orThrow() == .status("OK"))
        await #expect {
            _ = try await client.send(RedisCommand("LPUSH", "paused", "x"))
        } throws: { error in
            (error as? RedisError)?.mayHaveRun == true
        }
        #expect(try await admin.send(RedisCommand("CLIENT", "UNPAUSE")).orThrow() == .status("OK"))
        let after = try #require(try await client.send(RedisCommand("CLIENT", "ID")).orThrow().int)
        #expect(after != before, "the timed-out connection was dropped and a new one made")
        #expect(try await client.send(RedisCommand("LPUSH", "resumed", "x")).orThrow().int == 1)
        await client.shutdown()
        await admin.shutdown()
    }

    /// A connection whose AUTH is refused is a failed connect: the caller hears that nothing of
    /// its was sent (ingest answers 503 SERVICE_UNAVAILABLE, not OUTCOME_UNKNOWN), then and on
    /// the calls that follow (backing off or connecting again).
    @Test func aRefusedHandshakeFailsCallsAsNeverSent() async throws {
        let servers = try TestServers()
        var configuration = servers.configuration.redis
        configuration.password = "not-the-password"
        let client = RedisClient(configuration: configuration, maxConnections: 1, logger: servers.logger)
        let key = servers.configuration.keys.prefix + "refused"
        await #expect {
            _ = try await client.send(RedisCommand("LPUSH", key, "x"))
        } throws: { error in
            guard case .connectFailed(let message) = error as? RedisError else { return false }
            return message.contains("setup")
        }
        for _ in 0..<3 {
            await #expect {
                _ = try await client.send(RedisCommand("LPUSH", key, "x"))
            } throws: { error in
                (error as? RedisError)?.mayHaveRun == false
            }
        }
        #expect(try await servers.length(key) == 0)
        await client.shutdown()
        await servers.shutdown()
    }
}
