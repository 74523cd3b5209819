import Foundation

/// Where Redis is and how long to wait for it, parsed from `redis://[:password@]host[:port][/db]`.
public struct RedisConfiguration: Sendable, Equatable {
    /// Host name or address.
    public var host: String
    /// TCP port.
    public var port: Int
    /// Logical database selected after connecting.
    public var database: Int
    /// Password for `AUTH`, if any.
    public var password: String?
    /// User name for `AUTH` (Redis 6 ACL), if any.
    public var username: String?
    /// How long a connect may take.
    public var connectTimeout: Duration
    /// How long a reply may take (blocking commands add their own timeout to this).
    public var readTimeout: Duration
    /// When set, the master is found by asking these sentinels, and `host`/`port` are not used.
    public var sentinel: RedisSentinelConfiguration?
    /// When set, Redis is a cluster: the slot map is learned from these nodes, and `host`/`port` are not used.
    public var cluster: RedisClusterConfiguration?

    /// A configuration for a local Redis on the default port.
    public init(
        host: String = "127.0.0.1", port: Int = 6379, database: Int = 0,
        password: String? = nil, username: String? = nil,
        connectTimeout: Duration = .seconds(1), readTimeout: Duration = .seconds(5)
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.password = password
        self.username = username
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
    }

    /// Parses a `redis://` URL.
    public init(url: String) throws(ConfigurationError) {
        let expected = "a redis://[user:password@]host[:port][/db] URL"
        guard let components = URLComponents(string: url), components.scheme == "redis",
              let host = components.host, !host.isEmpty
        else { throw .invalid(key: "REDIS_URL", value: Self.redacted(url), expected: expected) }
        self.init(host: host, port: components.port ?? 6379)
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty {
            guard let db = Int(path), db >= 0 else {
                throw .invalid(key: "REDIS_URL", value: Self.redacted(url), expected: expected)
            }
            database = db
        }
        if let pw = components.password, !pw.isEmpty { password = pw.removingPercentEncoding ?? pw }
        if let user = components.user, !user.isEmpty, password != nil { username = user }
    }

    /// The URL with any password replaced, fit for logs and errors.
    public static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url), components.password != nil else { return url }
        components.password = "***"
        return components.string ?? "redis://***"
    }

    /// `host:port/db` (or the sentinels' master name), never the password.
    public var displayName: String {
        if let cluster { return "cluster of \(cluster.nodes.map(\.description).joined(separator: ","))" }
        guard let sentinel else { return "\(host):\(port)/\(database)" }
        return "sentinel master \(sentinel.masterName)/\(database)"
    }
}

/// A Redis server's address.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// Host name or address.
    public var host: String
    /// TCP port.
    public var port: Int

    /// An address from its parts.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (`[v6]:port` for IPv6); nil for anything else.
    public init?(parsing text: Substring) {
        let text = text.trimmingCharacters(in: .whitespaces)
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65_535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") || host.hasSuffix("]") {
            guard host.hasPrefix("["), host.hasSuffix("]") else { return nil }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            return nil  // an IPv6 address needs brackets: in fe80::1 the port cannot be told apart
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" || $0 == "[" || $0 == "]" }) else { return nil }
        self.init(host: host, port: port)
    }

    /// `host:port`.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Redis Sentinel: the sentinels to ask and the name of the master they watch
/// (`REDIS_SENTINELS`, `REDIS_SENTINEL_MASTER`, `REDIS_SENTINEL_PASSWORD`).
public struct RedisSentinelConfiguration: Sendable, Equatable {
    /// The sentinels, asked in turn until one answers.
    public var sentinels: [RedisEndpoint]
    /// The master's name in the sentinels' configuration (`sentinel monitor NAME …`).
    public var masterName: String
    /// The sentinels' own password (`requirepass` in sentinel.conf), if any; the master's is `REDIS_URL`'s.
    public var password: String?
    /// How often a client asks again which server is master, to notice a failover without an error.
    public var recheckInterval: Duration

    /// A sentinel configuration from its parts.
    public init(sentinels: [RedisEndpoint], masterName: String, password: String? = nil, recheckInterval: Duration = .seconds(5)) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.password = password
        self.recheckInterval = recheckInterval
    }

    /// Reads `REDIS_SENTINELS` (`host:port,host:port,…`), `REDIS_SENTINEL_MASTER` and
    /// `REDIS_SENTINEL_PASSWORD`; nil when `REDIS_SENTINELS` is unset.
    public init?(environment: Environment) throws(ConfigurationError) {
        guard let list = environment["REDIS_SENTINELS"], !list.isEmpty else { return nil }
        let parsed = list.split(separator: ",", omittingEmptySubsequences: false).map { RedisEndpoint(parsing: $0) }
        guard !parsed.isEmpty, parsed.count <= 32, parsed.allSatisfy({ $0 != nil }) else {
            throw .invalid(key: "REDIS_SENTINELS", value: list, expected: "host:port of 1 to 32 sentinels, comma-separated")
        }
        guard let name = environment["REDIS_SENTINEL_MASTER"], !name.isEmpty, name.utf8.count <= 256,
              !name.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F })
        else {
            throw .invalid(key: "REDIS_SENTINEL_MASTER", value: environment["REDIS_SENTINEL_MASTER"] ?? "", expected: "the master's name in the sentinels' configuration (needed with REDIS_SENTINELS)")
        }
        self.init(sentinels: parsed.compactMap { $0 }, masterName: name, password: environment["REDIS_SENTINEL_PASSWORD"].flatMap { $0.isEmpty ? nil : $0 })
    }
}

/// Redis Cluster (`REDIS_CLUSTER_NODES`): nodes to learn the slot map from; any reachable one will do.
public struct RedisClusterConfiguration: Sendable, Equatable {
    /// Seed nodes, asked in turn for the slot map until one answers.
    public var nodes: [RedisEndpoint]

    /// A cluster reached through `nodes`.
    public init(nodes: [RedisEndpoint]) {
        self.nodes = nodes
    }

    /// Reads `REDIS_CLUSTER_NODES` (`host:port,host:port,…`); nil when unset.
    public init?(environment: Environment) throws(ConfigurationError) {
        guard let list = environment["REDIS_CLUSTER_NODES"], !list.isEmpty else { return nil }
        let parsed = list.split(separator: ",", omittingEmptySubsequences: false).map { RedisEndpoint(parsing: $0) }
        guard !parsed.isEmpty, parsed.count <= 64, parsed.allSatisfy({ $0 != nil }) else {
            throw .invalid(key: "REDIS_CLUSTER_NODES", value: list, expected: "host:port of 1 to 64 cluster nodes, comma-separated")
        }
        self.init(nodes: parsed.compactMap { $0 })
    }
}
