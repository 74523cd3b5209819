import Foundation
import Testing

@testable import Shared

/// The event rules of DESIGN.md, one behaviour a test.
struct EventValidatorTests {
    let validator = EventValidator()
    let now: Int64 = 1_763_916_271_123  // 2025-11-23T16:44:31.123Z

    func validate(_ json: String) throws(ValidationError) -> Event {
        try validator.validateEvent(Array(json.utf8), now: now)
    }

    func rejection(_ json: String) -> ValidationError? {
        do {
            _ = try validate(json)
            return nil
        } catch {
            return error
        }
    }

    @Test func seedExampleIsAcceptedWithItsFields() throws {
        let event = try validate(#"{"site_id":"site-001","event_type":"page_view","path":"/blog","userid":"user-115","timestamp":"2025-11-23T16:44:31.123Z"}"#)
        #expect(event.siteID == "site-001")
        #expect(event.eventType == "page_view")
        #expect(event.path == "/blog")
        #expect(event.userID == "user-115")
        #expect(event.timestamp == now)
        #expect(event.receivedAt == now)
        #expect(UUID(uuidString: event.eventID) != nil)
    }

    @Test func missingTimestampDefaultsToReceiveTime() throws {
        let event = try validate(#"{"site_id":"s","event_type":"click"}"#)
        #expect(event.timestamp == now)
        #expect(event.path == nil)
    }

    @Test func generatedEventIDsAreDistinctLowercaseVersion4UUIDs() {
        let ids = (0..<1000).map { _ in EventValidator.randomEventID() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(50) {
            #expect(UUID(uuidString: id)?.uuidString.lowercased() == id)
            let characters = Array(id)
            #expect(characters[14] == "4")
            #expect("89ab".contains(characters[19]))
        }
    }

    @Test func givenEventIDIsKept() throws {
        #expect(try validate(#"{"site_id":"s","event_type":"click","event_id":"abc-1"}"#).eventID == "abc-1")
    }

    @Test(arguments: [
        (#"{"event_type":"click"}"#, "site_id"),
        (#"{"site_id":"","event_type":"click"}"#, "site_id"),
        (#"{"site_id":"a b","event_type":"click"}"#, "site_id"),
        (#"{"site_id":"\#(String(repeating: "a", count: 65))","event_type":"click"}"#, "site_id"),
        (#"{"site_id":"s"}"#, "event_type"),
        (#"{"site_id":"s","event_type":"a/b"}"#, "event_type"),
        (#"{"site_id":"s","event_type":"\#(String(repeating: "e", count: 65))"}"#, "event_type"),
        (#"{"site_id":"s","event_type":"page_view"}"#, "path"),
        (#"{"site_id":"s","event_type":"page_view","path":"blog"}"#, "path"),
        (#"{"site_id":"s","event_type":"page_view","path":"/\#(String(repeating: "p", count: 2048))"}"#, "path"),
        (#"{"site_id":"s","event_type":"click","userid":"\#(String(repeating: "u", count: 129))"}"#, "userid"),
        (#"{"site_id":"s","event_type":"click","timestamp":"2025-11-23T16:44:31"}"#, "timestamp"),
        (#"{"site_id":"s","event_type":"click","timestamp":"yesterday"}"#, "timestamp"),
        (#"{"site_id":"s","event_type":"click","timestamp":"2025-02-30T00:00:00Z"}"#, "timestamp"),
        (#"{"site_id":"s","event_type":"click","timestamp":"2025-11-23T16:50:31.124Z"}"#, "timestamp"),
        (#"{"site_id":"s","event_type":"click","event_id":""}"#, "event_id"),
        (#"{"site_id":"s","event_type":"click","event_id":"\#(String(repeating: "i", count: 65))"}"#, "event_id"),
        (#"{"site_id":"s","event_type":"click","props":{"a":{"b":1}}}"#, "props.a"),
        (#"{"site_id":"s","event_type":"click","props":{"a":[1]}}"#, "props.a"),
        (#"{"site_id":"s","event_type":"click","props":{"a":null}}"#, "props.a"),
        (#"{"site_id":"s","event_type":"click","props":{"$where":"1"}}"#, "props.$where"),
        (#"{"site_id":"s","event_type":"click","props":{"a.b":"1"}}"#, "props.a.b"),
        (#"{"site_id":"s","event_type":"click","props":[1]}"#, "props"),
        (#"{"site_id":"s","event_type":"click","props":{"k":"\#(String(repeating: "v", count: 4100))"}}"#, "props"),
        (#"{"site_id":"s","event_type":"click","extra":1}"#, "extra"),
        (#"{"site_id":"s","event_type":"click","$set":{"x":1}}"#, "$set"),
    ])
    func ruleViolationNamesTheField(json: String, field: String) {
        let error = rejection(json)
        #expect(error?.code == "VALIDATION_ERROR")
        #expect(error?.field == field)
    }

    @Test func moreThan32PropsIsRefused() {
        let props = (0..<33).map { #""k\#($0)":\#($0)"# }.joined(separator: ",")
        #expect(rejection(#"{"site_id":"s","event_type":"click","props":{\#(props)}}"#)?.field == "props")
    }

    @Test func propsKeepTheirTypes() throws {
        let event = try validate(#"{"site_id":"s","event_type":"click","props":{"s":"x","i":3,"d":1.5,"b":true}}"#)
        #expect(event.props == ["s": .string("x"), "i": .int(3), "d": .double(1.5), "b": .bool(true)])
    }

    @Test(arguments: [
        #"{"site_id":{"$gt":""},"event_type":"click"}"#,
        #"{"site_id":"s","event_type":{"$ne":null}}"#,
        #"{"site_id":"s","event_type":"page_view","path":{"$regex":".*"}}"#,
        #"{"site_id":"s","event_type":"click","userid":{"$exists":true}}"#,
        #"{"site_id":5,"event_type":"click"}"#,
        #"{"site_id":"s","event_type":true}"#,
        #"{"site_id":["s"],"event_type":"click"}"#,
        #"{"site_id":"s","event_type":"click","timestamp":1763916271}"#,
    ])
    func operatorsAndWrongTypesAreData(json: String) {
        let error = rejection(json)
        #expect(error?.code == "VALIDATION_ERROR")
        #expect(error?.message.contains("must be") == true)
    }

    @Test(arguments: [#"{"site_id":"s","#, "", "nope", #"{"site_id":"s" "event_type":"x"}"#])
    func brokenJSONIsInvalidJSON(json: String) {
        #expect(rejection(json)?.code == "INVALID_JSON")
    }

    @Test(arguments: ["[]", "5", #""text""#, "null"])
    func nonObjectBodyIsRefused(json: String) {
        #expect(rejection(json)?.code == "VALIDATION_ERROR")
    }

    @Test func invalidUTF8IsRefused() {
        var bytes = Array(#"{"site_id":"s","event_type":"click","userid":"x"#.utf8)
        bytes += [0xC3, 0x28]  // a broken two-byte sequence
        bytes += Array(#""}"#.utf8)
        #expect(throws: ValidationError.self) { try validator.validateEvent(bytes, now: now) }
    }

    @Test func emptyUserIDCountsAsNoUser() throws {
        #expect(try validate(#"{"site_id":"s","event_type":"click","userid":""}"#).userID == nil)
    }

    @Test func timestampWithOffsetIsConvertedToUTC() throws {
        let event = try validate(#"{"site_id":"s","event_type":"click","timestamp":"2025-11-23T18:44:31.123+02:00"}"#)
        #expect(event.timestamp == now)
    }

    @Test func timestampUpToFiveMinutesAheadIsAccepted() throws {
        let event = try validate(#"{"site_id":"s","event_type":"click","timestamp":"2025-11-23T16:49:31.123Z"}"#)
        #expect(event.timestamp == now + 300_000)
    }

    @Test func batchReportsEachElementOnItsOwn() throws {
        let results = try validator.validateBatch(Array(#"[{"site_id":"s","event_type":"click"},{"site_id":"s"},7,{"site_id":"t","event_type":"x"}]"#.utf8), now: now)
        #expect(results.count == 4)
        #expect((try? results[0].get()) != nil)
        #expect(throws: ValidationError.self) { try results[1].get() }
        #expect(throws: ValidationError.self) { try results[2].get() }
        #expect((try? results[3].get())?.siteID == "t")
    }

    @Test func batchOfMoreThan1000IsTooLarge() {
        let body = "[" + Array(repeating: #"{"site_id":"s","event_type":"x"}"#, count: 1001).joined(separator: ",") + "]"
        #expect(throws: ValidationError(code: "PAYLOAD_TOO_LARGE", message: "a batch holds at most 1000 events; got 1001")) {
            try validator.validateBatch(Array(body.utf8), now: now)
        }
    }

    @Test func batchMustBeAnArray() {
        #expect(throws: ValidationError.self) { try validator.validateBatch(Array(#"{"site_id":"s"}"#.utf8), now: now) }
        #expect(throws: ValidationError.self) { try validator.validateBatch(Array("[]".utf8), now: now) }
    }

    @Test func queuePayloadDecodesToTheSameEvent() throws {
        let event = try validate(#"{"site_id":"s","event_type":"page_view","path":"/a\"b\\c","userid":"ü\u0001","props":{"n":1,"d":-2.5e-7,"b":false,"s":"x\ny"}}"#)
        let decoded = try JSONDecoder().decode(Event.self, from: Data(event.queuePayload))
        #expect(decoded == event)
    }

    @Test func aPathWithControlCharactersIsRefused() {
        for path in [#"/a\nb"#, #"/a\u0000"#, #"/\u007f"#, #"/tab\there"#] {
            #expect(throws: ValidationError.self, "\(path)") {
                try validate(#"{"site_id":"s","event_type":"page_view","path":"\#(path)"}"#)
            }
        }
    }

    @Test func aRepeatedKeyKeepsItsFirstValueAsJSONDecoderDid() throws {
        let event = try validate(#"{"site_id":"first","event_type":"click","site_id":5,"props":{"a":1,"a":"two"},"props":7}"#)
        #expect(event.siteID == "first")
        #expect(event.props == ["a": .int(1)])
    }

    @Test func aNumberPastDoubleFailsOnlyItsOwnBatchElement() throws {
        let results = try validator.validateBatch(Array(#"[{"site_id":"s","event_type":"x","props":{"n":1e400}},{"site_id":"s","event_type":"y"}]"#.utf8), now: now)
        #expect(throws: ValidationError.field("props.n", "must be a string, number or boolean")) { try results[0].get() }
        #expect((try? results[1].get())?.eventType == "y")
    }

    @Test func aTrailingCommaIsNotJSON() {
        // swift-foundation's JSONDecoder read it; RFC 8259 does not allow it, nor does Plausible's API.
        #expect(rejection(#"{"site_id":"s","event_type":"click",}"#)?.code == "INVALID_JSON")
    }
}
