import CMongoC

extension MongoStore {
    /// Runs a `find` on `collection`: `filterJSON` (extended JSON, values quoted by the caller
    /// with `JSONValue`), only `fields` (all when nil), in `sortJSON` order, at most `limit`
    /// documents. Each document is decoded by `decode` on the store's thread, straight from its
    /// bytes; nil results are dropped. The server stops the query after `maxTime`.
    public func find<T: Sendable>(
        _ collection: String = MongoStore.collectionName, filterJSON: String, fields: [String]? = nil, sortJSON: String? = nil,
        limit: Int? = nil, maxTime: Duration = .seconds(30), decode: @escaping @Sendable (BSONReader) -> T?
    ) async throws(MongoError) -> [T] {
        let pool = self.pool
        let maxTimeMS = max(1, Int64(maxTime / .milliseconds(1)))
        return try await blocking { () throws(MongoError) -> [T] in
            let filter = try BSONDocument(json: filterJSON)
            let options = BSONDocument()
            if let fields {
                let projection = BSONDocument()
                for field in fields { projection.append(field, Int32(1)) }
                options.append("projection", projection)
            }
            if let sortJSON { options.append("sort", try BSONDocument(json: sortJSON)) }
            if let limit { options.append("limit", Int64(limit)) }
            options.append("maxTimeMS", maxTimeMS)
            return try pool.withCollection(collection) { collection throws(MongoError) -> [T] in
                guard let cursor = mongoc_collection_find_with_opts(collection, filter.pointer, options.pointer, nil) else {
                    throw MongoError(domain: 0, code: 0, message: "no cursor", context: "find")
                }
                defer { mongoc_cursor_destroy(cursor) }
                return try Self.drain(cursor, context: "find", decode: decode)
            }
        }
    }

    /// Runs an aggregation pipeline (JSON array text) on `collection` and decodes each result
    /// document from its bytes, as `find` does.
    public func aggregate<T: Sendable>(
        _ collection: String = MongoStore.collectionName, pipelineJSON: String, maxTime: Duration = .seconds(30),
        decode: @escaping @Sendable (BSONReader) -> T?
    ) async throws(MongoError) -> [T] {
        let pool = self.pool
        let maxTimeMS = max(1, Int64(maxTime / .milliseconds(1)))
        return try await blocking { () throws(MongoError) -> [T] in
            let pipeline = try BSONDocument(json: #"{"pipeline": "# + pipelineJSON + "}")
            let options = BSONDocument()
            options.append("maxTimeMS", maxTimeMS)
            return try pool.withCollection(collection) { collection throws(MongoError) -> [T] in
                guard let cursor = mongoc_collection_aggregate(collection, MONGOC_QUERY_NONE, pipeline.pointer, options.pointer, nil) else {
                    throw MongoError(domain: 0, code: 0, message: "no cursor", context: "aggregate")
                }
                defer { mongoc_cursor_destroy(cursor) }
                return try Self.drain(cursor, context: "aggregate", decode: decode)
            }
        }
    }

    /// Every document of `cursor` decoded (nil results dropped); a cursor error is thrown with
    /// its labels. Blocking: call it inside `blocking`.
    static func drain<T>(_ cursor: OpaquePointer, context: String, decode: (BSONReader) -> T?) throws(MongoError) -> [T] {
        var results: [T] = []
        var document: OpaquePointer?
        while mongoc_cursor_next(cursor, &document), let document {
            if let value = decode(BSONReader(Self.bytes(of: document))) { results.append(value) }
        }
        var error = bson_error_t()
        var reply: OpaquePointer?
        if mongoc_cursor_error_document(cursor, &error, &reply) {
            throw MongoError(error, context: context, labels: reply.map(MongoError.labels(inReply:)) ?? [])
        }
        return results
    }

    /// A copy of a document's bytes (valid only until the cursor moves, so copied at once).
    static func bytes(of document: OpaquePointer) -> ArraySlice<UInt8> {
        guard let data = bson_get_data(document) else { return [] }
        var length: UInt32 = 0
        withUnsafeMutableBytes(of: &length) { $0.copyMemory(from: UnsafeRawBufferPointer(start: data, count: 4)) }
        let count = Int(UInt32(littleEndian: length))
        return ArraySlice(UnsafeBufferPointer(start: data, count: count))
    }
}
