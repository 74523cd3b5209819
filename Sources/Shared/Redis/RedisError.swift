/// What went wrong talking to Redis, and whether trying again can help.
public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No connection could be made; Redis may be down or unreachable.
    case connectFailed(String)
    /// Reconnecting is backing off after recent failures; try again after the backoff.
    case unavailable(String)
    /// The connection broke mid-command (reset, timed out): the command may or may not have run.
    case io(String)
    /// Redis closed the connection before answering (a restart, a kill): the commands may
    /// or may not have run.
    case closed(String)
    /// Redis answered with an error reply; the connection is fine.
    case command(String)
    /// The write ran on the master, but fewer replicas than asked confirmed it in time (`WAIT`):
    /// it is kept unless the master fails before replicating it.
    case notReplicated(String)
    /// The reply did not have the shape the command promises.
    case unexpectedReply(String)
    /// The client was shut down.
    case shutdown

    /// True when the same command may succeed later without any change on our side.
    public var isTransient: Bool {
        switch self {
        case .connectFailed, .unavailable, .io, .closed, .notReplicated: true
        case .command(let message): ["LOADING", "BUSY", "TRYAGAIN", "READONLY", "MASTERDOWN", "CLUSTERDOWN", "MOVED", "ASK"].contains { message.hasPrefix($0) }
        case .unexpectedReply, .shutdown: false
        }
    }

    /// True when the command may have run although no answer says so: the connection broke
    /// after it was sent, or a script failed part-way. A client told "nothing was accepted"
    /// after such an error could be told a lie.
    public var mayHaveRun: Bool {
        switch self {
        case .io, .closed, .unexpectedReply, .notReplicated: true
        case .connectFailed, .unavailable, .shutdown: false
        case .command(let message): !Self.refusedBeforeRunning.contains { message.hasPrefix($0) }
        }
    }

    /// Error replies Redis gives before running anything: the command or script did not start.
    static let refusedBeforeRunning = [
        "OOM", "READONLY", "NOSCRIPT", "LOADING", "BUSY", "NOAUTH", "WRONGPASS", "NOPERM", "MASTERDOWN", "MISCONF",
        "NOREPLICAS", "CLUSTERDOWN", "MOVED", "ASK", "TRYAGAIN", "CROSSSLOT", "ERR unknown command",
    ]

    /// What failed and what to check.
    public var description: String {
        switch self {
        case .connectFailed(let m): "redis: cannot connect (\(m)); is redis-server running and REDIS_URL right?"
        case .unavailable(let m): "redis: unavailable, reconnecting with backoff (last error: \(m))"
        case .io(let m), .closed(let m): "redis: connection lost (\(m)); will reconnect"
        case .command(let m): "redis: command failed: \(m)"
        case .notReplicated(let m): "redis: written but not confirmed by enough replicas (\(m)); check the replicas' links (INFO replication)"
        case .unexpectedReply(let m): "redis: unexpected reply: \(m)"
        case .shutdown: "redis: client is shut down"
        }
    }
}
