/// Redis Cluster's hash slots: CRC16 (XMODEM) of a key, or of its hash tag (the part between
/// the first `{` and the next `}`, when not empty), modulo 16384. Keys that share a tag share a
/// slot, so one script or pipeline may use them together.
public enum RedisSlot {
    /// Slots in a cluster.
    public static let count = 16_384

    /// The slot of `key`.
    public static func of(_ key: some Collection<UInt8>) -> Int {
        let bytes = Array(key)
        if let open = bytes.firstIndex(of: UInt8(ascii: "{")),
           let close = bytes[(open + 1)...].firstIndex(of: UInt8(ascii: "}")), close > open + 1 {
            return Int(crc16(bytes[(open + 1)..<close]) % UInt16(count))
        }
        return Int(crc16(bytes) % UInt16(count))
    }

    /// The slot of a text key.
    public static func of(_ key: String) -> Int { of(Array(key.utf8)) }

    /// CRC16-CCITT, polynomial 0x1021, initial value 0 (the variant Redis Cluster specifies).
    static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 {
                crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
            }
        }
        return crc
    }
}

extension RedisCommand {
    /// Commands without keys: sent to any node, or, after a keyed command in one pipeline, to
    /// that command's node (`WAIT` must reach the node that took the write before it).
    static let keyless: Set<String> = [
        "ASKING", "AUTH", "CLIENT", "CLUSTER", "CONFIG", "DBSIZE", "DEBUG", "ECHO", "FLUSHALL", "FLUSHDB", "INFO",
        "PING", "READONLY", "ROLE", "SCAN", "SCRIPT", "SELECT", "SENTINEL", "TIME", "WAIT",
    ]
    /// Commands whose every argument after the name is a key.
    static let allKeys: Set<String> = ["DEL", "EXISTS", "MGET", "TOUCH", "UNLINK", "WATCH"]
    // `KEYS pattern` is routed as if the pattern were a key: a pattern with a hash tag reaches
    // the node holding that tag's keys (KEYS only lists the node it runs on).
    /// Commands with two keys, source and destination.
    static let twoKeys: Set<String> = ["BLMOVE", "BRPOPLPUSH", "LMOVE", "RENAME", "RPOPLPUSH", "SMOVE"]

    /// The keys this command names, by Redis's key positions for the commands this product
    /// sends (a script's keys come after its key count); empty for a keyless command.
    var keys: ArraySlice<[UInt8]> {
        let name = name
        guard !name.isEmpty else { return [] }
        if Self.keyless.contains(name) { return [] }
        if name.hasPrefix("EVAL") || name.hasPrefix("FCALL") {
            guard arguments.count > 2, let count = Int(String(decoding: arguments[2], as: UTF8.self)), count > 0,
                  arguments.count >= 3 + count else { return [] }
            return arguments[3..<(3 + count)]
        }
        if Self.allKeys.contains(name) { return arguments.dropFirst() }
        if Self.twoKeys.contains(name) { return arguments.dropFirst().prefix(2) }
        return arguments.dropFirst().prefix(1)
    }
}

extension Array where Element == RedisCommand {
    /// The one slot every key of these commands hashes to, nil when none has a key; throws
    /// `CROSSSLOT` when keys of two slots are mixed (Redis Cluster would refuse them too).
    func slot() throws(RedisError) -> Int? {
        var found: Int?
        for command in self {
            for key in command.keys {
                let slot = RedisSlot.of(key)
                if let found, found != slot {
                    throw .command("CROSSSLOT keys of slots \(found) and \(slot) in one request: give keys used together one hash tag")
                }
                found = slot
            }
        }
        return found
    }
}
