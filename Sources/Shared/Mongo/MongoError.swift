import CMongoC
import Foundation

/// A libmongoc failure, keeping its domain, code and MongoDB's error labels so callers can tell
/// transient from permanent (the rules are in `MongoError+codes.swift`).
public struct MongoError: Error, Sendable, Equatable, CustomStringConvertible {
    /// libmongoc's error domain (`MONGOC_ERROR_*`).
    public var domain: UInt32
    /// The code within the domain; for server errors, MongoDB's error code.
    public var code: UInt32
    /// libmongoc's message.
    public var message: String
    /// What we were doing.
    public var context: String
    /// MongoDB's error labels from the reply (`errorLabels`), e.g. `RetryableWriteError`.
    public var labels: [String]

    /// Creates an error from its parts.
    public init(domain: UInt32, code: UInt32, message: String, context: String, labels: [String] = []) {
        self.domain = domain
        self.code = code
        self.message = message
        self.context = context
        self.labels = labels
    }

    /// Creates an error from libmongoc's `bson_error_t` and the labels of the reply it came with.
    init(_ error: bson_error_t, context: String, labels: [String] = []) {
        var copy = error
        let message = withUnsafeBytes(of: &copy.message) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        self.init(domain: error.domain, code: error.code, message: message, context: context, labels: labels)
    }

    /// A document libmongoc refused to put in a request (invalid key, too large): it is refused
    /// for what it is, as `MONGOC_ERROR_BSON`, whatever domain libmongoc reported it under.
    static func refusedDocument(_ error: bson_error_t, context: String) -> MongoError {
        var refused = MongoError(error, context: context)
        refused.message = "\(refused.message) (libmongoc domain \(refused.domain), code \(refused.code))"
        refused.domain = MONGOC_ERROR_BSON.rawValue
        refused.code = MONGOC_ERROR_BSON_INVALID.rawValue
        return refused
    }

    /// The store found no client or thread to run on within its deadline: retry later.
    static func busy(_ message: String, context: String) -> MongoError {
        MongoError(domain: MONGOC_ERROR_CLIENT.rawValue, code: MONGOC_ERROR_CLIENT_NOT_READY.rawValue, message: message, context: context)
    }

    /// MongoDB's duplicate-key error code.
    public static let duplicateKey: UInt32 = 11000

    /// The error labels of a libmongoc reply: its `errorLabels` and those of its write concern
    /// error(s), where `mongoc_error_has_label` looks for them.
    static func labels(inReply reply: OpaquePointer) -> [String] {
        labels(inReplyJSON: BSONDocument.json(reply))
    }

    /// The error labels of a reply given as relaxed extended JSON.
    static func labels(inReplyJSON json: String) -> [String] {
        struct Labelled: Decodable {
            var errorLabels: [String]?
        }
        struct Reply: Decodable {
            var errorLabels: [String]?
            var writeConcernError: Labelled?
            var writeConcernErrors: [Labelled]?
        }
        guard let reply = try? JSONDecoder().decode(Reply.self, from: Data(json.utf8)) else { return [] }
        var labels = reply.errorLabels ?? []
        for nested in [reply.writeConcernError].compactMap({ $0 }) + (reply.writeConcernErrors ?? []) {
            labels += (nested.errorLabels ?? []).filter { !labels.contains($0) }
        }
        return labels
    }

    /// True when MongoDB refused a document for what it is (bad value, invalid field name,
    /// validation, too large); such an event goes to the dead letters at once.
    public var isPermanentForDocument: Bool { kind == .refusedDocument }

    /// True when retrying later can succeed: no server, a dropped stream, an election, a timeout.
    public var isTransient: Bool { kind == .transient }

    /// What failed, whether it is worth retrying, and libmongoc's message.
    public var description: String {
        let kind: String
        switch self.kind {
        case .transient: kind = "transient, will retry"
        case .refusedDocument: kind = "document refused for good"
        case .other: kind = "permanent"
        }
        let name = domain == MONGOC_ERROR_SERVER.rawValue ? Self.serverCodes[code].map { " \($0.name)" } ?? "" : ""
        let labelText = labels.isEmpty ? "" : "; labels \(labels.joined(separator: ","))"
        return "mongo: \(context) failed (\(kind); domain \(domain), code \(code)\(name)\(labelText)): \(message)"
    }
}
