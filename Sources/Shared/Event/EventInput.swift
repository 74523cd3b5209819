/// An event as a client sent it, before the rules are applied: each field is what the JSON
/// held, or the first type error found. Decoding never throws for a bad field, so a batch can
/// report every element separately.
struct EventInput: Decodable, FieldByFieldInput {
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

    init(from decoder: any Decoder) throws {
        guard let container = object(decoder) else { return }
        for key in container.allKeys {
            let name = key.stringValue
            switch name {
            case "site_id": siteID = optionalString(container, key)
            case "event_type": eventType = optionalString(container, key)
            case "path": path = optionalString(container, key)
            case "userid": userID = optionalString(container, key)
            case "timestamp": timestamp = optionalString(container, key)
            case "event_id": eventID = optionalString(container, key)
            case "props": decodeProps(container, key)
            default:
                note(.field(EventValidator.printable(name), "is not a known field; allowed: site_id, event_type, path, userid, timestamp, event_id, props"))
            }
        }
    }

    private mutating func decodeProps(_ container: KeyedDecodingContainer<JSONKey>, _ key: JSONKey) {
        if (try? container.decodeNil(forKey: key)) == true { return }
        guard let nested = try? container.nestedContainer(keyedBy: JSONKey.self, forKey: key) else {
            note(.field("props", "must be a flat object"))
            return
        }
        var result: [(key: String, value: PropValue)] = []
        var bytes = 2
        for propKey in nested.allKeys {
            do {
                let value = try nested.decode(PropValue.self, forKey: propKey)
                result.append((propKey.stringValue, value))
                bytes += propKey.stringValue.utf8.count + 4 + value.approximateJSONBytes
            } catch {
                note(.field("props.\(EventValidator.printable(propKey.stringValue))", "must be a string, number or boolean"))
                return
            }
        }
        props = result
        propsJSONBytes = bytes
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
