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
