// How the user-agent classifier reads bytes: one pass per table, case-insensitively, over the
// first 512 bytes (UserAgent.swift classifies, UserAgentRules.swift holds the tables).

// MARK: - Matching

extension UserAgentClassifier {
    /// ASCII lowercase of a byte; other bytes unchanged.
    @inline(__always)
    static func lower(_ byte: UInt8) -> UInt8 {
        byte &- UInt8(ascii: "A") < 26 ? byte | 0x20 : byte
    }

    /// True for `0`–`9`.
    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    /// Finds lowercase ASCII tokens in one pass over a byte buffer (case-insensitively). A bitmap
    /// of the tokens' first three bytes rules out most positions at the cost of one bit test;
    /// at the others only the tokens that start with that byte are compared.
    struct TokenScanner: Sendable {
        /// Every token's bytes, back to back.
        private let pool: [UInt8]
        /// Token `i` is `pool[starts[i] ..< starts[i + 1]]`.
        private let starts: [Int]
        /// Tokens whose first byte is `b` are `order[buckets[b] ..< buckets[b + 1]]`.
        private let buckets: [Int]
        /// Token numbers grouped by first byte.
        private let order: [Int]
        /// Bit `roll(roll(roll(0, a), b), c)` is set when some token starts with bytes `a b c`.
        private let trigrams: [UInt64]
        /// The shortest token's length; the trigram bitmap is used only when it is at least 3.
        private let shortest: Int
        /// How many tokens there are.
        let count: Int

        /// A scanner for `tokens`, lowercased; empty tokens never match.
        init(_ tokens: [String]) {
            let lowered = tokens.map { $0.utf8.map(UserAgentClassifier.lower) }
            var pool: [UInt8] = []
            var starts = [0]
            for token in lowered {
                pool += token
                starts.append(pool.count)
            }
            var byFirst = [[Int]](repeating: [], count: 256)
            for (index, token) in lowered.enumerated() {
                if let first = token.first { byFirst[Int(first)].append(index) }
            }
            var buckets = [0]
            var order: [Int] = []
            for ids in byFirst {
                order += ids
                buckets.append(order.count)
            }
            var trigrams = [UInt64](repeating: 0, count: (Self.trigramMask + 1) / 64)
            for token in lowered where token.count >= 3 {
                let hash = token.prefix(3).reduce(0, Self.roll)
                trigrams[hash >> 6] |= 1 << UInt64(hash & 63)
            }
            self.trigrams = trigrams
            self.shortest = lowered.map(\.count).min() ?? 0
            self.pool = pool
            self.starts = starts
            self.buckets = buckets
            self.order = order
            self.count = tokens.count
        }

        /// 15 bits: five from each of the last three bytes, all of a lowercase letter's.
        private static let trigramMask = 0x7FFF

        /// The hash of the last three bytes after `byte` follows those hashed into `hash`.
        @inline(__always)
        private static func roll(_ hash: Int, _ byte: UInt8) -> Int { ((hash << 5) ^ Int(byte)) & trigramMask }

        /// The length in bytes of token `id`.
        func length(of id: Int) -> Int { starts[id + 1] - starts[id] }

        /// Calls `found(token, start)` for every occurrence of every token, in order of position,
        /// until it returns false.
        @inline(__always)
        func scan(_ bytes: UnsafeBufferPointer<UInt8>, _ found: (_ token: Int, _ start: Int) -> Bool) {
            let count = bytes.count
            let filtered = shortest >= 3
            guard count > 0, !filtered || count >= 3 else { return }
            // The trigram hash of bytes index ..< index + 3, rolled along.
            var hash = filtered ? Self.roll(Self.roll(0, UserAgentClassifier.lower(bytes[0])), UserAgentClassifier.lower(bytes[1])) : 0
            let last = filtered ? count - 3 : count - 1
            var index = 0
            while index <= last {
                defer { index += 1 }
                if filtered {
                    hash = Self.roll(hash, UserAgentClassifier.lower(bytes[index + 2]))
                    if trigrams[hash >> 6] & (1 << UInt64(hash & 63)) == 0 { continue }
                }
                let first = Int(UserAgentClassifier.lower(bytes[index]))
                for slot in buckets[first] ..< buckets[first + 1] {
                    let id = order[slot]
                    let start = starts[id]
                    let length = starts[id + 1] - start
                    guard length <= count - index else { continue }
                    var offset = 1
                    while offset < length, UserAgentClassifier.lower(bytes[index + offset]) == pool[start + offset] {
                        offset += 1
                    }
                    if offset == length, !found(id, index) { return }
                }
            }
        }
    }

    /// The bot table, ready to scan.
    struct BotMatcher: Sendable {
        /// All bot tokens.
        let scanner: TokenScanner
        /// Per token: must end a word.
        let wordEnd: [Bool]
        /// Per token: bytes that must not come right before it.
        let notAfter: [[UInt8]]

        /// Compiles `patterns`.
        init(_ patterns: [BotPattern]) {
            scanner = TokenScanner(patterns.map(\.token))
            wordEnd = patterns.map(\.wordEnd)
            notAfter = patterns.map { $0.notAfter.utf8.map(UserAgentClassifier.lower) }
        }

        /// True when some token occurs with its conditions met.
        func matches(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            var hit = false
            scanner.scan(bytes) { id, start in
                if accepts(id, at: start, in: bytes) {
                    hit = true
                    return false
                }
                return true
            }
            return hit
        }

        /// Whether the occurrence of token `id` at `start` meets its conditions.
        private func accepts(_ id: Int, at start: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            if wordEnd[id] {
                let end = start + scanner.length(of: id)
                if end < bytes.count, UserAgentClassifier.lower(bytes[end]) &- UInt8(ascii: "a") < 26 { return false }
            }
            let before = notAfter[id]
            if !before.isEmpty, start >= before.count {
                var same = true
                for (offset, byte) in before.enumerated() where UserAgentClassifier.lower(bytes[start - before.count + offset]) != byte {
                    same = false
                    break
                }
                if same { return false }
            }
            return true
        }
    }

    /// The compiled bot table.
    static let bots = BotMatcher(botPatterns)
}
