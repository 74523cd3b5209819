// libFuzzer target `head`: what ingest reads from a request head and a query string. The input
// is split into fields on "\n"; every field goes through MediaType, ClientAddress, Timestamp,
// and a query-string split into StatsQuery; all fields together are an X-Forwarded-For list.
// Built and run by scripts/fuzz; crashes land in .build/fuzz/artifacts/head/.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    // Header values reach the code as Strings (invalid UTF-8 repaired), as Hummingbird gives them.
    let fields = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }

    for field in fields {
        checkMediaType(field)
        checkAddress(field)
        checkTimestamp(field)
        if field.utf8.contains(UInt8(ascii: "=")) { checkStatsQuery(field) }
    }
    let hops = referenceHops(fields)
    for trusted in 0...3 { checkForwarded(fields, hops, trusted) }
    return 0
}

private func isTokenOrSlash(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
    default: Array("!#$%&'*+-.^_`|~/".utf8).contains(byte)
    }
}

private func checkMediaType(_ header: String) {
    guard let essence = MediaType.essence(of: header) else { return }
    let utf8 = Array(essence.utf8)
    fuzzCheck(header.utf8.count <= MediaType.maxHeaderBytes, "essence of a \(header.utf8.count)-byte header")
    fuzzCheck(utf8.filter { $0 == UInt8(ascii: "/") }.count == 1, "essence \(essence.debugDescription) has not one /")
    fuzzCheck(utf8.first != UInt8(ascii: "/") && utf8.last != UInt8(ascii: "/"), "essence \(essence.debugDescription) lacks type or subtype")
    fuzzCheck(utf8.allSatisfy(isTokenOrSlash), "essence \(essence.debugDescription) holds a non-token byte or uppercase")
    fuzzCheck(MediaType.essence(of: essence) == essence, "essence not idempotent: \(essence.debugDescription)")
    if header.utf8.count + 8 <= MediaType.maxHeaderBytes {
        let padded = " \t" + header + " ;q=1"
        fuzzCheck(MediaType.essence(of: padded) == essence, "padding changed essence of \(header.debugDescription)")
    }
    let json = MediaType.isJSONCompatible(essence)
    fuzzCheck(json == (essence == "application/json" || essence == "text/plain" || essence.hasSuffix("+json")), "isJSONCompatible(\(essence))")
}

private func checkAddress(_ text: String) {
    guard let address = ClientAddress(text) else { return }
    fuzzCheck(!text.isEmpty && text.utf8.count <= 64 && !text.utf8.contains(0), "parsed \(text.debugDescription)")
    let key = address.rateLimitKey
    fuzzCheck(key.utf8.allSatisfy { (0x21...0x7E).contains($0) }, "key \(key.debugDescription)")
    switch address {
    case .v4:
        fuzzCheck(ClientAddress(key) == address, "v4 key \(key) does not parse back to \(address)")
        fuzzCheck(ClientAddress(key + ":8080") == address, "v4 key \(key):8080 does not parse back")
    case .v6(let bytes):
        fuzzCheck(bytes.count == 16, "v6 with \(bytes.count) bytes")
        fuzzCheck(!(bytes.prefix(10).allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF), "v4-mapped kept as v6: \(text)")
        fuzzCheck(key.hasSuffix("::/64"), "v6 key \(key) not a /64")
        guard case .v6(let prefix) = ClientAddress(String(key.dropLast(3))) else { fuzzFail("v6 key \(key) does not parse") }
        fuzzCheck(prefix.prefix(8) == bytes.prefix(8) && prefix.suffix(8).allSatisfy { $0 == 0 }, "v6 key \(key) is not the /64 of \(text)")
        fuzzCheck(ClientAddress("[\(String(key.dropLast(3)))]:443") == ClientAddress(String(key.dropLast(3))), "bracketed key differs")
    }
}

private func checkTimestamp(_ text: String) {
    if let millis = Timestamp.parseISO8601(text) {
        let formatted = Timestamp.formatISO8601(millis)
        fuzzCheck(Timestamp.parseISO8601(formatted) == millis, "\(text.debugDescription) -> \(millis) -> \(formatted) does not parse back")
    }
    if let millis = Timestamp.parseDay(text) {
        fuzzCheck(millis % 86_400_000 == 0, "day \(text.debugDescription) at \(millis)")
        fuzzCheck(Timestamp.formatDay(millis) == text, "day \(text.debugDescription) formats as \(Timestamp.formatDay(millis))")
    }
}

/// `a=b&c=d` as a router reads it: percent-decoded, `+` left alone, first value of a name wins.
private func checkStatsQuery(_ query: String) {
    var parameters: [String: String] = [:]
    for pair in query.split(separator: "&") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
        if parameters[name] == nil { parameters[name] = value }
    }
    let query: StatsQuery
    do {
        query = try StatsQuery(siteID: parameters["site_id"], date: parameters["date"], limit: parameters["limit"])
    } catch {
        fuzzCheck(error.field != nil, "StatsQuery error without a field: \(error)")
        return
    }
    fuzzCheck((1...64).contains(query.siteID.utf8.count) && query.siteID.utf8.allSatisfy(EventValidator.siteIDCharacters.contains),
              "site_id \(query.siteID.debugDescription)")
    fuzzCheck((1...100).contains(query.limit), "limit \(query.limit)")
    fuzzCheck(Timestamp.parseDay(query.date) == query.dayStart && Timestamp.formatDay(query.dayStart) == query.date, "date \(query.date)")
    fuzzCheck((try? JSONSerialization.jsonObject(with: Data(query.pipelineJSON.utf8))) is [Any], "pipeline is not a JSON array:\n\(query.pipelineJSON)")
}

/// The reference reading of `X-Forwarded-For`, written plainly: the non-blank entries, trimmed.
private func referenceHops(_ values: [String]) -> [String] {
    var hops: [String] = []
    for value in values {
        for entry in value.split(separator: ",", omittingEmptySubsequences: false) {
            var text = Substring(entry)
            while let c = text.first, c == " " || c == "\t" { text.removeFirst() }
            while let c = text.last, c == " " || c == "\t" { text.removeLast() }
            if !text.isEmpty { hops.append(String(text)) }
        }
    }
    return hops
}

/// `ClientAddress.forwarded` against the reference reading.
private func checkForwarded(_ values: [String], _ hops: [String], _ trusted: Int) {
    let got = ClientAddress.forwarded(values, trustedProxies: trusted)
    let expected: ClientAddress?
    if trusted <= 0 || trusted > ClientAddress.maxForwardedHops || hops.count < trusted {
        expected = nil
    } else {
        expected = ClientAddress(hops[hops.count - trusted])
    }
    fuzzCheck(got == expected, "forwarded(\(values.map(\.debugDescription)), \(trusted)) = \(String(describing: got)), expected \(String(describing: expected))")
}
