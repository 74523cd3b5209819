// libFuzzer target `visit`: what the worker derives a visit from, all of it client-controlled.
// The whole input is a user agent (UserAgentClassifier.classify / isBot, against a plain
// reference scan) and a page URL (PageURL.parse, queryValue); split at the first "\n" it is a
// page URL and a referrer for TrafficSource.classify. Built and run by scripts/fuzz; crashes
// land in .build/fuzz/artifacts/visit/.
#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    // Header values and JSON strings reach the code as Strings (invalid UTF-8 repaired).
    let text = String(decoding: bytes, as: UTF8.self)

    checkUserAgent(text)
    checkPageURL(text)
    if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
        let page = String(decoding: bytes[..<newline], as: UTF8.self)
        let referrer = String(decoding: bytes[(newline + 1)...], as: UTF8.self)
        checkTrafficSource(page: page, referrer: referrer)
        checkPageURL(page)
        checkPageURL(referrer)
    } else {
        checkTrafficSource(page: text, referrer: nil)
    }
    return 0
}

// MARK: - User agents

private let browserNames = Set(UserAgentClassifier.browserRules.map(\.name)).union([""])
private let systemNames = Set(UserAgentClassifier.systemRules.map(\.name)).union([""])
private let windowsNames = Set(UserAgentClassifier.windowsReleases.map(\.name))

/// Every token any table looks for, lowercased, for the reference scan.
private let allTokens: [[UInt8]] = {
    var tokens: [String] = []
    for rule in UserAgentClassifier.browserRules + UserAgentClassifier.systemRules {
        tokens.append(rule.token)
        tokens += rule.requires + rule.excludes
        if case .after(let other) = rule.version { tokens.append(other) }
    }
    for rule in UserAgentClassifier.deviceRules { tokens += [rule.token] + rule.excludes }
    tokens += UserAgentClassifier.botPatterns.map(\.token)
    var seen: Set<[UInt8]> = []
    return tokens.map { $0.utf8.map(UserAgentClassifier.lower) }.filter { !$0.isEmpty && seen.insert($0).inserted }
}()
private let botTokens = UserAgentClassifier.botPatterns.map { pattern in
    (token: pattern.token.utf8.map(UserAgentClassifier.lower), notAfter: pattern.notAfter.utf8.map(UserAgentClassifier.lower), wordEnd: pattern.wordEnd)
}
private let allScanner = UserAgentClassifier.TokenScanner(allTokens.map { String(decoding: $0, as: UTF8.self) })

/// Where `token` starts in `text`, overlapping ones too: the plain reference, with libc's
/// `memchr` and `memcmp` (not instrumented, so the reference does not slow the run down).
private func occurrences(of token: [UInt8], in text: UnsafeRawBufferPointer) -> [Int] {
    guard let first = token.first, token.count <= text.count, let base = text.baseAddress else { return [] }
    var found: [Int] = []
    token.withUnsafeBytes { needle in
        var from = 0
        let lastStart = text.count - needle.count
        while from <= lastStart, let hit = memchr(base + from, Int32(first), lastStart - from + 1) {
            let start = UnsafeRawPointer(hit) - base
            if memcmp(hit, needle.baseAddress!, needle.count) == 0 { found.append(start) }
            from = start + 1
        }
    }
    return found
}

/// "", or "major" / "major.minor" of 1–6 digits each (Windows: also a release name).
private func isVersion(_ version: String) -> Bool {
    if version.isEmpty { return true }
    let parts = version.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
    return (1...2).contains(parts.count)
        && parts.allSatisfy { (1...UserAgentClassifier.maxVersionDigits).contains($0.count) && $0.allSatisfy(UserAgentClassifier.isDigit) }
}

/// The ASCII letters flipped to upper case: the classifier ignores ASCII case.
private func asciiUppercased(_ text: String) -> String {
    String(decoding: text.utf8.map { $0 &- UInt8(ascii: "a") < 26 ? $0 - 32 : $0 }, as: UTF8.self)
}

private func checkUserAgent(_ ua: String) {
    let info = UserAgentClassifier.classify(ua)
    let bot = UserAgentClassifier.isBot(ua)
    fuzzCheck(browserNames.contains(info.browser), "browser \(info.browser.debugDescription)")
    fuzzCheck(systemNames.contains(info.os), "os \(info.os.debugDescription)")
    fuzzCheck(isVersion(info.browserVersion), "browser version \(info.browserVersion.debugDescription)")
    fuzzCheck(isVersion(info.osVersion) || (info.os == "Windows" && windowsNames.contains(info.osVersion)), "os version \(info.osVersion.debugDescription) of \(info.os)")
    fuzzCheck(info.browser.isEmpty ? info.browserVersion.isEmpty : true, "a version without a browser: \(info)")
    fuzzCheck(info.os.isEmpty ? info.osVersion.isEmpty : true, "a version without a system: \(info)")
    // Bounded, whatever the input: the stored fields stay small.
    for field in [info.browser, info.browserVersion, info.os, info.osVersion] {
        fuzzCheck(field.utf8.count <= 64, "a \(field.utf8.count)-byte field: \(field.debugDescription)")
    }

    // ASCII case does not matter.
    let upper = asciiUppercased(ua)
    fuzzCheck(UserAgentClassifier.classify(upper) == info, "classify differs for upper case:\n  \(UserAgentClassifier.classify(upper))\n  \(info)")
    fuzzCheck(UserAgentClassifier.isBot(upper) == bot, "isBot differs for upper case")

    // Only the first scanLimit bytes count: a longer agent cut at a character boundary after them reads the same.
    let utf8 = Array(ua.utf8)
    if utf8.count > UserAgentClassifier.scanLimit {
        var cut = UserAgentClassifier.scanLimit
        while cut < utf8.count, utf8[cut] & 0xC0 == 0x80 { cut += 1 }
        let prefix = String(decoding: utf8[..<cut], as: UTF8.self)
        fuzzCheck(UserAgentClassifier.classify(prefix) == info, "bytes after \(UserAgentClassifier.scanLimit) changed classify")
        fuzzCheck(UserAgentClassifier.isBot(prefix) == bot, "bytes after \(UserAgentClassifier.scanLimit) changed isBot")
    }

    // The scanner (first-byte buckets, trigram filter) finds exactly what a plain search finds.
    let scanned = Array(utf8.prefix(UserAgentClassifier.scanLimit))
    let lowered = scanned.map(UserAgentClassifier.lower)
    // Occurrences as start * 4096 + token number, sorted: no allocation per hit.
    let reference = lowered.withUnsafeBytes { text -> Bool in
        var expected: [Int] = []
        for (id, token) in allTokens.enumerated() {
            for start in occurrences(of: token, in: text) { expected.append(start << 12 | id) }
        }
        expected.sort()
        var found: [Int] = []
        scanned.withUnsafeBufferPointer { buffer in
            allScanner.scan(buffer) { id, start in
                found.append(start << 12 | id)
                return true
            }
        }
        found.sort()
        if found != expected {
            let show = { (hits: [Int]) in hits.map { "\(String(decoding: allTokens[$0 & 0xFFF], as: UTF8.self))@\($0 >> 12)" } }
            fuzzFail("scanner found \(show(found)), plain search \(show(expected))")
        }

        // isBot against the bot table read plainly.
        var reference = false
        for pattern in botTokens where !reference {
            for start in occurrences(of: pattern.token, in: text) {
                let end = start + pattern.token.count
                if pattern.wordEnd, end < lowered.count, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(lowered[end]) { continue }
                if !pattern.notAfter.isEmpty, start >= pattern.notAfter.count, lowered[(start - pattern.notAfter.count)..<start].elementsEqual(pattern.notAfter) { continue }
                reference = true
                break
            }
        }
        return reference
    }
    fuzzCheck(bot == reference, "isBot \(bot), reference \(reference)")
}

// MARK: - Page URLs

private func hasControl(_ text: String) -> Bool {
    text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }
}

private func checkPageURL(_ url: String) {
    let page = PageURL.parse(url)
    let hashed = PageURL.parse(url, hashMode: true)
    fuzzCheck((page == nil) == (hashed == nil), "hash mode changed whether \(url.debugDescription) parses")
    guard let page, let hashed else {
        if let page = PageURL.parse(url) { fuzzFail("parse is not deterministic: \(page)") }
        return
    }
    fuzzCheck(url.utf8.count <= PageURL.maxBytes, "parsed a \(url.utf8.count)-byte URL")
    fuzzCheck(!hasControl(url), "parsed a URL with a control character: \(url.debugDescription)")
    let scheme = String(decoding: url.utf8.drop { $0 == UInt8(ascii: " ") }.prefix { $0 != UInt8(ascii: ":") }.map(UserAgentClassifier.lower), as: UTF8.self)
    fuzzCheck(!["javascript", "data", "vbscript"].contains(scheme), "parsed a \(scheme): URL")

    let host = page.hostname
    fuzzCheck(!host.isEmpty && host.utf8.count <= PageURL.maxHostBytes, "host of \(host.utf8.count) bytes")
    fuzzCheck(!host.utf8.contains { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }, "host not lowercase: \(host.debugDescription)")
    if host.hasPrefix("[") {
        fuzzCheck(host.hasSuffix("]") && host.utf8.dropFirst().dropLast().allSatisfy { $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") || $0.isHexDigit },
                  "IPv6 host \(host.debugDescription)")
    } else {
        fuzzCheck(host.utf8.allSatisfy { $0.isHostByte } && host.utf8.contains { $0.isAlphanumeric }, "host \(host.debugDescription)")
    }
    for (name, part) in [("path", page.path), ("query", page.query), ("hashed path", hashed.path)] {
        fuzzCheck(part.utf8.count <= url.utf8.count, "\(name) of \(part.utf8.count) bytes from a \(url.utf8.count)-byte URL")
        fuzzCheck(!hasControl(part), "\(name) with a control character: \(part.debugDescription)")
    }
    fuzzCheck(page.path.utf8.first == UInt8(ascii: "/"), "path \(page.path.debugDescription)")
    fuzzCheck(!page.path.utf8.contains { $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") } && !page.query.utf8.contains(UInt8(ascii: "#")),
              "path or query holds ? or #: \(page)")
    fuzzCheck(hashed.hostname == host && hashed.query == page.query && hashed.path.utf8.starts(with: page.path.utf8), "hash mode: \(hashed) vs \(page)")
    fuzzCheck(hashed.path == page.path || hashed.path.utf8.dropFirst(page.path.utf8.count).first == UInt8(ascii: "#"), "hash mode path \(hashed.path.debugDescription)")

    // The parts put back together parse to the same parts (the empty fragment keeps trailing spaces).
    let rebuilt = "a://" + host + page.path + "?" + page.query + "#"
    if rebuilt.utf8.count <= PageURL.maxBytes {
        fuzzCheck(PageURL.parse(rebuilt) == page, "\(rebuilt.debugDescription) parses to \(String(describing: PageURL.parse(rebuilt))), not \(page)")
    }

    for name in ["utm_source", "utm_medium", "source", "ref", "", "a"] {
        if let value = page.queryValue(name) {
            fuzzCheck(!value.isEmpty && value.utf8.count <= page.query.utf8.count, "queryValue(\(name)) = \(value.debugDescription) from \(page.query.debugDescription)")
        }
    }
}

private extension UInt8 {
    var isHexDigit: Bool { (0x30...0x39).contains(self) || (0x41...0x46).contains(self) || (0x61...0x66).contains(self) }
    var isAlphanumeric: Bool { (0x30...0x39).contains(self) || (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) }
    var isHostByte: Bool { isAlphanumeric || self == UInt8(ascii: ".") || self == UInt8(ascii: "-") || self == UInt8(ascii: "_") }
}

// MARK: - Traffic sources

/// A cleaned query value: 1–256 bytes, no control character, no whitespace at either end, clean already.
private func checkCleaned(_ value: String?, _ what: String) {
    guard let value else { return }
    fuzzCheck((1...TrafficSource.maxValueBytes).contains(value.utf8.count), "\(what) of \(value.utf8.count) bytes")
    fuzzCheck(!value.unicodeScalars.contains { $0.properties.generalCategory == .control }, "\(what) with a control character: \(value.debugDescription)")
    fuzzCheck(!(value.unicodeScalars.first?.properties.isWhitespace ?? false) && !(value.unicodeScalars.last?.properties.isWhitespace ?? false),
              "\(what) not trimmed: \(value.debugDescription)")
    fuzzCheck(TrafficSource.clean(value) == value, "\(what) cleans again to something else: \(value.debugDescription)")
}

private func checkTrafficSource(page pageText: String, referrer: String?) {
    let page = PageURL.parse(pageText)
    let result = TrafficSource.classify(page: page, referrer: referrer)
    fuzzCheck(!result.source.isEmpty && result.source.utf8.count <= TrafficSource.maxValueBytes, "source of \(result.source.utf8.count) bytes")
    let utm = result.utm
    for (name, value) in [("utm_medium", utm.medium), ("utm_source", utm.source), ("utm_campaign", utm.campaign), ("utm_content", utm.content), ("utm_term", utm.term)] {
        checkCleaned(value, name)
    }
    if page == nil {
        fuzzCheck(utm == UTM(), "UTM values without a page: \(utm)")
    }
    let named = page.flatMap { utm.source ?? TrafficSource.clean($0.queryValue("source")) ?? TrafficSource.clean($0.queryValue("ref")) }
    checkCleaned(named, "named source")
    if let named { fuzzCheck(result.source == named, "source \(result.source.debugDescription), the page names \(named.debugDescription)") }

    let parsedReferrer = referrer.flatMap { PageURL.parse($0) }
    if let shown = result.referrer {
        guard let referrer, let parsedReferrer else { fuzzFail("referrer \(shown.debugDescription) from nothing that parses") }
        fuzzCheck(!shown.isEmpty && shown.utf8.count <= referrer.utf8.count && shown.utf8.count <= 2000, "referrer of \(shown.utf8.count) bytes from \(referrer.utf8.count)")
        fuzzCheck(!hasControl(shown), "referrer with a control character: \(shown.debugDescription)")
        let host = TrafficSource.bareHost(parsedReferrer.hostname)
        fuzzCheck(shown.utf8.starts(with: host.utf8) && shown.utf8.last != UInt8(ascii: "/"), "referrer \(shown.debugDescription) for host \(host)")
        if let page { fuzzCheck(TrafficSource.bareHost(page.hostname) != host, "an internal referrer was kept: \(shown)") }
        if named == nil {
            fuzzCheck(result.source == SourceNames.name(forHost: parsedReferrer.hostname) ?? host, "source \(result.source.debugDescription) for \(host)")
        }
    } else {
        if let parsedReferrer, page.map({ TrafficSource.bareHost($0.hostname) != TrafficSource.bareHost(parsedReferrer.hostname) }) ?? true {
            fuzzFail("the external referrer \(parsedReferrer) was lost")
        }
        if named == nil { fuzzCheck(result.source == TrafficSource.direct, "source \(result.source.debugDescription) with no referrer") }
    }
    if let name = SourceNames.name(forHost: result.source) {
        fuzzCheck(!name.isEmpty, "empty source name")
    }
}
