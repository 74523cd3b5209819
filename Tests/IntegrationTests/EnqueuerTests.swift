import NIOConcurrencyHelpers
import Testing

@testable import IngestAPI
@testable import Shared

/// Group commit hands every request exactly its own decisions, however requests interleave,
/// and refuses at once when too many events wait.
struct EnqueuerTests {
    /// A push that answers each item with its own number (`remaining` = the number in its
    /// payload), so a request can tell whether the slice it got back is its own.
    static func echo(_ items: [QueueItem]) -> [Admission] {
        items.map { item in
            Admission(allowed: true, refusedBy: nil, retryAfter: .zero, limit: 1, remaining: Int(String(decoding: item.payload, as: UTF8.self)) ?? -1, reset: .zero)
        }
    }

    @Test func concurrentRequestsEachGetTheirOwnDecisionsInOrder() async throws {
        let pushes = NIOLockedValueBox<[Int]>([])
        let enqueuer = Enqueuer(maxInFlight: 2, maxEventsPerPush: 7, maxWaitingBytes: 1 << 20) { items in
            pushes.withLockedValue { $0.append(items.count) }
            await Task.yield()
            return .success(Self.echo(items))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for request in 0..<200 {
                group.addTask {
                    let size = request % 5 + 1
                    let numbers = (0..<size).map { request * 10 + $0 }
                    let admissions = try await enqueuer.enqueue(numbers.map { QueueItem(payload: Array(String($0).utf8)) })
                    #expect(admissions.map(\.remaining) == numbers, "request \(request) got another request's decisions")
                }
            }
            try await group.waitForAll()
        }
        let sizes = pushes.withLockedValue { $0 }
        let sent: Int = (0..<200).reduce(0) { $0 + $1 % 5 + 1 }
        let pushed: Int = sizes.reduce(0, +)
        #expect(pushed == sent)
        #expect(sizes.allSatisfy { $0 <= 7 }, "a push went over maxEventsPerPush")
        #expect(sizes.count < 200, "nothing was coalesced")
    }

    @Test func aFailedPushFailsEveryRequestInIt() async throws {
        let enqueuer = Enqueuer(maxInFlight: 1) { _ in .failure(.redis(.io("timeout"))) }
        await #expect(throws: EnqueueError.self) { try await enqueuer.enqueue([QueueItem(payload: Array("1".utf8))]) }
    }

    @Test func pastTheWaitingLimitARequestIsRefusedAtOnce() async throws {
        let gate = AsyncStream<Void>.makeStream()
        let started = AsyncStream<Void>.makeStream()
        let enqueuer = Enqueuer(maxInFlight: 1, maxWaitingBytes: 3) { items in  // payloads of one byte: three events
            started.continuation.yield()
            for await _ in gate.stream {}
            return .success(Self.echo(items))
        }
        let item = QueueItem(payload: Array("1".utf8))
        let first = Task { try await enqueuer.enqueue([item]) }  // in flight, holding the push
        for await _ in started.stream { break }
        // Two requests of three events each: the first in line fills the waiting list, the
        // other is refused at once. While the push is held only a refusal can finish.
        let finished = AsyncStream<Result<[Admission], any Error>>.makeStream()
        for _ in 0..<2 {
            Task {
                let result = await Task { try await enqueuer.enqueue([item, item, item]) }.result
                finished.continuation.yield(result)
            }
        }
        var results = finished.stream.makeAsyncIterator()
        let refused = await results.next()
        #expect(Self.isOverloaded(refused), "expected an immediate OVERLOADED, got \(String(describing: refused))")
        gate.continuation.finish()
        #expect(try await first.value.count == 1)
        let served = await results.next()
        #expect((try? served?.get())?.count == 3)
    }

    static func isOverloaded(_ result: Result<[Admission], any Error>?) -> Bool {
        guard case .failure(let error) = result, case .overloaded = error as? EnqueueError else { return false }
        return true
    }
}
