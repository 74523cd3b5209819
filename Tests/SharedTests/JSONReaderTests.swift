import Foundation
import Testing

@testable import Shared

/// `JSONReader` reads what RFC 8259 allows and nothing else; where it replaced `JSONDecoder`
/// (event bodies, queued payloads) it reads the same values.
struct JSONReaderTests {
    /// True when the whole input is one JSON value to the reader.
    func accepts(_ bytes: [UInt8]) -> Bool {
        (try? JSONReader.read(bytes) { reader throws(JSONReadError) in try reader.skipValue() }) != nil
    }

    @Test(arguments: [
        "0", "-0", "1.5", "-1.5e-3", "1E+2", "true", "false", "null", #""""#, #""a\"\\\/\b\f\n\r\t""#, #""\u00e9\ud83d\ude00""#,
        "[]", " [ 1 , [ ] , { } ] ", #"{"a":{"b":[null]}}"#, "\u{FEFF}1", "01", "1.", ".5", "-", "1e", "1e+", "+1", "[1,]", #"{"a":1,}"#,
        "{,}", "[,1]", #""\x""#, #""\u12""#, #""\ud800""#, #""\udc00x""#, #""\ud800\u0041""#, "tru", "nul", "true false", "\"a\tb\"",
        #"{"a" 1}"#, #"{a:1}"#, "[1 2]", "", " ", "[", "]", #"{"a":}"#, "NaN", "Infinity", "-Infinity", "0x10", "1e400", "\"\u{7F}\"",
    ])
    func grammarAgreesWithJSONSerialization(text: String) throws {
        let bytes = Array(text.utf8)
        let foundation = (try? JSONSerialization.jsonObject(with: Data(bytes), options: .fragmentsAllowed)) != nil
        // Known differences, all on the refusing side: a trailing comma is not JSON (swift-foundation
        // reads one), nor a byte-order mark (RFC 8259 §8.1 lets a parser refuse it). 1e400 is
        // grammatical: skipped, it passes; read, it is out of range (a prop then refused on its own).
        if text == "1e400" {
            #expect(accepts(bytes))
            #expect(try JSONReader.read(bytes) { reader throws(JSONReadError) in try reader.readNumber() } == .outOfRange)
            return
        }
        if text.hasPrefix("\u{FEFF}") || text.hasSuffix(",]") || text.hasSuffix(",}") {
            #expect(!accepts(bytes))
            return
        }
        #expect(accepts(bytes) == foundation, "\(text.debugDescription): reader \(accepts(bytes)), JSONSerialization \(foundation)")
    }

    @Test func brokenUTF8InAStringIsRefused() {
        for broken: [UInt8] in [[0xC3, 0x28], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80], [0xE2, 0x82]] {
            #expect(!accepts([UInt8(ascii: "\"")] + broken + [UInt8(ascii: "\"")]), "\(broken)")
            #expect(!accepts(Array(#""\n"#.utf8) + broken + [UInt8(ascii: "\"")]), "escaped, then \(broken)")
        }
    }

    @Test func nestingDeeperThanTheLimitIsRefusedWithoutRecursingFurther() {
        let ok = String(repeating: "[", count: JSONReader.maxDepth) + String(repeating: "]", count: JSONReader.maxDepth)
        #expect(accepts(Array(ok.utf8)))
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: JSONReadError.self) { try JSONReader.read(Array(deep.utf8)) { reader throws(JSONReadError) in try reader.skipValue() } }
    }

    @Test(arguments: [
        ("3", JSONNumber.int(3)), ("3.0", .int(3)), ("3e0", .int(3)), ("-0", .int(0)), ("-0.0", .int(0)), ("3.5", .double(3.5)),
        ("9223372036854775807", .int(.max)), ("-9223372036854775808", .int(.min)), ("9223372036854775808", .double(9_223_372_036_854_775_808)),
        ("1e-7", .double(1e-7)), ("12345678901234567890", .double(12_345_678_901_234_567_890)),
        ("-9223372036854775809", .double(-9_223_372_036_854_775_809)), ("1e300", .double(1e300)),
    ])
    func numbersReadAsJSONDecoderReadsInt64ThenDouble(text: String, expected: JSONNumber) throws {
        let number = try JSONReader.read(Array(text.utf8)) { reader throws(JSONReadError) in try reader.readNumber() }
        #expect(number == expected)
        // The property decoder's order (Bool, Int64, Double): the same answer from Foundation.
        let foundation = try JSONDecoder().decode(PropValue.self, from: Data(text.utf8))
        switch expected {
        case .int(let value): #expect(foundation == .int(value))
        case .double(let value): #expect(foundation == .double(value))
        case .outOfRange: Issue.record("not a case of this table")
        }
    }

    @Test func aNumberPastDoubleIsOutOfRangeAndNotAnInteger() throws {
        #expect(try JSONReader.read(Array("1e400".utf8)) { reader throws(JSONReadError) in try reader.readNumber() } == .outOfRange)
        #expect(throws: JSONReadError.self) { try JSONReader.read(Array("1e400".utf8)) { reader throws(JSONReadError) in try reader.readInt64() } }
    }

    @Test func escapesDecodeToTheirCharacters() throws {
        let text = try JSONReader.read(Array(#""a\u00e9\ud83d\ude00\n\"\/x""#.utf8)) { reader throws(JSONReadError) in try reader.readString() }
        #expect(text == "aé😀\n\"/x")
    }

    @Test func errorsSayWhatWasExpectedAndWhere() {
        #expect(throws: JSONReadError(message: "expected ',' or '}' after a member, found '\"'", offset: 9)) {
            try JSONReader.read(Array(#"{"a":"b" "c":1}"#.utf8)) { reader throws(JSONReadError) in try reader.skipValue() }
        }
        #expect(throws: JSONReadError(message: "expected the end of the input, found 'x'", offset: 3)) {
            try JSONReader.read(Array("[] x".utf8)) { reader throws(JSONReadError) in try reader.skipValue() }
        }
    }

    /// Events with every member the queue carries, read back by the reader and by `Codable`.
    static let queued: [Event] = [
        Event(eventID: "e-1", siteID: "s", eventType: "page_view", path: "/a\"b\\c\u{1}", userID: "ü", timestamp: -5, receivedAt: 7),
        Event(eventID: "e-2", siteID: "s", eventType: "click", timestamp: 1_763_916_271_123, receivedAt: 1_763_916_271_124,
              props: ["n": .int(-3), "d": .double(2.5e-7), "b": .bool(false), "s": .string("x\ny😀"), "big": .double(1e300)],
              name: "Outbound Link: Click", client: ClientContext(ip: "::1", ua: "Mozilla/5.0", url: "https://a.example/p?q=1", ref: "")),
        Event(eventID: "e-3", siteID: "t", eventType: "page_view", path: "/", timestamp: 1, receivedAt: 2,
              visit: VisitFields(visitorID: .min, sessionID: .max, hostname: "a.example", referrer: nil, source: "Direct / None",
                                 utmMedium: "m", utmSource: nil, utmCampaign: "c", utmContent: nil, utmTerm: "t", browser: "Firefox",
                                 browserVersion: "120.0", os: "Linux", osVersion: "", device: "Desktop", country: "DE")),
    ]

    @Test(arguments: queued)
    func queuedPayloadsReadAsCodableReadsThem(event: Event) throws {
        let marks = QueueMarks(count: 4, throttled: true, checked: false, attempts: 2, firstFailedAt: 99, summaryID: "summary:x:1")
        for payload in [event.queuePayload, event.queuePayload(marks: marks)] {
            let (read, readMarks) = try QueueEnvelope.decode(payload)
            #expect(read == event)
            #expect(read == (try JSONDecoder().decode(Event.self, from: Data(payload))))
            #expect(readMarks == (payload == event.queuePayload ? QueueMarks() : marks))
        }
    }

    @Test(arguments: [
        #"{"site_id":"s","event_type":"x","timestamp":1,"received_at":2}"#,
        #"{"event_id":"e","site_id":"s","event_type":"x","timestamp":"1","received_at":2}"#,
        #"{"event_id":"e","site_id":"s","event_type":"x","timestamp":1.5,"received_at":2}"#,
        #"{"event_id":"e","site_id":"s","event_type":"x","timestamp":1,"received_at":2,"props":{"a":[1]}}"#,
        #"{"event_id":"e","site_id":"s","event_type":"x","timestamp":1,"received_at":2,"visit":{"visitor_id":1}}"#,
        #"{"event_id":"e","site_id":"s","event_type":"x","timestamp":1,"received_at":2,"client":"ip"}"#,
        #"["event_id"]"#,
    ])
    func aPayloadCodableRefusesIsRefused(text: String) {
        #expect((try? JSONDecoder().decode(Event.self, from: Data(text.utf8))) == nil)
        #expect(throws: JSONReadError.self) { try QueueEnvelope.decode(Array(text.utf8)) }
    }

    @Test func unknownAndNullMembersOfAPayloadAreSkippedAsCodableSkipsThem() throws {
        let text = #"{"event_id":"e","later":{"x":[1,{"y":null}]},"site_id":"s","event_type":"x","timestamp":1,"received_at":2,"path":null,"props":null}"#
        let (event, _) = try QueueEnvelope.decode(Array(text.utf8))
        #expect(event == (try JSONDecoder().decode(Event.self, from: Data(text.utf8))))
        #expect(event.path == nil && event.props == nil)
    }
}
