// Shared by every fuzz target: compiled into one module with the Sources/Shared files each
// target needs (see scripts/fuzz), so no NIO, Hummingbird, hiredis or libmongoc.

#if canImport(Glibc)
import Glibc
#endif

/// Stops the run with a message libFuzzer records next to the crashing input.
func fuzzFail(_ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError("fuzz invariant broken: \(message())", file: file, line: line)
}

/// `precondition` that also runs in -O builds with a readable message.
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) {
    if !condition { fuzzFail(message(), file: file, line: line) }
}

#if FUZZ_PROPVALUE_JSON
// `PropValue.json` lives in Sources/Shared/Throttle/Throttle.swift, which needs Redis; the
// same four lines, so the event target can build `Event.queuePayload` without it.
extension PropValue {
    public var json: JSONValue {
        switch self {
        case .string(let v): .string(v)
        case .int(let v): .int(Int(v))
        case .double(let v): .double(v)
        case .bool(let v): .bool(v)
        }
    }
}
#endif
