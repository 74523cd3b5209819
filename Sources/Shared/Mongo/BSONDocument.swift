import CMongoC

/// One `bson_t` owned by Swift: created with `bson_new`, destroyed once in `deinit`.
///
/// Lives only on the thread that builds and uses it; nothing outside the Mongo wrapper sees it.
final class BSONDocument {
    /// The C document, valid for the lifetime of this object.
    let pointer: OpaquePointer

    /// An empty document.
    init() {
        pointer = bson_new()
    }

    /// A document parsed from (extended) JSON text.
    init(json: String) throws(MongoError) {
        var error = bson_error_t()
        let count = json.utf8.count
        guard let parsed = json.withCString({ bson_new_from_json(UnsafeRawPointer($0).assumingMemoryBound(to: UInt8.self), count, &error) }) else {
            throw MongoError(error, context: "parse JSON as BSON")
        }
        pointer = parsed
    }

    deinit {
        bson_destroy(pointer)
    }

    /// Runs `body` with the key as C characters and its length, without copying a native
    /// string (passing a `String` where C wants a pointer copies it into a new array).
    private func withKey(_ key: String, _ body: (UnsafePointer<CChar>, Int32) -> Void) {
        key.withCString { body($0, Int32(key.utf8.count)) }
    }

    /// Appends a UTF-8 string; the value is stored as data, whatever it contains.
    func append(_ key: String, _ value: String) {
        var value = value
        value.withUTF8 { bytes in
            let length = Int32(bytes.count)
            bytes.withMemoryRebound(to: CChar.self) { chars in
                withKey(key) { key, keyLength in
                    guard let base = chars.baseAddress else {
                        _ = bson_append_utf8(pointer, key, keyLength, "", 0)
                        return
                    }
                    _ = bson_append_utf8(pointer, key, keyLength, base, length)
                }
            }
        }
    }

    /// Appends a BSON date from Unix milliseconds.
    func appendDate(_ key: String, millis: Int64) {
        withKey(key) { key, length in _ = bson_append_date_time(pointer, key, length, millis) }
    }

    /// Appends a 64-bit integer.
    func append(_ key: String, _ value: Int64) {
        withKey(key) { key, length in _ = bson_append_int64(pointer, key, length, value) }
    }

    /// Appends a 32-bit integer.
    func append(_ key: String, _ value: Int32) {
        withKey(key) { key, length in _ = bson_append_int32(pointer, key, length, value) }
    }

    /// Appends a double.
    func append(_ key: String, _ value: Double) {
        withKey(key) { key, length in _ = bson_append_double(pointer, key, length, value) }
    }

    /// Appends a boolean.
    func append(_ key: String, _ value: Bool) {
        withKey(key) { key, length in _ = bson_append_bool(pointer, key, length, value) }
    }

    /// Appends a nested document.
    func append(_ key: String, _ document: BSONDocument) {
        withKey(key) { key, length in _ = bson_append_document(pointer, key, length, document.pointer) }
    }

    /// The document as relaxed extended JSON.
    var json: String {
        Self.json(pointer)
    }

    /// Relaxed extended JSON of a document libmongoc owns.
    static func json(_ pointer: OpaquePointer) -> String {
        guard let text = bson_as_relaxed_extended_json(pointer, nil) else { return "{}" }
        defer { bson_free(text) }
        return String(cString: text)
    }

    /// Runs `body` with storage for an out-document libmongoc initialises (a command reply),
    /// then destroys and frees it. `bson_t` is 128-byte aligned, which Swift cannot declare.
    static func withReply<T, E: Error>(_ body: (OpaquePointer) throws(E) -> T) throws(E) -> T {
        let storage = UnsafeMutableRawPointer.allocate(byteCount: 128, alignment: 128)
        let reply = OpaquePointer(storage)
        bson_init(reply)
        defer {
            bson_destroy(reply)
            storage.deallocate()
        }
        return try body(reply)
    }
}
