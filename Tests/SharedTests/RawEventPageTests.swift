import Foundation
import Testing

@testable import Shared

/// Raw events as `/api/v1/events` and `/api/v1/export` show them: cursors, the walk's order,
/// rows in JSON and CSV.
struct RawEventPageTests {
    // MARK: Cursors

    @Test(arguments: [
        RawEventCursor(timestamp: 1_763_916_271_123, id: "site.example/e-1"),
        RawEventCursor(timestamp: 0, id: nil),
        RawEventCursor(timestamp: -86_400_000, id: "s/ünï:cødé:with:colons"),
        RawEventCursor(timestamp: 253_402_300_799_999, id: String(repeating: "x", count: 256)),
    ])
    func aCursorReadsBackAsWritten(cursor: RawEventCursor) throws {
        let text = cursor.encoded
        #expect(text.utf8.allSatisfy { $0 < 0x80 && !"+/=".utf8.contains($0) }, "base64url without padding: \(text)")
        #expect(try RawEventCursor(encoded: text) == cursor)
    }

    static let hostileCursors: [(String, String)] = [
        ("empty", ""),
        ("not base64", "!!!!"),
        ("impossible length", "a"),
        ("padding", Base64URL.encode(Array("1:5".utf8)) + "="),
        ("standard alphabet", "MTo1Ojw/Pz4+"),
        ("stray bits", "MToB"),
        ("wrong version", Base64URL.encode(Array("2:5:s/e".utf8))),
        ("no timestamp", Base64URL.encode(Array("1:".utf8))),
        ("letters", Base64URL.encode(Array("1:12ab".utf8))),
        ("plus sign", Base64URL.encode(Array("1:+5".utf8))),
        ("overflow", Base64URL.encode(Array("1:99999999999999999999".utf8))),
        ("past year 9999", Base64URL.encode(Array("1:253402300800000".utf8))),
        ("empty id", Base64URL.encode(Array("1:5:".utf8))),
        ("control character", Base64URL.encode(Array("1:5:s/e\u{0}".utf8))),
        ("long id", Base64URL.encode(Array(("1:5:" + String(repeating: "x", count: 257)).utf8))),
        ("invalid UTF-8", Base64URL.encode([UInt8(ascii: "1"), UInt8(ascii: ":"), UInt8(ascii: "5"), UInt8(ascii: ":"), 0xFF, 0xFE])),
        ("operator", Base64URL.encode(Array(#"{"$gt": ""}"#.utf8))),
        ("huge", String(repeating: "A", count: 600)),
    ]

    @Test(arguments: hostileCursors)
    func aHostileCursorIsA400SayingWhatToDo(name: String, text: String) {
        #expect(throws: StatsAPIError.self, "\(name)") { try RawEventCursor(encoded: text) }
        do {
            _ = try RawEventCursor(encoded: text)
        } catch {
            #expect(error.status == 400)
            #expect(error.message.contains("next_cursor"))
        }
    }

    @Test func base64URLMatchesFoundationOnEveryLength() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 250) }
            let expected = Data(bytes).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == expected)
            #expect(Base64URL.decode(expected) == bytes)
        }
    }

    // MARK: Queries

    @Test func queriesQuoteEveryValueAndBoundTimeToWholeSeconds() {
        let hostile = #"x", "$where": "1"#
        let range = RawEventFetch.range(from: 7000, before: 9000, limit: 10)
        let filter = range.filterJSON(siteID: hostile)
        let parsed = try? JSONSerialization.jsonObject(with: Data(filter.utf8)) as? [String: Any]
        #expect(parsed?["site_id"] as? String == hostile)
        #expect(parsed?["$where"] == nil)
        #expect(filter.contains(#""timestamp": {"$gte": {"$date": {"$numberLong": "7000"}}, "$lt": {"$date": {"$numberLong": "9000"}}}"#))
        #expect(range.sortJSON == #"{"timestamp": 1}"#)
        let second = RawEventFetch.second(7000, after: hostile, limit: 3)
        let secondFilter = try? JSONSerialization.jsonObject(with: Data(second.filterJSON(siteID: "s").utf8)) as? [String: Any]
        #expect((secondFilter?["_id"] as? [String: Any])?["$gt"] as? String == hostile)
        #expect(second.filterJSON(siteID: "s").contains(#""$lt": {"$date": {"$numberLong": "8000"}}"#))
        #expect(second.sortJSON == #"{"_id": 1}"#)
    }

    // MARK: The walk

    /// A store holding `events`, answering reads as nx-27017 does through an index on
    /// `(site_id, timestamp)`: dates compared to the second only, ties in an arbitrary order,
    /// different at each read.
    final class FakeStore: @unchecked Sendable {  // used from one test task at a time
        var events: [RawEvent]
        var reads: [RawEventFetch] = []
        var random = SplitMix64(seed: 7)

        init(_ events: [RawEvent]) { self.events = events }

        func fetch(_ fetch: RawEventFetch) -> [RawEvent] {
            reads.append(fetch)
            let second = { (millis: Int64) in RawEventWalk.second(of: millis) }
            switch fetch {
            case .range(let from, let before, let limit):
                #expect(from % 1000 == 0 && before % 1000 == 0, "whole-second bounds")
                let matching = events.filter { second($0.timestamp) >= second(from) && second($0.timestamp) < second(before) }
                let shuffled = matching.map { ($0, random.next()) }.sorted { ($0.0.timestamp, $0.1) < ($1.0.timestamp, $1.1) }.map(\.0)
                return Array(shuffled.prefix(limit))
            case .second(let start, let after, let limit):
                #expect(start % 1000 == 0, "whole-second bounds")
                let ordered = events.filter { event in second(event.timestamp) == start && (after.map { RawEvent.idPrecedes($0, event.id) } ?? true) }
                    .sorted { RawEvent.idPrecedes($0.id, $1.id) }
                return Array(ordered.prefix(limit))
            }
        }
    }

    static func event(_ timestamp: Int64, _ id: String) -> RawEvent {
        var event = RawEvent()
        event.timestamp = timestamp
        event.id = "s/" + id
        event.eventID = id
        return event
    }

    /// Events over a day, with runs of ties (one of 40 events at one millisecond).
    static func day(count: Int, seed: UInt64) -> [RawEvent] {
        var random = SplitMix64(seed: seed)
        var events: [RawEvent] = []
        for index in 0..<count {
            let timestamp = index % 50 < 10 ? 1_000_000 + Int64(index / 50) : 1_000_000 + Int64(random.next() % 86_400_000)
            events.append(event(timestamp, "e\(random.next() % 1_000_000)-\(index)"))
        }
        events += (0..<40).map { event(5_000_000, "tie\($0)") }
        return events
    }

    @Test(arguments: [1, 3, 17, 100])
    func aWalkShowsEveryEventOnceInOrder(limit: Int) async {
        let events = Self.day(count: 700, seed: UInt64(limit))
        let store = FakeStore(events)
        var walk = RawEventWalk(range: TimeRange(start: 0, end: 100_000_000), window: 60_000)
        var seen: [RawEvent] = []
        while !walk.isFinished {
            let chunk = await walk.next(limit: limit) { store.fetch($0) }
            #expect(chunk.count <= limit)
            #expect(!chunk.isEmpty || walk.isFinished)
            seen += chunk
        }
        #expect(seen.map(\.id) == events.sorted(by: RawEvent.walkOrder).map(\.id))
    }

    @Test func aWalkResumedFromACursorWhileEventsArriveShowsEachOriginalOnce() async {
        let events = Self.day(count: 500, seed: 3)
        let store = FakeStore(events)
        let range = TimeRange(start: 0, end: 100_000_000)
        var cursor: RawEventCursor?
        var seen: [String] = []
        var pages = 0
        repeat {
            // One page as `/api/v1/events` makes it: a walk from the cursor until 7 events or the end.
            var walk = RawEventWalk(range: range, after: cursor)
            var page: [RawEvent] = []
            while page.count < 7, !walk.isFinished { page += await walk.next(limit: 7 - page.count) { store.fetch($0) } }
            seen += page.map(\.id)
            cursor = page.count == 7 ? page.last?.cursor : nil
            // Events arrive meanwhile: behind the cursor, at its millisecond, and ahead of it.
            let at = page.last?.timestamp ?? 0
            if pages < 40 {
                store.events += [Self.event(at - 1, "late-\(pages)"), Self.event(at, "same-\(pages)"), Self.event(at + 10, "new-\(pages)")]
            }
            pages += 1
        } while cursor != nil && pages < 1000
        #expect(pages < 1000)
        let originals = Set(events.map(\.id))
        #expect(seen.filter(originals.contains).sorted() == originals.sorted(), "every original once")
        #expect(Set(seen).count == seen.count, "none twice")
        #expect(seen.contains("s/new-0") && !seen.contains("s/late-0"), "later arrivals ahead are shown, behind are not")
    }

    @Test func theWindowGrowsOverEmptyTimeAndShrinksWhenFull() async {
        let store = FakeStore([Self.event(10, "a"), Self.event(90_000_000_000, "b")])
        var walk = RawEventWalk(range: TimeRange(start: 0, end: 100_000_000_000), window: 1000)
        #expect(await walk.next(limit: 5) { store.fetch($0) }.map(\.id) == ["s/a"])
        #expect(await walk.next(limit: 5) { store.fetch($0) }.map(\.id) == ["s/b"])
        #expect(store.reads.count < 20, "windows quadruple over empty time: \(store.reads.count) reads")
        let dense = FakeStore((0..<1000).map { Self.event(Int64($0) * 10, "d\($0)") })
        var second = RawEventWalk(range: TimeRange(start: 0, end: 10_000), window: 8000)
        _ = await second.next(limit: 10) { dense.fetch($0) }
        #expect(second.window == 4000)
    }

    @Test func aSecondBusierThanAReadIsWalkedWholeAndInOrder() async {
        var random = SplitMix64(seed: 11)
        let events = (0..<450).map { Self.event(7_000 + Int64(random.next() % 1000), "b\(random.next() % 100_000)-\($0)") }
            + [Self.event(6_999, "before"), Self.event(8_000, "after")]
        let store = FakeStore(events)
        var walk = RawEventWalk(range: TimeRange(start: 0, end: 20_000))
        var seen: [RawEvent] = []
        while !walk.isFinished { seen += await walk.next(limit: 7) { store.fetch($0) } }
        #expect(seen.map(\.id) == events.sorted(by: RawEvent.walkOrder).map(\.id))
        #expect(store.reads.contains { if case .second = $0 { true } else { false } })
    }

    @Test func aCursorOutsideThePeriodStartsOrEndsTheWalk() {
        let range = TimeRange(start: 100, end: 200)
        #expect(RawEventWalk(range: range, after: RawEventCursor(timestamp: 5, id: "s/x")).position == RawEventCursor(timestamp: 100))
        #expect(RawEventWalk(range: range, after: RawEventCursor(timestamp: 500, id: "s/x")).isFinished)
        #expect(RawEventWalk(range: range, after: RawEventCursor(timestamp: 150, id: "s/x")).position == RawEventCursor(timestamp: 150, id: "s/x"))
    }

    // MARK: Rows

    static func stored() -> RawEvent {
        let event = Event(
            eventID: "e-1", siteID: "shop.example", eventType: "page_view", path: "/a,b", userID: "u\"1", timestamp: 1_763_916_271_123,
            receivedAt: 1_763_916_272_000, props: ["plan": .string("=HYPERLINK(\"x\")"), "n": .int(-3), "ok": .bool(true)],
            visit: VisitFields(
                visitorID: -9_007_199_254_740_993, sessionID: 9_007_199_254_740_993, hostname: "shop.example", referrer: "https://ref.example/",
                source: "Google", utmMedium: nil, utmSource: "news", utmCampaign: "+x", utmContent: nil, utmTerm: nil, browser: "Firefox",
                browserVersion: "120", os: "Linux", osVersion: "", device: "Desktop", country: "FR"))
        let document = MongoStore.document(for: StoredEvent(event, count: 3, throttled: true))
        return RawEvent(BSONReader(MongoStore.bytes(of: document.pointer)))
    }

    @Test func aRowInJSONHasEveryFieldAndIDsAsText() throws {
        let json = Self.stored().json.serialized
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["event_id"] as? String == "e-1")
        #expect(object["site_id"] as? String == "shop.example")
        #expect(object["timestamp"] as? String == "2025-11-23T16:44:31.123Z")
        #expect(object["name"] as? String == "pageview")
        #expect(object["event_type"] as? String == "page_view")
        #expect(object["visitor_id"] as? String == "-9007199254740993")
        #expect(object["session_id"] as? String == "9007199254740993")
        #expect(object["userid"] as? String == "u\"1")
        #expect(object["count"] as? Int == 3)
        #expect(object["utm_medium"] is NSNull)
        #expect(object["country"] as? String == "FR")
        #expect((object["props"] as? [String: Any])?["n"] as? Int == -3)
        #expect((object["props"] as? [String: Any])?["ok"] as? Bool == true)
        #expect(Set(object.keys) == Set(RawEvent.columns))
        for absent in ["ip", "createdAt", "_id", "throttled"] { #expect(object[absent] == nil) }
    }

    @Test func aRowInCSVIsQuotedAndNeutralised() {
        var out = RawEventFormat.csv.header
        RawEventFormat.csv.write(Self.stored(), into: &out)
        let text = String(decoding: out, as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n")
        #expect(lines.first == RawEvent.columns.joined(separator: ","))
        #expect(lines.count == 3 && lines.last == "")
        let row = lines[1]
        #expect(row.hasPrefix("e-1,shop.example,2025-11-23T16:44:31.123Z,pageview,page_view,\"/a,b\",shop.example,"))
        #expect(row.contains(",'+x,"), "a campaign starting with + is neutralised")
        #expect(row.contains(",-9007199254740993,9007199254740993,\"u\"\"1\",3,"), "negative ids stay numbers, quotes doubled")
        #expect(row.hasSuffix(#","{""n"":-3,""ok"":true,""plan"":""=HYPERLINK(\""x\"")""}""#), "props: one JSON cell")
    }

    @Test(arguments: [
        ("plain", "plain"), ("=1+2", "'=1+2"), ("+1", "'+1"), ("-1+2", "'-1+2"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
        ("\rx", "'\rx"), ("-42", "-42"), ("-1.5", "-1.5"), ("-", "'-"), ("-1.", "'-1."), ("a=b", "a=b"),
    ])
    func formulasAreNeutralisedAndNumbersKept(value: String, expected: String) {
        #expect(RawEventFormat.neutralised(value) == expected)
    }

    @Test(arguments: [("a,b", "\"a,b\""), ("say \"hi\"", "\"say \"\"hi\"\"\""), ("two\nlines", "\"two\nlines\""), ("cr\r", "\"cr\r\""), ("", "")])
    func cellsAreQuotedAsRFC4180Says(value: String, expected: String) {
        var out: [UInt8] = []
        RawEventFormat.writeCell(value, into: &out)
        #expect(String(decoding: out, as: UTF8.self) == expected)
    }

    @Test func ndjsonIsOneObjectALine() throws {
        var out = RawEventFormat.ndjson.header
        RawEventFormat.ndjson.write(Self.stored(), into: &out)
        RawEventFormat.ndjson.write(Self.event(5, "x"), into: &out)
        let lines = String(decoding: out, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 2)
        for line in lines { #expect(try JSONSerialization.jsonObject(with: Data(line.utf8)) is [String: Any]) }
    }

    @Test func filtersReadTheEventAndItsOwnVisitFields() {
        let event = Self.stored()
        #expect(event.passes(nil))
        #expect(event.passes(.condition(.page, .is, ["/a,b"])))
        #expect(event.passes(.condition(.source, .is, ["Google"])))
        #expect(event.passes(.condition(.entryPage, .is, ["/a,b"])))
        #expect(event.passes(.condition(.prop("n"), .is, ["-3"])))
        #expect(!event.passes(.condition(.country, .isNot, ["FR"])))
    }
}

/// SplitMix64, for reproducible test data.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
