/// A Redis reply, copied out of hiredis's reply object so no C memory outlives the call.
public enum RedisReply: Sendable, Equatable {
    /// A simple status such as `OK`.
    case status(String)
    /// An error reply: the command failed, the connection is fine.
    case error(String)
    /// An integer.
    case integer(Int64)
    /// A bulk string, binary-safe.
    case bulk([UInt8])
    /// The null reply (missing key, timed-out blocking call).
    case null
    /// An array of replies.
    case array([RedisReply])

    /// The integer value, if this is an integer reply.
    public var int: Int64? {
        if case .integer(let value) = self { return value }
        return nil
    }

    /// The bytes of a bulk or status reply.
    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let value): value
        case .status(let value): Array(value.utf8)
        default: nil
        }
    }

    /// The UTF-8 text of a bulk or status reply.
    public var string: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    /// The elements of an array reply; `null` counts as empty.
    public var elements: [RedisReply]? {
        switch self {
        case .array(let value): value
        case .null: []
        default: nil
        }
    }

    /// The field/value pairs of an `HGETALL` reply, in reply order; non-text fields are skipped.
    public var hashPairs: [(field: String, value: [UInt8])] {
        let items = elements ?? []
        return stride(from: 0, to: items.count - 1, by: 2).compactMap { index in
            guard let field = items[index].string, let value = items[index + 1].bytes else { return nil }
            return (field, value)
        }
    }

    /// Throws `RedisError.command` for an error reply, else returns self.
    public func orThrow() throws(RedisError) -> RedisReply {
        if case .error(let message) = self { throw .command(message) }
        return self
    }
}
