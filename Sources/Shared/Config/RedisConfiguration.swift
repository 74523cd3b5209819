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

    /// `host:port/db`, never the password.
    public var displayName: String { "\(host):\(port)/\(database)" }
}
