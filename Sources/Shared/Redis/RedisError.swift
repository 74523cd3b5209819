/// What went wrong talking to Redis, and whether trying again can help.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No connection could be made; Redis may be down or unreachable.
    case connectFailed(String)
    /// Reconnecting is backing off after recent failures; try again after the backoff.
    case unavailable(String)
    /// The connection broke mid-command (reset, timed out): the command may or may not have run.
    case io(String)
    /// Redis closed the connection before answering the first command (a restart, an idle
    /// timeout); sent again on a fresh connection once.
    case closed(String)
    /// Redis answered with an error reply; the connection is fine.
    case command(String)
    /// The reply did not have the shape the command promises.
    case unexpectedReply(String)
    /// The client was shut down.
    case shutdown

    /// True when the same command may succeed later without any change on our side.
    public var isTransient: Bool {
        switch self {
        case .connectFailed, .unavailable, .io, .closed: true
        case .command(let message): message.hasPrefix("LOADING") || message.hasPrefix("BUSY") || message.hasPrefix("TRYAGAIN")
        case .unexpectedReply, .shutdown: false
        }
    }

    /// What failed and what to check.
    public var description: String {
        switch self {
        case .connectFailed(let m): "redis: cannot connect (\(m)); is redis-server running and REDIS_URL right?"
        case .unavailable(let m): "redis: unavailable, reconnecting with backoff (last error: \(m))"
        case .io(let m), .closed(let m): "redis: connection lost (\(m)); will reconnect"
        case .command(let m): "redis: command failed: \(m)"
        case .unexpectedReply(let m): "redis: unexpected reply: \(m)"
        case .shutdown: "redis: client is shut down"
        }
    }
}
