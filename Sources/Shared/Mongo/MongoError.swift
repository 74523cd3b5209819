import CMongoC

/// A libmongoc failure, keeping its domain and code so callers can tell transient from permanent.
public struct MongoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// libmongoc's error domain (`MONGOC_ERROR_*`).
    public var domain: UInt32
    /// The code within the domain; for server errors, MongoDB's error code.
    public var code: UInt32
    /// libmongoc's message.
    public var message: String
    /// What we were doing.
    public var context: String

    /// Creates an error from its parts.
    public init(domain: UInt32, code: UInt32, message: String, context: String) {
        self.domain = domain
        self.code = code
        self.message = message
        self.context = context
    }

    init(_ error: bson_error_t, context: String) {
        var copy = error
        let message = withUnsafeBytes(of: &copy.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        self.init(domain: error.domain, code: error.code, message: message, context: context)
    }

    /// MongoDB's duplicate-key error code.
    public static let duplicateKey: UInt32 = 11000

    /// Server codes that mean "not now" rather than "never": network, elections, shutdown.
    static let transientServerCodes: Set<UInt32> = [
        6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 64, 50, 112, 134, 150, 63, 133,
    ]

    /// Server codes that refuse a document for what it is: retrying it can never succeed.
    static let permanentDocumentCodes: Set<UInt32> = [2, 9, 14, 22, 52, 53, 55, 56, 57, 121, 10334, 16755, 17280, 17419]

    /// True when MongoDB refused a document for what it is (bad value, invalid field name,
    /// validation, too large); such an event goes to the dead letters at once.
    public var isPermanentForDocument: Bool {
        switch domain {
        case MONGOC_ERROR_SERVER.rawValue, MONGOC_ERROR_COMMAND.rawValue, MONGOC_ERROR_COLLECTION.rawValue, MONGOC_ERROR_QUERY.rawValue:
            return Self.permanentDocumentCodes.contains(code)
        case MONGOC_ERROR_BSON.rawValue:
            return true
        default:
            return false
        }
    }

    /// True when retrying later can succeed: no server, a dropped stream, an election, a timeout.
    public var isTransient: Bool {
        switch domain {
        case MONGOC_ERROR_STREAM.rawValue, MONGOC_ERROR_SERVER_SELECTION.rawValue, MONGOC_ERROR_PROTOCOL.rawValue:
            return true
        case MONGOC_ERROR_CLIENT.rawValue:
            return code == MONGOC_ERROR_CLIENT_AUTHENTICATE.rawValue ? false : true
        case MONGOC_ERROR_WRITE_CONCERN.rawValue:
            return true
        case MONGOC_ERROR_SERVER.rawValue, MONGOC_ERROR_QUERY.rawValue, MONGOC_ERROR_COMMAND.rawValue, MONGOC_ERROR_COLLECTION.rawValue:
            return Self.transientServerCodes.contains(code)
        default:
            return false
        }
    }

    /// What failed, whether it is worth retrying, and libmongoc's message.
    public var description: String {
        let kind = isTransient ? "transient, will retry" : "permanent"
        return "mongo: \(context) failed (\(kind); domain \(domain), code \(code)): \(message)"
    }
}
