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
        let enqueuer = Enqueuer(maxInFlight: 2, maxEventsPerPush: 7, maxWaitingEvents: 100_000) { items in
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
        let enqueuer = Enqueuer(maxInFlight: 1, maxWaitingEvents: 3) { items in
            started.continuation.yield()
            for await _ in gate.stream {}
            return .success(Self.echo(items))
        }
        let item = QueueItem(payload: Array("1".utf8))
        let first = Task { try await enqueuer.enqueue([item]) }  // in flight, holding the push
        for await _ in started.stream { break }
        // Two requests of three events each: the first in line fills the waiting list, the other is refused at once.
        let contenders = (0..<2).map { _ in Task { try await enqueuer.enqueue([item, item, item]) } }
        var refusals = 0
        var refusedOne = false
        while !refusedOne {  // the refusal comes without the push being released
            for contender in contenders {
                if case .failure(EnqueueError.overloaded) = await Self.peek(contender) { refusedOne = true }
            }
            if !refusedOne { try await Task.sleep(for: .milliseconds(10)) }
        }
        gate.continuation.finish()
        #expect(try await first.value.count == 1)
        for contender in contenders {
            switch await contender.result {
            case .success(let admissions): #expect(admissions.count == 3)
            case .failure(let error):
                #expect((error as? EnqueueError).map { if case .overloaded = $0 { true } else { false } } == true)
                refusals += 1
            }
        }
        #expect(refusals == 1)
    }

    /// The task's result if it has finished within 10 ms, else nil-like `.success([])`.
    static func peek(_ task: Task<[Admission], any Error>) async -> Result<[Admission], any Error> {
        await withTaskGroup(of: Result<[Admission], any Error>?.self) { group in
            group.addTask { await task.result }
            group.addTask { try? await Task.sleep(for: .milliseconds(10)); return nil }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? .success([])
        }
    }
}
