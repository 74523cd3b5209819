/// An event as a client sent it, before the rules are applied: each field is what the JSON
/// held, or the first type error found. Decoding never throws for a bad field, so a batch can
/// report every element separately.
struct EventInput: FieldByFieldInput {
    var siteID: String?
    var eventType: String?
    var path: String?
    var userID: String?
    var timestamp: String?
    var eventID: String?
    var props: [(key: String, value: PropValue)]?
    var propsJSONBytes = 0
    /// The first problem found while decoding, reported before any rule is checked.
    var problem: ValidationError?

    /// Empty input, for callers that fill the fields from another format.
    init() {}

    /// Reads one event's object; a value of the wrong type is noted, read past, and reading
    /// goes on. Throws only when the bytes are not JSON.
    init(reading reader: inout JSONReader) throws(JSONReadError) {
        guard try beginEvent(&reader) else { return }
        var seen = SeenFields()
        repeat {
            let key = try reader.readKey()
            switch key {
            case "site_id": if try seen.first(1 << 0, &reader) { siteID = try optionalString(&reader, key) }
            case "event_type": if try seen.first(1 << 1, &reader) { eventType = try optionalString(&reader, key) }
            case "path": if try seen.first(1 << 2, &reader) { path = try optionalString(&reader, key) }
            case "userid": if try seen.first(1 << 3, &reader) { userID = try optionalString(&reader, key) }
            case "timestamp": if try seen.first(1 << 4, &reader) { timestamp = try optionalString(&reader, key) }
            case "event_id": if try seen.first(1 << 5, &reader) { eventID = try optionalString(&reader, key) }
            case "props": if try seen.first(1 << 6, &reader) { try readProps(&reader) }
            default:
                note(.field(EventValidator.printable(key), "is not a known field; allowed: site_id, event_type, path, userid, timestamp, event_id, props"))
                try reader.skipValue()
            }
        } while try reader.nextMember()
    }

    /// `props`: null, or a flat object of strings, numbers and booleans (a repeated key keeps its
    /// first value, as JSONDecoder did); past 33 keys the rest is only read past, the count refused
    /// (`PropsObject`).
    private mutating func readProps(_ reader: inout JSONReader) throws(JSONReadError) {
        if try reader.readNull() {
            props = nil
            return
        }
        guard try reader.peek() == .object else {
            note(.field("props", "must be a flat object"))
            try reader.skipValue()
            return
        }
        var broken = false
        let read = try PropsObject.read(&reader) { key in
            note(.field("props.\(EventValidator.printable(key))", "must be a string, number or boolean"))
            broken = true
        }
        guard !broken else { return }
        props = read.members
        propsJSONBytes = read.jsonBytes
    }
}

extension PropValue {
    /// Reads a string, number or boolean; nil, the value read past, for anything else (and for a number past `Double`).
    init?(reading reader: inout JSONReader) throws(JSONReadError) {
        switch try reader.peek() {
        case .string: self = .string(try reader.readString() ?? "")
        case .bool: self = .bool(try reader.readBool() ?? false)
        case .number:
            switch try reader.readNumber() {
            case .int(let value): self = .int(value)
            case .double(let value): self = .double(value)
            case .outOfRange, nil: return nil
            }
        case .object, .array, .null:
            try reader.skipValue()
            return nil
        }
    }
}

extension PropValue {
    /// The size of the value written as JSON, close enough for a size limit.
    var approximateJSONBytes: Int {
        switch self {
        case .string(let s): s.utf8.count + 2
        case .int(let v): String(v).utf8.count
        case .double(let v): String(v).utf8.count
        case .bool(let v): v ? 4 : 5
        }
    }
}
