import Histogram
import NIOCore
import NIOHTTP1
import NIOPosix

/// The open-loop schedule and its bookkeeping, confined to the one event loop.
// Created inside `eventLoop.flatSubmit` and only touched on that loop (timer callbacks, future callbacks through
// `assumeIsolated()`, channel handlers), so it needs no locks and is deliberately not `Sendable`.
final class LoadRunner: NIOScheduledCallbackHandler {
    /// Where the run is: connecting the pool, issuing requests, waiting for the last responses, or done.
    private enum Phase { case connecting, running, draining, finished }

    private let config: LoadConfig
    private let loop: any EventLoop
    private let promise: EventLoopPromise<LoadReport>
    private let head: HTTPRequestHead
    private let warmupCount: Int  // requests [0, warmupCount) are warmup, not recorded
    private let totalCount: Int  // warmup plus measured requests
    private var phase = Phase.connecting
    private var t0 = NIODeadline.now()
    private var measureStart = NIODeadline.distantFuture
    private var end = NIODeadline.distantFuture
    private var timer: NIOScheduledCallback?
    private var nextToSend = 0  // the oldest intended request not yet sent: the pending queue is [nextToSend, due)
    private var open: [ObjectIdentifier: Connection] = [:]
    private var idle: [Connection] = []
    private var inFlight = 0
    private var latencies = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
    private var completed = 0, errors = 0, non2xx = 0, unsent = 0, timedOut = 0

    /// Prepares the request head and request counts; does no I/O yet. Must be called on `eventLoop`.
    init(config: LoadConfig, eventLoop: any EventLoop) {
        self.config = config
        self.loop = eventLoop
        self.promise = eventLoop.makePromise()
        self.warmupCount = Int(config.warmup * Double(config.rate))
        self.totalCount = warmupCount + Int(config.duration * Double(config.rate))
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: config.target.hostHeader)
        headers.add(name: "Content-Type", value: config.contentType)
        headers.add(name: "Content-Length", value: String(config.body.readableBytes))
        self.head = HTTPRequestHead(version: .http1_1, method: .POST, uri: config.target.path, headers: headers)
    }

    /// Opens the connection pool, then starts the clock; the future completes once everything is closed.
    func start() -> EventLoopFuture<LoadReport> {
        let attempts = (0..<config.connections).map { _ in connect() }
        EventLoopFuture.andAllComplete(attempts, on: loop).assumeIsolated().whenComplete { _ in
            guard !self.open.isEmpty else {
                self.phase = .finished
                return self.promise.fail(NoConnection(target: self.config.target))
            }
            self.t0 = .now()
            self.measureStart = self.t0 + .nanoseconds(Int64(self.config.warmup * 1e9))
            self.end = self.measureStart + .nanoseconds(Int64(self.config.duration * 1e9))
            self.phase = .running
            for _ in self.open.count..<self.config.connections { self.reconnectLater() }  // retry failed openings
            self.dispatch(now: self.t0)
        }
        return promise.futureResult
    }

    /// The instant request `index` is meant to start: t0 + index / rate.
    private func intended(_ index: Int) -> NIODeadline {
        t0 + .nanoseconds(Int64(Double(index) * 1e9 / Double(config.rate)))
    }

    /// Timer wake-up: ends the window, ends the drain, or releases the requests that have come due.
    func handleScheduledCallback(eventLoop: some EventLoop) {
        timer = nil
        switch phase {
        case .running: dispatch(now: .now())
        case .draining: finish()
        case .connecting, .finished: break
        }
    }

    /// Sends every due request an idle connection can take, then sleeps until the next one is due or the window ends.
    private func dispatch(now: NIODeadline) {
        while nextToSend < totalCount, intended(nextToSend) <= now, let connection = idle.popLast() {
            send(on: connection)
        }
        guard now < end else { return stopIssuing() }  // a late wake-up still sends what was due before the end
        // With no idle connection, the next response (or reconnect) dispatches; only the window's end needs a timer.
        let wake = nextToSend < totalCount && !idle.isEmpty ? min(intended(nextToSend), end) : end
        schedule(at: wake)
    }

    /// Arms the single timer, replacing any earlier one.
    private func schedule(at deadline: NIODeadline) {
        timer?.cancel()
        do {
            timer = try loop.assumeIsolated().scheduleCallback(at: deadline, handler: self)
        } catch {
            timer = nil  // only fails while the loop shuts down, and then there is nothing left to schedule
        }
    }

    /// Puts the oldest pending request on `connection`.
    private func send(on connection: Connection) {
        inFlight += 1
        connection.send(index: nextToSend, head: head, body: config.body)
        nextToSend += 1
    }

    /// Records a full response and hands the connection the next due request, if any.
    func responseReceived(on connection: Connection, index: Int, status: HTTPResponseStatus) {
        let now = NIODeadline.now()
        inFlight -= 1
        if index >= warmupCount {
            latencies.record(UInt64(max(0, (now - intended(index)).nanoseconds / 1000)))
            completed += 1
            if !(200..<300).contains(status.code) { non2xx += 1 }
        }
        release(connection, now: now)
    }

    /// Returns a connection to the pool, sending the oldest due request on it right away when there is one.
    private func release(_ connection: Connection, now: NIODeadline) {
        switch phase {
        case .running where now < end && nextToSend < totalCount && intended(nextToSend) <= now:
            send(on: connection)
        case .running:
            idle.append(connection)
            if idle.count == 1 { dispatch(now: now) }  // the timer may have been waiting for a free connection
        case .draining:
            idle.append(connection)
            if inFlight == 0 { finish() }
        case .connecting:
            idle.append(connection)
        case .finished:
            break
        }
    }

    /// Stops issuing at the end of the window; waits up to 5 s for responses still in flight.
    private func stopIssuing() {
        phase = .draining
        unsent = totalCount - nextToSend
        if inFlight == 0 { finish() } else { schedule(at: .now() + .seconds(5)) }
    }

    /// Counts what is still outstanding as errors, closes every connection, then completes the run.
    private func finish() {
        guard phase != .finished else { return }
        phase = .finished
        timer?.cancel()
        timer = nil
        timedOut = open.values.filter { ($0.inFlight ?? -1) >= warmupCount }.count
        errors += timedOut
        let closes = open.values.map { $0.channel.close() }
        open.removeAll()
        idle.removeAll()
        let report = LoadReport(
            rate: config.rate, duration: config.duration, latencies: latencies, completed: completed,
            errors: errors, non2xx: non2xx, unsent: unsent, timedOut: timedOut)
        EventLoopFuture.andAllComplete(closes, on: loop).assumeIsolated().whenComplete { _ in
            self.promise.succeed(report)
        }
    }

    /// Opens one keep-alive connection; a failure counts as an error (once measuring) and is retried while running.
    @discardableResult
    private func connect() -> EventLoopFuture<Void> {
        ClientBootstrap(group: loop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHTTPClientHandlers() }
            }
            .connect(host: config.target.host, port: config.target.port)
            .assumeIsolated()
            .flatMapThrowing { channel in
                let connection = Connection(runner: self, channel: channel)
                guard self.phase != .finished else { return channel.close(promise: nil) }
                do {
                    try channel.pipeline.syncOperations.addHandler(connection)
                    guard channel.isActive else { throw ChannelError.alreadyClosed }  // closed before we listened
                } catch {
                    channel.close(promise: nil)
                    throw error
                }
                self.open[ObjectIdentifier(connection)] = connection
                self.release(connection, now: .now())
            }
            .flatMapErrorThrowing { _ in
                if NIODeadline.now() >= self.measureStart, self.phase != .finished { self.errors += 1 }
                self.reconnectLater()
            }
            .nonisolated()
    }

    /// Called by a connection whose channel went away; a request it carried is lost and counted as an error.
    func connectionClosed(_ connection: Connection, lostIndex: Int?) {
        guard phase != .finished, open.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return }
        idle.removeAll { $0 === connection }
        if let index = lostIndex {
            inFlight -= 1
            if index >= warmupCount { errors += 1 }
        }
        if phase == .draining, inFlight == 0 { return finish() }
        reconnectLater()
    }

    /// Replaces a lost connection after 100 ms, unless no more requests will be issued.
    private func reconnectLater() {
        guard phase == .running else { return }
        loop.assumeIsolated().scheduleTask(in: .milliseconds(100)) { self.connect() }
    }
}

/// Not a single connection of the pool could be opened, so there is nothing to measure.
struct NoConnection: Error, CustomStringConvertible {
    let target: Target
    var description: String { "could not open any connection to \(target.host):\(target.port)" }
}
