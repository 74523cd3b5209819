import CMongoC

/// Small collections (sites, API keys) beside `events`: one document at a time, written from
/// `JSONValue` (values are always data, never operators: keys are ours, values are escaped).
/// They are read with `find(_:filterJSON:…)` and `BSONReader`.
extension MongoStore {
    /// A BSON date for a `JSONValue` document.
    static func date(_ millis: Int64) -> JSONValue {
        .object([("$date", .object([("$numberLong", .string(String(millis)))]))])
    }

    /// Inserts one document; a duplicate `_id` or unique key throws code `MongoError.duplicateKey`.
    func insertOne(_ document: JSONValue, into collection: String) async throws(MongoError) {
        let pool = self.pool
        let json = document.serialized
        try await blocking { () throws(MongoError) in
            let document = try BSONDocument(json: json)
            try pool.withCollection(collection) { handle throws(MongoError) in
                try BSONDocument.withReply { reply throws(MongoError) in
                    var error = bson_error_t()
                    guard mongoc_collection_insert_one(handle, document.pointer, nil, reply, &error) else {
                        throw MongoError(error, context: "insert into \(collection)", labels: MongoError.labels(inReply: reply))
                    }
                }
            }
        }
    }

    /// Replaces the first document matching `filter` with `document` (whole documents keep every
    /// value's BSON type; nx-27017's `$set` turns dates into strings); returns how many matched (0 or 1).
    func replaceOne(_ filter: JSONValue, with document: JSONValue, in collection: String) async throws(MongoError) -> Int {
        let pool = self.pool
        let filterJSON = filter.serialized
        let documentJSON = document.serialized
        return try await blocking { () throws(MongoError) -> Int in
            let filter = try BSONDocument(json: filterJSON)
            let replacement = try BSONDocument(json: documentJSON)
            return try pool.withCollection(collection) { handle throws(MongoError) -> Int in
                try BSONDocument.withReply { reply throws(MongoError) -> Int in
                    var error = bson_error_t()
                    guard mongoc_collection_replace_one(handle, filter.pointer, replacement.pointer, nil, reply, &error) else {
                        throw MongoError(error, context: "replace in \(collection)", labels: MongoError.labels(inReply: reply))
                    }
                    return Self.count("matchedCount", inReply: reply)
                }
            }
        }
    }

    /// Deletes the first document matching `filter`; returns how many were deleted (0 or 1).
    func deleteOne(_ filter: JSONValue, from collection: String) async throws(MongoError) -> Int {
        let pool = self.pool
        let filterJSON = filter.serialized
        return try await blocking { () throws(MongoError) -> Int in
            let filter = try BSONDocument(json: filterJSON)
            return try pool.withCollection(collection) { handle throws(MongoError) -> Int in
                try BSONDocument.withReply { reply throws(MongoError) -> Int in
                    var error = bson_error_t()
                    guard mongoc_collection_delete_one(handle, filter.pointer, nil, reply, &error) else {
                        throw MongoError(error, context: "delete from \(collection)", labels: MongoError.labels(inReply: reply))
                    }
                    return Self.count("deletedCount", inReply: reply)
                }
            }
        }
    }

    /// Creates `indexes` (the `indexes` array of `createIndexes`) on `collection`; safe to repeat.
    func createIndexes(_ indexes: JSONValue, on collection: String) async throws(MongoError) {
        let command = JSONValue.object([("createIndexes", .string(collection)), ("indexes", indexes)])
        try await self.command(command.serialized, database: nil, context: "createIndexes on \(collection)")
    }

    /// An integer field of a write reply (`matchedCount`, `deletedCount`); 0 when absent.
    private static func count(_ field: String, inReply reply: OpaquePointer) -> Int {
        for (key, value) in BSONReader(bytes(of: reply)) where key == field { return Int(value.int ?? 0) }
        return 0
    }
}
