import CHiredis
import NIOCore

/// hiredis's reply parser (`redisReader`), owned: fed the bytes a connection reads, it hands out
/// whole replies, copied into `RedisReply`s. Used on one event loop only.
final class RedisReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>

    /// A new parser; nil when hiredis could not allocate one.
    init?() {
        guard let reader = redisReaderCreate() else { return nil }
        self.reader = reader
    }

    deinit {
        redisReaderFree(reader)
    }

    /// Hands `bytes` to the parser, which keeps them until they make whole replies.
    func feed(_ bytes: ByteBuffer) throws(RedisError) {
        let status = bytes.withUnsafeReadableBytes { raw in
            redisReaderFeed(reader, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
        }
        guard status == REDIS_OK else { throw .io("redis protocol error: \(errorText)") }
    }

    /// The next whole reply, or nil until more bytes arrive.
    func next() throws(RedisError) -> RedisReply? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw .io("redis protocol error: \(errorText)") }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return RedisReply(copying: raw.assumingMemoryBound(to: redisReply.self))
    }

    /// True when the parser holds bytes, or a reply begun, that no whole reply has used yet:
    /// unread bytes, or an array whose header was read (hiredis reads a string or number only
    /// once it is whole, so one begun is unread bytes; its task index is 0 between replies).
    var holdsUnreadBytes: Bool {
        reader.pointee.pos < reader.pointee.len || reader.pointee.ridx > 0
    }

    /// hiredis's description of the protocol error it met.
    private var errorText: String {
        withUnsafeBytes(of: reader.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }
}

extension ByteBuffer {
    /// Writes `command` in the Redis protocol (RESP), byte for byte as hiredis's
    /// `redisFormatCommandArgv` formats it, straight into this buffer: no C allocation, no copy.
    mutating func writeRedisCommand(_ command: RedisCommand) {
        writeInteger(UInt8(ascii: "*"))
        writeString(String(command.arguments.count))
        writeStaticString("\r\n")
        for argument in command.arguments {
            writeInteger(UInt8(ascii: "$"))
            writeString(String(argument.count))
            writeStaticString("\r\n")
            writeBytes(argument)
            writeStaticString("\r\n")
        }
    }
}

@available(*, unavailable)
extension RedisReplyReader: Sendable {}

extension RedisReply {
    /// A copy of hiredis's reply object, so no C memory outlives the call that read it.
    init(copying reply: UnsafeMutablePointer<redisReply>) {
        let r = reply.pointee
        switch r.type {
        case REDIS_REPLY_STRING:
            self = .bulk(Self.bytes(r.str, r.len))
        case REDIS_REPLY_STATUS:
            self = .status(String(decoding: Self.bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: Self.bytes(r.str, r.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            self = .integer(Int64(r.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RedisReply] = []
            elements.reserveCapacity(Int(r.elements))
            for i in 0..<Int(r.elements) {
                if let element = r.element[i] { elements.append(RedisReply(copying: element)) } else { elements.append(.null) }
            }
            self = .array(elements)
        default:
            self = .null
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: length))
    }

}
