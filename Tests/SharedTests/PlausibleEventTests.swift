import Foundation
import Testing

@testable import Shared

/// `POST /api/event` bodies through `EventValidator.validatePlausible`: the Events API's long
/// names, the tracker's short ones, and what is refused.
struct PlausibleEventTests {
    let validator = EventValidator()
    let now: Int64 = 1_763_916_271_123

    func validate(_ body: String) throws -> PlausibleEvent {
        try validator.validatePlausible(Array(body.utf8), now: now)
    }

    @Test func longAndShortNamesGiveTheSameEvent() throws {
        let long = try validate(#"{"name":"pageview","url":"https://Shop.example/a?b=1","domain":"shop.example","referrer":"https://t.co/x","props":{"plan":"pro"},"event_id":"e1"}"#)
        let short = try validate(#"{"n":"pageview","u":"https://Shop.example/a?b=1","d":"shop.example","r":"https://t.co/x","p":{"plan":"pro"},"event_id":"e1"}"#)
        let meta = try validate(#"{"n":"pageview","u":"https://Shop.example/a?b=1","d":"shop.example","r":"https://t.co/x","m":"{\"plan\":\"pro\"}","event_id":"e1","w":1440,"i":true,"v":"2"}"#)
        #expect(long.events == short.events)
        #expect(short.events == meta.events)
        let event = try #require(long.events.first)
        #expect(event.siteID == "shop.example")
        #expect(event.eventType == "page_view")
        #expect(event.name == "pageview")
        #expect(event.path == "/a")
        #expect(event.props == ["plan": .string("pro")])
        #expect(event.client == ClientContext(url: "https://Shop.example/a?b=1", ref: "https://t.co/x"))
        #expect(event.timestamp == now && event.receivedAt == now)
    }

    @Test func customNamesKeepTheirTextAndGetAValidEventType() throws {
        let event = try #require(try validate(#"{"n":"Outbound Link: Click","u":"https://s.example/","d":"s.example"}"#).events.first)
        #expect(event.name == "Outbound Link: Click")
        #expect(event.eventType == "Outbound_Link:_Click")
        let long = try #require(try validate(#"{"n":"\#(String(repeating: "é", count: 60))","u":"https://s.example/","d":"s.example"}"#).events.first)
        #expect(long.eventType.utf8.count == 64)
    }

    @Test func everyNamedSiteGetsTheEventUnderOneID() throws {
        let parsed = try validate(#"{"n":"pageview","u":"https://s.example/","d":" www.A.example , b.example,a.example,"}"#)
        #expect(parsed.events.map(\.siteID) == ["a.example", "b.example"])
        #expect(Set(parsed.events.map(\.eventID)).count == 1)
    }

    @Test func hashModeKeepsTheFragmentInThePath() throws {
        let on = try #require(try validate(#"{"n":"pageview","u":"https://s.example/app#/settings","d":"s.example","h":1}"#).events.first)
        let off = try #require(try validate(#"{"n":"pageview","u":"https://s.example/app#/settings","d":"s.example","h":0}"#).events.first)
        #expect(on.path == "/app#/settings")
        #expect(off.path == "/app")
    }

    @Test func propsThatAreNotScalarsAreLeftOutAsPlausibleDoes() throws {
        let event = try #require(try validate(#"{"n":"x","u":"https://s.example/","d":"s.example","p":{"a":"1","b":[1],"c":{"d":1},"e":null,"f":2}}"#).events.first)
        #expect(event.props == ["a": .string("1"), "f": .int(2)])
    }

    @Test func engagementEventsAreReportedToBeDropped() throws {
        let parsed = try validate(#"{"n":"engagement","u":"https://s.example/","d":"s.example","sd":40,"e":1200}"#)
        #expect(parsed.isEngagement)
        #expect(parsed.events.isEmpty)
    }

    @Test(arguments: [
        (#"{"u":"https://s.example/","d":"s.example"}"#, "name"),
        (#"{"n":"","u":"https://s.example/","d":"s.example"}"#, "name"),
        (#"{"n":"a\u0001b","u":"https://s.example/","d":"s.example"}"#, "name"),
        (#"{"n":"pageview","d":"s.example"}"#, "url"),
        (#"{"n":"pageview","u":"/relative","d":"s.example"}"#, "url"),
        (#"{"n":"pageview","u":"javascript:alert(1)","d":"s.example"}"#, "url"),
        (#"{"n":"pageview","u":"https://s.example/"}"#, "domain"),
        (#"{"n":"pageview","u":"https://s.example/","d":","}"#, "domain"),
        (#"{"n":"pageview","u":"https://s.example/","d":"a b"}"#, "domain"),
        (#"{"n":"pageview","u":"https://s.example/","d":"a,b,c,d,e,f,g,h,i,j,k"}"#, "domain"),
        (#"{"n":"pageview","u":"https://s.example/","d":"s.example","p":{"$gt":"1"}}"#, "props.$gt"),
        (#"{"n":"pageview","u":"https://s.example/","d":"s.example","p":{"a.b":"1"}}"#, "props.a.b"),
        (#"{"n":"pageview","u":"https://s.example/","d":"s.example","m":"not json"}"#, "m"),
        (#"{"n":"pageview","u":"https://s.example/","d":"s.example","p":[1]}"#, "p"),
        (#"{"n":7,"u":"https://s.example/","d":"s.example"}"#, "n"),
        (#"{"n":"pageview","u":"https://s.example/","d":"s.example","h":"yes"}"#, "h"),
        (#"{"n":"pageview","u":"https://s.example/","d":"s.example","site_id":"x"}"#, "site_id"),
        (#"{"n":"pageview","u":"https://s.example/","d":"s.example","event_id":""}"#, "event_id"),
    ])
    func refusesWithTheFieldAtFault(body: String, field: String) {
        #expect(throws: ValidationError.self) { try validate(body) }
        do {
            _ = try validate(body)
        } catch let error as ValidationError {
            #expect(error.field == field, "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func aURLOrReferrerOverTheLimitIsRefused() {
        let long = "https://s.example/" + String(repeating: "a", count: 2000)
        #expect(throws: ValidationError.self) { try validate(#"{"n":"pageview","u":"\#(long)","d":"s.example"}"#) }
        #expect(throws: ValidationError.self) { try validate(#"{"n":"pageview","u":"https://s.example/","r":"\#(long)","d":"s.example"}"#) }
    }

    @Test func aFieldNamedTwiceKeepsItsFirstValueUnderEitherName() throws {
        let event = try #require(try validate(#"{"n":"signup","name":"pageview","u":"https://s.example/a","url":"https://s.example/b","d":"s.example"}"#).events.first)
        #expect(event.name == "signup")
        #expect(event.path == "/a")
    }

    @Test func hashModeTakesIntegralNumbersAndBooleans() throws {
        for flag in ["1", "1.0", "true", "7"] {
            let event = try #require(try validate(#"{"n":"pageview","u":"https://s.example/app#/x","d":"s.example","h":\#(flag)}"#).events.first)
            #expect(event.path == "/app#/x", "h: \(flag)")
        }
        let big = try #require(try validate(#"{"n":"pageview","u":"https://s.example/app#/x","d":"s.example","h":1e18}"#).events.first)
        #expect(big.path == "/app#/x", "a whole number past 2^53 that fits in 64 bits is on")
        #expect(throws: ValidationError.field("h", "must be 0, 1 or a boolean")) {
            try validate(#"{"n":"pageview","u":"https://s.example/","d":"s.example","h":1e19}"#)
        }
        for flag in ["0", "0.0", "false", "null"] {
            let event = try #require(try validate(#"{"n":"pageview","u":"https://s.example/app#/x","d":"s.example","h":\#(flag)}"#).events.first)
            #expect(event.path == "/app", "h: \(flag)")
        }
        #expect(throws: ValidationError.field("h", "must be 0, 1 or a boolean")) {
            try validate(#"{"n":"pageview","u":"https://s.example/","d":"s.example","h":0.5}"#)
        }
    }

    @Test func domainsAreTrimmedOfTabsAndUnicodeSpaces() throws {
        let parsed = try validate("{\"n\":\"pageview\",\"u\":\"https://s.example/\",\"d\":\"\\t\u{00A0}www.A.example\u{3000},b.example \\u200b\"}")
        #expect(parsed.events.map(\.siteID) == ["a.example", "b.example"])
    }

    /// Foundation's `.whitespaces`, which the trim replaced, holds U+200B ZERO WIDTH SPACE (not a
    /// space separator): a domain pasted with one around it is still the site.
    @Test func domainsAreTrimmedOfZeroWidthSpaces() throws {
        #expect(EventValidator.siteID(fromDomain: "\u{200B}www.S.example\u{200B}") == "s.example")
        #expect(EventValidator.siteID(fromDomain: "s\u{200B}.example") == "s\u{200B}.example")
    }

    @Test func propsPastThirtyTwoKeysAreRefusedWithoutKeepingThemAll() throws {
        let members = (0..<5000).map { #""k\#($0)":\#($0)"# }.joined(separator: ",")
        let body = #"{"n":"pageview","u":"https://s.example/","d":"s.example","p":{\#(members)}}"#
        #expect(throws: ValidationError.field("props", "must have at most 32 keys")) { try validate(body) }
        let input = try JSONReader.read(Array(body.utf8)) { reader throws(JSONReadError) in try PlausibleEventInput(reading: &reader) }
        #expect(input.props?.count == 33, "one past the limit is kept, for the rules to refuse; the rest is only read past")
        let event = try #require(try validate(#"{"n":"pageview","u":"https://s.example/","d":"s.example","p":{"a":1,"a":2}}"#).events.first)
        #expect(event.props == ["a": .int(1)], "a repeated key keeps its first value")
    }

    @Test func theFirstPropsFieldIsTheOneKeptUnderAnyOfItsNames() throws {
        let event = try #require(try validate(#"{"n":"x","u":"https://s.example/","d":"s.example","p":{"a":1},"m":"{\"b\":2}","props":{"c":3}}"#).events.first)
        #expect(event.props == ["a": .int(1)])
        let meta = try #require(try validate(#"{"n":"x","u":"https://s.example/","d":"s.example","m":"{\"b\":2}","p":{"a":1}}"#).events.first)
        #expect(meta.props == ["b": .int(2)])
    }

    @Test func aMetaStringOverFourKiBIsRefused() throws {
        let value = String(repeating: "v", count: 4080)
        let inner = #"{\"k\":\"\#(value)\"}"#  // 4,090 bytes once unescaped: within the limit
        _ = try validate(#"{"n":"x","u":"https://s.example/","d":"s.example","m":"\#(inner)"}"#)
        let over = #"{\"k\":\"\#(value)xxxxxxxxxx\"}"#
        #expect(throws: ValidationError.field("m", "must be an object, or a string holding a JSON object of at most 4 KiB")) {
            try validate(#"{"n":"x","u":"https://s.example/","d":"s.example","m":"\#(over)"}"#)
        }
    }

    @Test func aBodyThatIsNotJSONSaysWhereItBroke() {
        // A trailing comma: swift-foundation's JSONDecoder took it, RFC 8259 and `/event` do not.
        let trailingComma = #expect(throws: ValidationError.self) { try validate(#"{"n":"pageview","u":"https://s.example/","d":"s.example",}"#) }
        #expect(trailingComma?.code == "INVALID_JSON")
        do {
            _ = try validate(#"{"n":"pageview" "u":"https://s.example/"}"#)
            Issue.record("a body with a missing comma was accepted")
        } catch let error as ValidationError {
            #expect(error.code == "INVALID_JSON")
            #expect(error.message.contains("at byte 16"), "\(error.message)")
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(throws: ValidationError.field("m", "must be an object, or a string holding a JSON object of at most 4 KiB")) {
            try validate(#"{"n":"pageview","u":"https://s.example/","d":"s.example","m":"[1]"}"#)
        }
    }

    @Test func anEnrichedEventRoundTripsThroughTheQueuePayload() throws {
        var event = try #require(try validate(#"{"n":"Signup","u":"https://s.example/","d":"s.example","p":{"plan":"pro"}}"#).events.first)
        event.client = ClientContext(ip: "203.0.113.9", ua: String(repeating: "é", count: 400), url: "https://s.example/", ref: nil)
        #expect(event.client?.ua?.utf8.count == ClientContext.maxUserAgentBytes)
        let decoded = try JSONDecoder().decode(Event.self, from: Data(event.queuePayload))
        #expect(decoded == event)
        event.client = nil
        event.visit = VisitFields(
            visitorID: -5, sessionID: 7, hostname: "s.example", referrer: nil, source: "Direct / None", utmMedium: "email", utmSource: nil,
            utmCampaign: nil, utmContent: nil, utmTerm: nil, browser: "Firefox", browserVersion: "120.0", os: "Windows", osVersion: "10",
            device: "Desktop", country: nil)
        #expect(try JSONDecoder().decode(Event.self, from: Data(event.queuePayload)) == event)
    }
}

/// Visitor and visit identity: pure functions of their inputs.
struct VisitIdentityTests {
    let salt = Array("0123456789abcdef".utf8)

    @Test func theVisitorHashDependsOnEveryInputAndOnTheSalt() {
        let base = VisitTracker.visitorID(salt: salt, siteID: "s", address: "203.0.113.9", userAgent: "UA", userID: nil)
        #expect(base == VisitTracker.visitorID(salt: salt, siteID: "s", address: "203.0.113.9", userAgent: "UA", userID: nil))
        #expect(base != VisitTracker.visitorID(salt: Array("other".utf8), siteID: "s", address: "203.0.113.9", userAgent: "UA", userID: nil))
        #expect(base != VisitTracker.visitorID(salt: salt, siteID: "t", address: "203.0.113.9", userAgent: "UA", userID: nil))
        #expect(base != VisitTracker.visitorID(salt: salt, siteID: "s", address: "203.0.113.10", userAgent: "UA", userID: nil))
        #expect(base != VisitTracker.visitorID(salt: salt, siteID: "s", address: "203.0.113.9", userAgent: "UB", userID: nil))
        // Field boundaries are kept: moving bytes between fields changes the hash.
        #expect(VisitTracker.visitorID(salt: salt, siteID: "s", address: "1", userAgent: "23", userID: nil)
            != VisitTracker.visitorID(salt: salt, siteID: "s", address: "12", userAgent: "3", userID: nil))
    }

    @Test func aNamedUserIsTheSameVisitorWhateverTheSaltAddressOrAgent() {
        let first = VisitTracker.visitorID(salt: salt, siteID: "s", address: "1.1.1.1", userAgent: "A", userID: "alice")
        let second = VisitTracker.visitorID(salt: Array("tomorrow".utf8), siteID: "s", address: "2.2.2.2", userAgent: "B", userID: "alice")
        #expect(first == second)
        #expect(first != VisitTracker.visitorID(salt: salt, siteID: "other", address: "1.1.1.1", userAgent: "A", userID: "alice"))
    }

    @Test func visitAttributesSurviveTheVisitTablesPackingAndRefuseJunk() throws {
        let full = VisitAttributes(TrafficSource(
            source: "News \u{1F}letter", referrer: "news.ycombinator.com/item",
            utm: UTM(medium: "email", source: "news", campaign: "launch day", content: "é", term: "a b")))
        let unpacked = try #require(VisitAttributes(packed: full.packed))
        #expect(unpacked.source == "News  letter", "the separator inside a value becomes a space")
        #expect(unpacked.referrer == full.referrer && unpacked.utmCampaign == "launch day" && unpacked.utmContent == "é")
        let bare = VisitAttributes(TrafficSource(source: "Direct / None", referrer: nil, utm: UTM()))
        #expect(VisitAttributes(packed: bare.packed) == bare)
        #expect(VisitAttributes(packed: Array("no separators".utf8)) == nil)
        #expect(VisitAttributes(packed: []) == nil)
        let long = VisitAttributes(TrafficSource(source: String(repeating: "s", count: 300), referrer: String(repeating: "r", count: 3000), utm: UTM()))
        #expect(long.source.utf8.count == VisitAttributes.maxValueBytes && long.referrer?.utf8.count == VisitAttributes.maxReferrerBytes)
    }

    @Test(arguments: [
        (Int64(0), Int64(0)), (Int64(1_799_999), Int64(0)), (Int64(1_800_000), Int64(1)),
        (Int64(-1), Int64(-1)), (Int64(-1_800_000), Int64(-1)), (Int64(-1_800_001), Int64(-2)),
    ])
    func bucketsAreThirtyMinutesOfEventTimeFlooredBelowZeroToo(timestamp: Int64, bucket: Int64) {
        #expect(VisitTracker.bucket(of: timestamp) == bucket)
    }
}

/// Visitor and visit ids are kept in Redis and MongoDB across deployments: a worker of a new
/// build must give the ids an older one gave, or open visits split in two. Expected values are
/// from Python's `hmac` and `hashlib`, not from this code.
struct VisitIdentityStabilityTests {
    @Test func idsAreTheDocumentedHashesOfTheirInputs() {
        let salt = Array("salt-of-the-day".utf8)
        #expect(VisitTracker.visitorID(salt: salt, siteID: "site.example", address: "203.0.113.9", userAgent: "Mozilla/5.0 (X11)", userID: nil)
            == 661_995_422_797_263_990)
        #expect(VisitorHasher(salt: salt).visitorID(siteID: "site.example", address: "203.0.113.9", userAgent: "Mozilla/5.0 (X11)")
            == 661_995_422_797_263_990)
        #expect(VisitTracker.visitorID(salt: salt, siteID: "site.example", address: "x", userAgent: "y", userID: "alice") == 4_705_666_571_745_157_947)
        #expect(VisitTracker.sessionID(visitorID: -1_234_567_890_123, seed: "evt-1") == 4_710_648_155_569_024_632)
        #expect(VisitTracker.windowSessionID(visitorID: 42, timestamp: 981 * VisitTracker.sessionTimeoutMillis + 5) == -6_940_483_147_630_908_417)
        // A salt as the worker makes one (64 hex characters: exactly one SHA-256 block), non-ASCII text.
        let daily = Array(String(repeating: "0123456789abcdef", count: 4).utf8)
        #expect(VisitorHasher(salt: daily).visitorID(siteID: "site.example", address: "203.0.113.9", userAgent: "Mozilla/5.0 (Linux; U; Android 9; 日本語)")
            == -6_329_032_938_139_321_691)
        #expect(VisitTracker.namedVisitorID(siteID: "site.example", userID: "José") == -695_646_955_865_102_946)
        #expect(VisitTracker.sessionID(visitorID: 0, seed: "") == -1_948_355_449_391_156_269)
    }

    @Test func oneHasherGivesEachMessageItsOwnHash() {
        // The keyed state is copied per message: an earlier message must not leak into a later one.
        let hasher = VisitorHasher(salt: Array("0123456789abcdef".utf8))
        let first = hasher.visitorID(siteID: "s", address: "1.1.1.1", userAgent: "A")
        _ = hasher.visitorID(siteID: "s", address: "2.2.2.2", userAgent: "B")
        #expect(hasher.visitorID(siteID: "s", address: "1.1.1.1", userAgent: "A") == first)
        #expect(first == VisitTracker.visitorID(salt: Array("0123456789abcdef".utf8), siteID: "s", address: "1.1.1.1", userAgent: "A", userID: nil))
    }
}
