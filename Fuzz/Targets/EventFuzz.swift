// libFuzzer target `event`: request bodies through EventValidator (one event, a batch, and a
// Plausible Events API body), then every accepted event through the queue payload writer,
// JSONDecoder, the worker's `QueueEnvelope.decode` and `revalidate`; and `JSONReader`'s grammar
// against JSONSerialization's.
// Built and run by scripts/fuzz; crashes (a trap or a broken invariant) land in
// .build/fuzz/artifacts/event/.
import Foundation

/// A fixed receive time, 2025-11-23T16:44:31.123Z, so timestamps near the seed's pass.
private let now: Int64 = 1_763_916_271_123
private let validator = EventValidator()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let body = UnsafeRawBufferPointer(start: start, count: count)
    // A body the reader finds well-formed is never answered "not valid JSON": a field of the
    // wrong type or out of range is a problem of that field (the decoders never throw for one).
    let wellFormed = checkGrammar(body)
    func checkError(_ error: ValidationError) {
        checkErrorJSON(error)
        fuzzCheck(!wellFormed || error.code != "INVALID_JSON",
                  "a well-formed body answered \(error.message.debugDescription): \(String(decoding: body, as: UTF8.self).debugDescription)")
    }

    var single: Event?
    do {
        let event = try validator.validateEvent(body, now: now)
        checkAccepted(event, body: body)
        single = event
    } catch {
        checkError(error)
    }

    do {
        let results = try validator.validateBatch(body, now: now)
        fuzzCheck(!results.isEmpty && results.count <= EventValidator.maxBatchCount, "batch result count \(results.count)")
        for result in results {
            switch result {
            case .success(let event): checkAccepted(event, body: body)
            case .failure(let error): checkError(error)
            }
        }
    } catch {
        checkError(error)
    }

    // What passes alone passes as the only element of a batch, and gives the same event (when
    // the body is plain UTF-8 starting with `{`: JSONDecoder also reads a BOM and UTF-16/32).
    if let single, body.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "{"), !body.contains(0) {
        var wrapped: [UInt8] = [UInt8(ascii: "[")]
        wrapped.append(contentsOf: body)
        wrapped.append(UInt8(ascii: "]"))
        do {
            let results = try validator.validateBatch(wrapped, now: now)
            fuzzCheck(results.count == 1, "[event] gave \(results.count) results")
            guard case .success(var event) = results[0] else { fuzzFail("[event] refused: \(results[0])") }
            event.eventID = single.eventID  // random when the body has none
            fuzzCheck(event == single, "[event] differs: \(event) vs \(single)")
        } catch {
            fuzzFail("[event] refused as a batch: \(error)")
        }
    }

    do {
        let plausible = try validator.validatePlausible(body, now: now)
        checkPlausible(plausible, body: body)
    } catch {
        checkError(error)
    }

    // The body as a User-Agent header: ClientContext keeps a prefix of at most 512 bytes.
    let text = String(decoding: body, as: UTF8.self)
    checkDomainTrim(text)
    checkCut(text, ClientContext.maxUserAgentBytes)
    checkCut(text, Int(body.first ?? 0) % 16)
    fuzzCheck(ClientContext(ua: text).ua == ClientContext.cut(text, toBytes: ClientContext.maxUserAgentBytes), "ClientContext(ua:) does not cut")
    return 0
}

/// `siteID(fromDomain:)` trims as Foundation's `.whitespaces` does (tab, the Unicode space
/// separators and U+200B), which it replaced for speed, then lowercases and drops one leading `www.`.
private func checkDomainTrim(_ text: String) {
    var expected = text.trimmingCharacters(in: .whitespaces).lowercased()
    if expected.hasPrefix("www.") { expected.removeFirst(4) }
    let site = EventValidator.siteID(fromDomain: Substring(text))
    fuzzCheck(site == expected, "domain \(text.debugDescription) gave \(site.debugDescription), Foundation's trim \(expected.debugDescription)")
}

/// `ClientContext.cut`: a prefix at a character boundary, at most `limit` bytes, at most 3 bytes short.
private func checkCut(_ text: String, _ limit: Int) {
    let cut = ClientContext.cut(text, toBytes: limit)
    let count = text.utf8.count
    fuzzCheck(cut.utf8.count <= limit || (cut == text && count <= limit), "cut to \(limit) gave \(cut.utf8.count) bytes")
    fuzzCheck(text.utf8.starts(with: cut.utf8), "cut to \(limit) is not a prefix: \(cut.debugDescription)")
    fuzzCheck(cut.utf8.count >= min(count, limit) - 3, "cut to \(limit) kept only \(cut.utf8.count) of \(count) bytes")
    if count > limit {
        let next = Array(text.utf8)[cut.utf8.count]
        fuzzCheck(next & 0xC0 != 0x80, "cut to \(limit) split a character")
    }
}

/// What `validatePlausible` promises about a `POST /api/event` body it accepts.
private func checkPlausible(_ result: PlausibleEvent, body: UnsafeRawBufferPointer) {
    if result.isEngagement {
        fuzzCheck(result.events.isEmpty, "engagement with \(result.events.count) events")
        return
    }
    let events = result.events
    fuzzCheck((1...EventValidator.maxDomains).contains(events.count), "\(events.count) events from one Plausible body")
    fuzzCheck(Set(events.map(\.eventID)).count == 1, "Plausible events with several ids: \(events.map(\.eventID))")
    fuzzCheck(Set(events.map(\.siteID)).count == events.count, "a site twice: \(events.map(\.siteID))")
    let first = events[0]
    for event in events {
        checkAccepted(event, body: body)
        fuzzCheck(!event.siteID.utf8.contains { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }, "site_id not lowercased: \(event.siteID)")
        // Everything but the site is the same for every site named.
        var same = event
        same.siteID = first.siteID
        fuzzCheck(same == first, "events differ beyond the site:\n  \(event)\n  \(first)")

        guard let name = event.name else { fuzzFail("Plausible event without a name: \(event)") }
        fuzzCheck((1...EventValidator.maxNameBytes).contains(name.utf8.count), "name of \(name.utf8.count) bytes")
        fuzzCheck(name.unicodeScalars.allSatisfy { $0.value >= 0x20 && !(0x7F...0x9F).contains($0.value) }, "name \(name.debugDescription)")
        fuzzCheck(name != "engagement", "an engagement event was kept")
        if name == "pageview" {
            fuzzCheck(event.eventType == "page_view", "pageview became \(event.eventType)")
        } else {
            // One `_` per byte the event type may not hold, cut to 64 bytes.
            fuzzCheck(event.eventType.utf8.count == min(64, name.utf8.count), "name \(name.debugDescription) -> event_type \(event.eventType)")
        }
        fuzzCheck(event.userID == nil, "Plausible event with a userid")
        fuzzCheck(event.timestamp == now, "Plausible event timestamp \(event.timestamp)")
        fuzzCheck(event.visit == nil, "visit fields set at ingest")

        guard let path = event.path else { fuzzFail("Plausible event without a path") }
        fuzzCheck(path.utf8.first == UInt8(ascii: "/") && path.utf8.count <= 2048, "path \(path.debugDescription)")
        guard let client = event.client, let url = client.url else { fuzzFail("Plausible event without client.url: \(event)") }
        fuzzCheck(!url.isEmpty && url.utf8.count <= EventValidator.maxURLBytes, "client.url of \(url.utf8.count) bytes")
        fuzzCheck(client.ip == nil && client.ua == nil, "ip or ua set by the validator: \(client)")
        if let ref = client.ref { fuzzCheck(!ref.isEmpty && ref.utf8.count <= EventValidator.maxURLBytes, "client.ref of \(ref.utf8.count) bytes") }
        // The path is the URL's, with the fragment only in hash mode.
        let plain = PageURL.parse(url)
        let hashed = PageURL.parse(url, hashMode: true)
        fuzzCheck(plain != nil && hashed != nil, "client.url does not parse: \(url.debugDescription)")
        fuzzCheck(path == plain?.path || path == hashed?.path, "path \(path.debugDescription) is not the path of \(url.debugDescription)")
    }
}

/// Everything the rules promise about an accepted event, and that its queue payload reads back.
private func checkAccepted(_ event: Event, body: UnsafeRawBufferPointer) {
    func within(_ text: String, _ allowed: ByteMask, _ max: Int) -> Bool {
        (1...max).contains(text.utf8.count) && text.utf8.allSatisfy(allowed.contains)
    }
    fuzzCheck(within(event.siteID, EventValidator.siteIDCharacters, 64), "site_id \(event.siteID.debugDescription)")
    fuzzCheck(within(event.eventType, EventValidator.eventTypeCharacters, 64), "event_type \(event.eventType.debugDescription)")
    if let path = event.path {
        fuzzCheck(path.utf8.first == UInt8(ascii: "/") && path.utf8.count <= 2048 && !path.utf8.contains(0), "path \(path.debugDescription)")
    } else {
        fuzzCheck(event.eventType != "page_view", "page_view without path")
    }
    if let user = event.userID { fuzzCheck((1...128).contains(user.utf8.count), "userid \(user.debugDescription)") }
    fuzzCheck(event.timestamp <= now + EventValidator.maxFutureSkewMillis, "timestamp \(event.timestamp) in the future")
    fuzzCheck(event.receivedAt == now, "received_at \(event.receivedAt)")
    fuzzCheck((1...64).contains(event.eventID.utf8.count), "event_id of \(event.eventID.utf8.count) bytes")
    fuzzCheck(event.eventID.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value != 0x7F }, "event_id \(event.eventID.debugDescription)")
    if let props = event.props {
        fuzzCheck(props.count <= 32, "\(props.count) props")
        for (key, value) in props {
            fuzzCheck(!key.isEmpty && key.utf8.count <= 128 && !key.hasPrefix("$") && !key.contains(".") && !key.utf8.contains(0),
                      "props key \(key.debugDescription)")
            if case .double(let d) = value { fuzzCheck(d.isFinite, "props.\(key) = \(d)") }
        }
    }

    // The queue payload: JSON without raw control bytes, which the worker decodes to the same event.
    let payload = event.queuePayload
    fuzzCheck(!payload.contains { $0 < 0x20 }, "raw control byte in payload \(String(decoding: payload, as: UTF8.self).debugDescription)")
    fuzzCheck((try? JSONSerialization.jsonObject(with: Data(payload))) is [String: Any],
              "payload is not a JSON object: \(String(decoding: payload, as: UTF8.self).debugDescription)")
    do {
        let decoded = try JSONDecoder().decode(Event.self, from: Data(payload))
        fuzzCheck(asReaderReads(decoded) == asReaderReads(event), "payload decodes to another event:\n  \(decoded)\n  \(event)\n  \(String(decoding: payload, as: UTF8.self))")
    } catch {
        fuzzFail("payload does not decode: \(error)\n  \(String(decoding: payload, as: UTF8.self).debugDescription)")
    }
    // The worker reads it with JSONReader: the same event, unmarked.
    do {
        let (read, marks) = try QueueEnvelope.decode(payload)
        fuzzCheck(read == event && marks == QueueMarks(), "QueueEnvelope reads another event:\n  \(read)\n  \(event)")
    } catch {
        fuzzFail("QueueEnvelope refuses the payload: \(error)\n  \(String(decoding: payload, as: UTF8.self).debugDescription)")
    }
    // Payloads with extra members (retry attempts, throttle marks) still decode.
    let extended = event.queuePayload(adding: [("attempts", .int(3)), ("throttled", .bool(true))])
    fuzzCheck((try? JSONDecoder().decode(Event.self, from: Data(extended))).map(asReaderReads) == asReaderReads(event), "payload with extras differs")

    // `Worker dead replay` accepts what ingest accepted, unchanged.
    do {
        let again = try validator.revalidate(event)
        fuzzCheck(again == event, "revalidate changed the event:\n  \(again)\n  \(event)")
    } catch {
        fuzzFail("revalidate refused an accepted event: \(error)\n  \(event)")
    }
}

/// `event` with every prop that is an integer past 2^53 as a double. `JSONDecoder` reads a whole
/// number written with an exponent (`9.223372036854776e+17`, how a double that large is written)
/// into `Int64` when it fits; `JSONReader` keeps a number past 2^53 that is not written as an
/// integer a double. The worker reads payloads with `JSONReader` (checked exactly below), so
/// JSONDecoder's second opinion is compared up to that difference.
private func asReaderReads(_ event: Event) -> Event {
    var event = event
    event.props = event.props?.mapValues { value in
        if case .int(let integer) = value, integer.magnitude >= 1 << 53 { return .double(Double(integer)) }
        return value
    }
    return event
}

/// `JSONReader` accepts exactly what JSONSerialization accepts, but for what RFC 8259 refuses
/// and swift-foundation reads (a trailing comma, a byte-order mark, UTF-16 and UTF-32), numbers
/// past `Double` (grammatical: the reader refuses them only when it reads them), and nesting
/// past `JSONReader.maxDepth`. Returns whether the reader accepts the body.
@discardableResult
private func checkGrammar(_ body: UnsafeRawBufferPointer) -> Bool {
    let reader = (try? JSONReader.read(body) { reader throws(JSONReadError) in try reader.skipValue() }) != nil
    let foundation = (try? JSONSerialization.jsonObject(with: Data(body), options: .fragmentsAllowed)) != nil
    if reader == foundation { return reader }
    let text = String(decoding: body, as: UTF8.self)
    if reader {
        // Only for a number past Double's range, which JSONSerialization refuses and the reader skips.
        fuzzCheck(holdsOutOfRangeNumber(body), "JSONReader accepts what JSONSerialization refuses: \(text.debugDescription)")
    } else {
        let nonASCIIStart = body.first.map { $0 == 0 || $0 >= 0x80 } ?? false
        let deep = body.reduce(0) { $0 + ($1 == UInt8(ascii: "[") || $1 == UInt8(ascii: "{") ? 1 : 0) } > JSONReader.maxDepth
        let trailingComma = text.range(of: #",\s*[\]}]"#, options: .regularExpression) != nil
        fuzzCheck(nonASCIIStart || deep || trailingComma || body.contains(0),
                  "JSONReader refuses what JSONSerialization accepts: \(text.debugDescription)")
    }
    return reader
}

/// Whether reading every number of an accepted body finds one past `Double`'s range.
private func holdsOutOfRangeNumber(_ body: UnsafeRawBufferPointer) -> Bool {
    func walk(_ reader: inout JSONReader) throws(JSONReadError) -> Bool {
        switch try reader.peek() {
        case .number: return try reader.readNumber() == .outOfRange
        case .object:
            var found = false
            if try reader.beginObject() {
                repeat {
                    _ = try reader.readKey()
                    found = try walk(&reader) || found
                } while try reader.nextMember()
            }
            return found
        case .array:
            var found = false
            if try reader.beginArray() {
                repeat { found = try walk(&reader) || found } while try reader.nextElement()
            }
            return found
        case .string, .bool, .null:
            try reader.skipValue()
            return false
        }
    }
    return (try? JSONReader.read(body) { reader throws(JSONReadError) in try walk(&reader) }) == true
}

/// Errors become `{"success":false,"error":…}` answers: they must serialize to JSON.
private func checkErrorJSON(_ error: ValidationError) {
    fuzzCheck(!error.code.isEmpty && !error.message.isEmpty, "empty error \(error)")
    fuzzCheck(error.message.utf8.count <= 512, "a \(error.message.utf8.count)-byte error message: \(error.message.prefix(300).debugDescription)")
    let bytes = error.json.bytes
    fuzzCheck((try? JSONSerialization.jsonObject(with: Data(bytes))) is [String: Any],
              "error JSON does not parse: \(String(decoding: bytes, as: UTF8.self).debugDescription)")
}
