import NIOConcurrencyHelpers

/// Finds the master of a Sentinel deployment as Redis's client guidelines describe: ask each
/// sentinel in turn `SENTINEL get-master-addr-by-name`, move the first that answers to the
/// front, and check on the server itself (`ROLE`) that it is a master before writing to it.
///
/// Blocking: used only from `RedisClient`'s own threads.
final class SentinelResolver: Sendable {
    /// The sentinels and the master's name.
    let configuration: RedisSentinelConfiguration
    private let connectTimeout: Duration
    private let readTimeout: Duration
    private let order: NIOLockedValueBox<[RedisEndpoint]>

    /// A resolver asking `configuration`'s sentinels, each connect and answer bounded by the timeouts.
    init(_ configuration: RedisSentinelConfiguration, connectTimeout: Duration, readTimeout: Duration) {
        self.configuration = configuration
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        order = NIOLockedValueBox(configuration.sentinels)
    }

    /// Longest one lookup may take over all sentinels: a request or a heartbeat that has to ask
    /// waits at most this long, however many sentinels are unreachable.
    static let lookupBudget: Duration = .seconds(2)

    /// The master's address, from the first sentinel that names one; `.connectFailed` when none
    /// does within `lookupBudget`.
    func master() throws(RedisError) -> RedisEndpoint {
        var failures: [String] = []
        let deadline = ContinuousClock.now + Self.lookupBudget
        for sentinel in order.withLockedValue({ $0 }) {
            let left = deadline - ContinuousClock.now
            guard left > .milliseconds(10) else {
                failures.append("no time left to ask \(sentinel)")
                break
            }
            do {
                let connection = try RedisConnection(
                    endpoint: sentinel, connectTimeout: min(connectTimeout, left), readTimeout: min(readTimeout, left),
                    setup: configuration.password.map { [RedisCommand("AUTH", $0)] } ?? [])
                let reply = try connection.pipeline([RedisCommand("SENTINEL", "get-master-addr-by-name", configuration.masterName)])
                guard let parts = reply.first?.elements, parts.count == 2, let host = parts.first?.string, !host.isEmpty,
                      let port = parts.last?.string.flatMap({ Int($0) }), (1...65_535).contains(port)
                else {
                    failures.append("\(sentinel) does not know master \(configuration.masterName) (\(reply.first.map { "\($0)" } ?? "no answer"))")
                    continue
                }
                order.withLockedValue { order in
                    if let index = order.firstIndex(of: sentinel), index > 0 { order.insert(order.remove(at: index), at: 0) }
                }
                return RedisEndpoint(host: host, port: port)
            } catch {
                failures.append("\(sentinel): \(error)")
            }
        }
        throw .connectFailed("no sentinel named a master (check REDIS_SENTINELS and REDIS_SENTINEL_MASTER): " + failures.joined(separator: "; "))
    }

    /// Throws unless `connection` is to a master: during a failover a sentinel may still name a
    /// server that was just demoted, and nothing may be written to a replica.
    static func checkIsMaster(_ connection: RedisConnection, at endpoint: RedisEndpoint) throws(RedisError) {
        let reply = try connection.pipeline([RedisCommand("ROLE")])
        if case .error(let message)? = reply.first, message.hasPrefix("NOPERM") {
            throw .command("\(message) (under Sentinel the Redis user must be allowed ROLE: add +role to its ACL)")
        }
        guard let role = reply.first?.elements?.first?.string else {
            throw .unexpectedReply("ROLE answered \(reply)")
        }
        guard role == "master" else { throw .unavailable("\(endpoint) is a \(role), not the master: a failover is under way") }
    }
}
