import Hummingbird
import Metrics
import NIOConcurrencyHelpers

/// Requests by route, method and status, and their duration: the metrics (and names) of
/// Hummingbird's `MetricsMiddleware`, recorded when the handler returns its response.
///
/// Hummingbird's middleware records after the body is written, which wraps every response
/// body in a post-write closure; on `POST /event` that wrapping cost about a fifth of
/// throughput (`scripts/bench`, scenario 1). Our bodies are small and written at once, so
/// the time to the response is the time that matters.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Metric handles by route, method and status, made once each.
    private let handles = NIOLockedValueBox([Key: Handles]())

    private struct Key: Hashable {
        var route: String
        var method: HTTPRequest.Method
        var status: HTTPResponse.Status
    }

    private struct Handles {
        var requests: Counter
        var errors: Counter
        var duration: Timer

        init(_ key: Key) {
            let dimensions = [
                ("http.route", key.route), ("http.request.method", key.method.rawValue),
                ("http.response.status_code", String(key.status.code)),
            ]
            requests = Counter(label: "hb.requests", dimensions: dimensions)
            errors = Counter(label: "hb.request.errors", dimensions: dimensions)
            duration = Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds)
        }
    }

    /// Counts the request under its route and final status, errors included.
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            record(request, context, response.status, start: start, failed: false)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            record(request, context, status, start: start, failed: true)
            throw error
        }
    }

    private func record(_ request: Request, _ context: Context, _ status: HTTPResponse.Status, start: ContinuousClock.Instant, failed: Bool) {
        // Routes, methods and statuses are few; a client's made-up method must not mint a new series.
        let method = knownMethods.contains(request.method) ? request.method : otherMethod
        let key = Key(route: context.endpointPath ?? "NotFound", method: method, status: status)
        let metrics = handles.withLockedValue { handles in
            if let existing = handles[key] { return existing }
            let made = Handles(key)
            handles[key] = made
            return made
        }
        metrics.requests.increment()
        if failed { metrics.errors.increment() }
        metrics.duration.recordInterval(since: start)
    }
}

/// The methods metrics keep apart; any other is counted as `OTHER`.
private let knownMethods: Set<HTTPRequest.Method> = [.get, .head, .post, .put, .delete, .options, .patch, .connect, .trace]

/// Where made-up methods are counted (a constant token, so the initialiser cannot fail).
private let otherMethod = HTTPRequest.Method("OTHER")!
