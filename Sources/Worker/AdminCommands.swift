import ArgumentParser
import Logging
import Shared

/// Where the admin commands find Redis: the same environment as the worker.
struct AdminConnection {
    let redis: RedisClient
    let keys: QueueKeys

    /// Throttle rules and counters.
    var throttle: Throttle { Throttle(redis: redis, keys: keys) }
    /// Per-site rate limits.
    var limits: RateLimitStore { RateLimitStore(redis: redis, keys: keys) }
    /// The queue and its dead letters.
    var queue: ReliableQueue { ReliableQueue(redis: redis, keys: keys) }

    /// Connects as the worker would (REDIS_URL, QUEUE_PREFIX, .env), runs `body`, and closes the
    /// connection whether `body` succeeded or threw.
    static func with<T>(_ body: (AdminConnection) async throws -> T) async throws -> T {
        let pipeline = try PipelineConfiguration(environment: .load())
        LoggingSetup.bootstrap(level: .error)
        let redis = RedisClient(configuration: pipeline.redis, maxConnections: 1, logger: Logger(label: "Worker"))
        let keys: QueueKeys
        do {
            keys = try await ReliableQueue.agreeOnShards(redis: redis, keys: pipeline.keys, configured: pipeline.queueShards, patience: .seconds(2))
        } catch {
            await redis.shutdown()
            throw error
        }
        let connection = AdminConnection(redis: redis, keys: keys)
        do {
            let result = try await body(connection)
            await connection.redis.shutdown()
            return result
        } catch {
            await connection.redis.shutdown()
            throw error
        }
    }
}

/// `Worker throttle …`: content-throttling rules per stream or per site, applied by running workers within a second.
struct ThrottleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "throttle", abstract: "Show and change content-throttling rules kept in Redis.",
        subcommands: [Set.self, Get.self, List.self, Delete.self])

    /// Which stream: a site and an event type (`*`: every type of the site).
    struct Scope: ParsableArguments {
        @Option(help: "The site.") var site: String
        @Option(help: "The event type, or * for every type of the site.") var eventType = "*"
        var scope: ThrottleScope { ThrottleScope(siteID: site, eventType: eventType) }
    }

    /// `throttle set`.
    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set the rule of a stream or a site.")
        @OptionGroup var scope: Scope
        @Option(help: "fixed-window, token-bucket or sliding-window.") var strategy: String
        @Option(help: "Events per window (fixed-window, sliding-window).") var limit: Int?
        @Option(help: "Window length, e.g. 60s (fixed-window, sliding-window).") var window: String?
        @Option(help: "Largest burst (token-bucket).") var bucketSize: Int?
        @Option(help: "Tokens per second (token-bucket).") var refillRate: Double?
        @Option(help: "Wait from the first deferred event to its summary, e.g. 60s (default 1h).") var deferInterval: String?
        @Option(help: "Forget a stream's counters after this long without events (default 24h).") var expire: String?

        func run() async throws {
            func duration(_ text: String?, _ name: String) throws -> Duration? {
                guard let text else { return nil }
                guard let value = DurationText.parse(text) else { throw ArgumentParser.ValidationError("--\(name) must look like 500ms, 60s, 5m, 1h or 7d") }
                return value
            }
            let rule: ThrottleRule
            do {
                rule = try ThrottleRule.make(
                    strategy: strategy, limit: limit, window: try duration(window, "window"), bucketSize: bucketSize,
                    refillRate: refillRate, deferInterval: try duration(deferInterval, "defer-interval"), expireTime: try duration(expire, "expire"))
            } catch let error as ThrottleRuleError {
                throw ArgumentParser.ValidationError(error.description)
            }
            try await AdminConnection.with { connection in try await connection.throttle.set(rule, for: scope.scope) }
            print("\(scope.scope): \(rule.json.serialized)")
        }
    }

    /// `throttle get`.
    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the rule set for a stream or a site.")
        @OptionGroup var scope: Scope

        func run() async throws {
            let rules = try await AdminConnection.with { connection in try await connection.throttle.rules() }
            guard let rule = rules[scope.scope] else { throw ArgumentParser.ValidationError("no rule set for \(scope.scope)") }
            print("\(scope.scope): \(rule.json.serialized)")
        }
    }

    /// `throttle list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every rule set at runtime.")

        func run() async throws {
            let rules = try await AdminConnection.with { connection in try await connection.throttle.rules() }
            for (scope, rule) in rules.sorted(by: { $0.key.field < $1.key.field }) { print("\(scope): \(rule.json.serialized)") }
            if rules.isEmpty { print("no rules set; THROTTLE_STRATEGY in the workers' environment is the only default") }
        }
    }

    /// `throttle delete`.
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove the rule of a stream or a site.")
        @OptionGroup var scope: Scope

        func run() async throws {
            let existed = try await AdminConnection.with { connection in try await connection.throttle.delete(scope.scope) }
            guard existed else { throw ArgumentParser.ValidationError("no rule set for \(scope.scope)") }
            print("deleted \(scope.scope)")
        }
    }
}

/// `Worker limits …`: per-site rate limits at ingest, applied by API instances within a second.
struct LimitsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limits", abstract: "Show and change per-site rate limits kept in Redis.",
        subcommands: [Set.self, Get.self, List.self, Delete.self])

    /// `limits set`.
    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a site's limits (each given scope overrides the default).")
        @Option(help: "The site.") var site: String
        @Option(name: .customLong("site-limit"), help: "All events of the site, e.g. 1000/1s.") var siteLimit: String?
        @Option(name: .customLong("user-limit"), help: "Events per user of the site, e.g. 60/1m.") var userLimit: String?
        @Option(name: .customLong("address-limit"), help: "Events per client address, e.g. 120/1m.") var addressLimit: String?

        func run() async throws {
            func parse(_ text: String?, _ name: String) throws -> RateLimit? {
                guard let text else { return nil }
                guard let limit = RateLimit(text) else { throw ArgumentParser.ValidationError("--\(name) must look like 100/1s or 60/1m") }
                return limit
            }
            let limits = RateLimits(
                site: try parse(siteLimit, "site-limit"), user: try parse(userLimit, "user-limit"), address: try parse(addressLimit, "address-limit"))
            guard !limits.isEmpty else { throw ArgumentParser.ValidationError("give at least one of --site-limit, --user-limit, --address-limit") }
            try await AdminConnection.with { connection in try await connection.limits.set(limits, site: site) }
            print("\(site): \(limits.json.serialized)")
        }
    }

    /// `limits get`.
    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a site's limits.")
        @Option(help: "The site.") var site: String

        func run() async throws {
            let all = try await AdminConnection.with { connection in try await connection.limits.all() }
            guard let limits = all[site] else { throw ArgumentParser.ValidationError("no limits set for \(site); the API's RATE_LIMIT_* defaults apply") }
            print("\(site): \(limits.json.serialized)")
        }
    }

    /// `limits list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every site's limits.")

        func run() async throws {
            let all = try await AdminConnection.with { connection in try await connection.limits.all() }
            for (site, limits) in all.sorted(by: { $0.key < $1.key }) { print("\(site): \(limits.json.serialized)") }
            if all.isEmpty { print("no per-site limits; the API's RATE_LIMIT_* defaults apply") }
        }
    }

    /// `limits delete`.
    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a site's limits.")
        @Option(help: "The site.") var site: String

        func run() async throws {
            let existed = try await AdminConnection.with { connection in try await connection.limits.delete(site: site) }
            guard existed else { throw ArgumentParser.ValidationError("no limits set for \(site)") }
            print("deleted \(site)")
        }
    }
}
