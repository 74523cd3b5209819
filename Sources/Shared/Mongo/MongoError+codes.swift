import CMongoC

extension MongoError {
    /// What an error means for whoever retries the write.
    public enum Kind: Sendable, Equatable {
        /// Not now: the same write can succeed later (no server, network, election, shutdown, timeout).
        case transient
        /// Never, for this document: MongoDB or libmongoc refused the document for what it is.
        case refusedDocument
        /// Neither: not known to pass with time and not about one document (authentication,
        /// configuration, a code this table does not know).
        case other
    }

    /// How this error should be handled. Rules, first match wins:
    /// 1. a label in `transientLabels` makes it transient, whatever its domain and code;
    /// 2. server errors (`MONGOC_ERROR_SERVER`) by `serverCodes`, unknown codes are `.other`;
    /// 3. libmongoc's own errors by domain (`kind(domain:code:)`).
    public var kind: Kind {
        if labels.contains(where: Self.transientLabels.contains) { return .transient }
        if domain == MONGOC_ERROR_SERVER.rawValue { return Self.serverCodes[code]?.kind ?? .other }
        return Self.kind(domain: domain, code: code)
    }

    /// Error labels MongoDB (4.4+) and libmongoc put on errors that are worth retrying.
    static let transientLabels: Set<String> = ["RetryableWriteError", "TransientTransactionError", "NetworkError"]

    /// MongoDB server error codes this store acts on, with their names in MongoDB's
    /// `src/mongo/base/error_codes.yml` (16755 is an assertion id, not in that file).
    static let serverCodes: [UInt32: (name: String, kind: Kind)] = [
        // Network, elections, shutdown: the retryable-writes spec's codes (all `RetriableError`).
        6: ("HostUnreachable", .transient),
        7: ("HostNotFound", .transient),
        89: ("NetworkTimeout", .transient),
        91: ("ShutdownInProgress", .transient),
        189: ("PrimarySteppedDown", .transient),
        262: ("ExceededTimeLimit", .transient),
        9001: ("SocketException", .transient),
        10107: ("NotWritablePrimary", .transient),
        11600: ("InterruptedAtShutdown", .transient),
        11602: ("InterruptedDueToReplStateChange", .transient),
        13435: ("NotPrimaryNoSecondaryOk", .transient),
        13436: ("NotPrimaryOrSecondary", .transient),
        // More "not now": older servers' not-primary, replication, time limits, write conflicts,
        // sharding routing (mongos retries these itself and may give up), locks, load shedding.
        10058: ("LegacyNotPrimary", .transient),
        134: ("ReadConcernMajorityNotAvailableYet", .transient),
        50: ("MaxTimeMSExpired", .transient),
        64: ("WriteConcernTimeout", .transient),  // WriteConcernFailed before MongoDB 7.0
        112: ("WriteConflict", .transient),
        63: ("StaleShardVersion", .transient),
        150: ("StaleEpoch", .transient),
        13388: ("StaleConfig", .transient),
        133: ("FailedToSatisfyReadPreference", .transient),
        216: ("ElectionInProgress", .transient),
        11601: ("Interrupted", .transient),
        24: ("LockTimeout", .transient),
        46: ("LockBusy", .transient),
        202: ("NetworkInterfaceExceededTimeLimit", .transient),
        402: ("ResourceExhausted", .transient),
        // An operator must free space; meanwhile the queue in Redis is the buffer.
        14031: ("OutOfDiskSpace", .transient),
        // Refused for what the document is: retrying it can never succeed.
        2: ("BadValue", .refusedDocument),
        9: ("FailedToParse", .refusedDocument),
        14: ("TypeMismatch", .refusedDocument),
        22: ("InvalidBSON", .refusedDocument),
        52: ("DollarPrefixedFieldName", .refusedDocument),
        53: ("InvalidIdField", .refusedDocument),
        55: ("InvalidDBRef", .refusedDocument),
        56: ("EmptyFieldName", .refusedDocument),
        57: ("DottedFieldName", .refusedDocument),
        121: ("DocumentValidationFailure", .refusedDocument),
        378: ("NonConformantBSON", .refusedDocument),
        10334: ("BSONObjectTooLarge", .refusedDocument),
        17280: ("KeyTooLong", .refusedDocument),  // OBSOLETE_KeyTooLong since 4.2: an index key over 1 KB
        16755: ("Can't extract geo keys", .refusedDocument),
        // Known and deliberately `.other`: duplicates are counted as stored by `insert`; the rest
        // is configuration an operator fixes, not the document's fault and not passing with time.
        11000: ("DuplicateKey", .other),
        13: ("Unauthorized", .other),
        18: ("AuthenticationFailed", .other),
        20: ("IllegalOperation", .other),
        26: ("NamespaceNotFound", .other),
        59: ("CommandNotFound", .other),
        79: ("UnknownReplWriteConcern", .other),
        100: ("UnsatisfiableWriteConcern", .other),
    ]

    /// libmongoc's own errors (error API version 2: server errors are `MONGOC_ERROR_SERVER`).
    static func kind(domain: UInt32, code: UInt32) -> Kind {
        switch domain {
        case MONGOC_ERROR_STREAM.rawValue, MONGOC_ERROR_SERVER_SELECTION.rawValue, MONGOC_ERROR_PROTOCOL.rawValue:
            return .transient  // no connection, no suitable server, a broken reply
        case MONGOC_ERROR_WRITE_CONCERN.rawValue:
            return .transient  // written, but not yet acknowledged as asked: a retry is a duplicate no-op
        case MONGOC_ERROR_BSON.rawValue:
            return .refusedDocument  // the document cannot be encoded or sent (too large, invalid)
        case MONGOC_ERROR_CLIENT.rawValue:
            switch code {
            case MONGOC_ERROR_CLIENT_NOT_READY.rawValue, MONGOC_ERROR_CLIENT_GETNONCE.rawValue,
                MONGOC_ERROR_CLIENT_IN_EXHAUST.rawValue, MONGOC_ERROR_CLIENT_SESSION_FAILURE.rawValue:
                return .transient
            default:
                return .other  // authentication, TLS peer, API misuse: an operator must act
            }
        default:
            return .other
        }
    }
}
