// User-agent classification: browser, system and device from ordered tables of tokens, and a
// cheap bot check. Names follow Plausible Analytics' dashboards ("Chrome", "Mac", "GNU/Linux" …).
//
// Everything works on the first `UserAgentClassifier.scanLimit` UTF-8 bytes, lowercased ASCII,
// with one pass per call over those bytes: the tokens of all tables are indexed by their first
// byte, so each input byte is compared only with the tokens that start with it.

/// The kind of device a user agent runs on, as dashboards group it.
public enum DeviceKind: String, Sendable, Equatable {
    case desktop = "Desktop", mobile = "Mobile", tablet = "Tablet"
}

/// What a user agent says about the browser, the operating system and the device.
public struct UserAgentInfo: Sendable, Equatable {
    /// The browser, e.g. "Chrome"; "" when unknown.
    public var browser: String
    /// The browser's "major.minor" (or "major" when that is all there is), e.g. "120.0"; "" when unknown.
    public var browserVersion: String
    /// The operating system, e.g. "Windows"; "" when unknown.
    public var os: String
    /// The system's version: "10" for Windows 10 and 11, "10.15" for macOS, "17.1" for iOS, "14" for Android; "" when unknown.
    public var osVersion: String
    /// Desktop, mobile or tablet; desktop when nothing says otherwise.
    public var device: DeviceKind

    /// A description from its parts.
    public init(browser: String, browserVersion: String, os: String, osVersion: String, device: DeviceKind) {
        self.browser = browser
        self.browserVersion = browserVersion
        self.os = os
        self.osVersion = osVersion
        self.device = device
    }
}

/// Classifies user-agent strings with ordered tables of patterns; never traps on any input.
public enum UserAgentClassifier {
    /// The most UTF-8 bytes of a user agent either function looks at.
    static let scanLimit = 512

    /// The browser, system and device a user agent names. Input is untrusted and may be any bytes/length: look at most at the first 512 UTF-8 bytes.
    public static func classify(_ userAgent: String) -> UserAgentInfo {
        withScannedBytes(userAgent) { tables.classify($0) }
    }

    /// True when the user agent is a crawler, bot, monitor, preview fetcher or headless/automated browser.
    public static func isBot(_ userAgent: String) -> Bool {
        withScannedBytes(userAgent) { bots.matches($0) }
    }

    /// Calls `body` with the first `scanLimit` UTF-8 bytes, copying only strings that are not stored as UTF-8.
    @inline(__always)
    private static func withScannedBytes<R>(_ string: String, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if let result = string.utf8.withContiguousStorageIfAvailable({ body(UnsafeBufferPointer(rebasing: $0.prefix(scanLimit))) }) {
            return result
        }
        return Array(string.utf8.prefix(scanLimit)).withUnsafeBufferPointer(body)
    }
}

// MARK: - Classifying

extension UserAgentClassifier {
    /// The compiled browser, system and device tables, sharing one scanner.
    struct Tables: Sendable {
        /// A version source with its token resolved to a scanner token number.
        enum Version: Sendable {
            case none
            case at(Int)
            case windowsNT(Int)
        }

        /// A compiled `Rule`.
        struct Compiled: Sendable {
            let token: Int
            let name: String
            let version: Version
            let requires: [Int]
            let excludes: [Int]
        }

        /// A compiled `DeviceRule`.
        struct CompiledDevice: Sendable {
            let token: Int
            let kind: DeviceKind
            let excludes: [Int]
        }

        let scanner: TokenScanner
        let browsers: [Compiled]
        let systems: [Compiled]
        let devices: [CompiledDevice]

        /// Compiles the tables, giving every distinct token one number.
        init(browsers browserRules: [Rule], systems systemRules: [Rule], devices deviceRules: [DeviceRule]) {
            var numbers: [String: Int] = [:]
            var tokens: [String] = []
            func number(_ token: String) -> Int {
                let key = String(decoding: token.utf8.map(UserAgentClassifier.lower), as: UTF8.self)
                if let known = numbers[key] { return known }
                numbers[key] = tokens.count
                tokens.append(key)
                return tokens.count - 1
            }
            func compile(_ rule: Rule) -> Compiled {
                let token = number(rule.token)
                let version: Version
                switch rule.version {
                case .noVersion: version = .none
                case .afterToken: version = .at(token)
                case .after(let other): version = .at(number(other))
                case .windowsNT: version = .windowsNT(token)
                }
                return Compiled(token: token, name: rule.name, version: version, requires: rule.requires.map(number), excludes: rule.excludes.map(number))
            }
            browsers = browserRules.map(compile)
            systems = systemRules.map(compile)
            devices = deviceRules.map { CompiledDevice(token: number($0.token), kind: $0.kind, excludes: $0.excludes.map(number)) }
            scanner = TokenScanner(tokens)
        }

        /// Classifies at most `scanLimit` bytes.
        func classify(_ bytes: UnsafeBufferPointer<UInt8>) -> UserAgentInfo {
            withUnsafeTemporaryAllocation(of: Int16.self, capacity: Swift.max(scanner.count, 1)) { firsts in
                // Where each token first occurs, or -1.
                firsts.initialize(repeating: -1)
                scanner.scan(bytes) { id, start in
                    if firsts[id] < 0 { firsts[id] = Int16(truncatingIfNeeded: start) }
                    return true
                }
                let firstsView = UnsafeBufferPointer(firsts)
                var info = UserAgentInfo(browser: "", browserVersion: "", os: "", osVersion: "", device: .desktop)
                if let rule = firstMatch(browsers, firstsView) {
                    info.browser = rule.name
                    info.browserVersion = version(rule.version, bytes, firstsView)
                }
                if let rule = firstMatch(systems, firstsView) {
                    info.os = rule.name
                    info.osVersion = version(rule.version, bytes, firstsView)
                }
                for rule in devices where firstsView[rule.token] >= 0 && !rule.excludes.contains(where: { firstsView[$0] >= 0 }) {
                    info.device = rule.kind
                    break
                }
                return info
            }
        }

        /// The first rule whose token and requirements are present and whose exclusions are not.
        private func firstMatch(_ rules: [Compiled], _ firsts: UnsafeBufferPointer<Int16>) -> Compiled? {
            rules.first { rule in
                firsts[rule.token] >= 0
                    && rule.requires.allSatisfy { firsts[$0] >= 0 }
                    && !rule.excludes.contains { firsts[$0] >= 0 }
            }
        }

        /// The version a rule points at; "" when its token is absent or no number follows.
        private func version(_ source: Version, _ bytes: UnsafeBufferPointer<UInt8>, _ firsts: UnsafeBufferPointer<Int16>) -> String {
            switch source {
            case .none:
                return ""
            case .at(let token):
                let start = Int(firsts[token])
                return start < 0 ? "" : UserAgentClassifier.readVersion(bytes, from: start + scanner.length(of: token))
            case .windowsNT(let token):
                let start = Int(firsts[token])
                guard start >= 0 else { return "" }
                let nt = UserAgentClassifier.readVersion(bytes, from: start + scanner.length(of: token))
                return UserAgentClassifier.windowsReleases.first { $0.nt == nt }?.name ?? nt
            }
        }
    }

    /// The compiled browser, system and device tables.
    static let tables = Tables(browsers: browserRules, systems: systemRules, devices: deviceRules)

    /// The most digits a version component may have; longer runs are build codes or junk.
    static let maxVersionDigits = 6

    /// "major.minor" (or "major") read at `start`, after at most two separators (` /]_:-`);
    /// `_` counts as a dot ("17_1" → "17.1"). "" when no number is there.
    static func readVersion(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> String {
        let count = bytes.count
        var index = start
        var skipped = 0
        while index < count, skipped < 2 {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "/"), UInt8(ascii: "]"), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "-"):
                index += 1
                skipped += 1
            default:
                skipped = 2
            }
        }
        let majorStart = index
        while index < count, isDigit(bytes[index]) { index += 1 }
        let majorCount = index - majorStart
        guard majorCount > 0, majorCount <= maxVersionDigits else { return "" }
        var minorStart = index
        var minorCount = 0
        if index + 1 < count, bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: "_"), isDigit(bytes[index + 1]) {
            minorStart = index + 1
            var end = minorStart
            while end < count, isDigit(bytes[end]) { end += 1 }
            minorCount = end - minorStart
            guard minorCount <= maxVersionDigits else { return "" }
        }
        let length = majorCount + (minorCount > 0 ? 1 + minorCount : 0)
        return String(unsafeUninitializedCapacity: length) { output in
            var written = 0
            for offset in 0..<majorCount {
                output[written] = bytes[majorStart + offset]
                written += 1
            }
            if minorCount > 0 {
                output[written] = UInt8(ascii: ".")
                written += 1
                for offset in 0..<minorCount {
                    output[written] = bytes[minorStart + offset]
                    written += 1
                }
            }
            return written
        }
    }
}
