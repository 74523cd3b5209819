import Hummingbird
import Shared

/// An error answered as DESIGN.md's JSON shape:
/// `{"success":false,"error":{"code":…,"message":…,"field":…}}`.
struct APIError: HTTPResponseError {
    /// The HTTP status.
    var status: HTTPResponse.Status
    /// The stable code, message and field.
    var detail: ValidationError
    /// Extra headers, e.g. `Retry-After` or `Allow`.
    var headers: HTTPFields = [:]
    /// Extra top-level members of the answer, after `error` (e.g. `event_ids`).
    var extra: [(String, JSONValue)] = []

    /// A 400 (or 413 for an oversized batch) from a validation failure.
    static func invalid(_ error: ValidationError) -> APIError {
        APIError(status: error.code == "PAYLOAD_TOO_LARGE" ? .contentTooLarge : .badRequest, detail: error)
    }

    /// 413: the body is over `limit` bytes.
    static func tooLarge(limit: Int) -> APIError {
        APIError(status: .contentTooLarge, detail: ValidationError(code: "PAYLOAD_TOO_LARGE", message: "body must be at most \(limit) bytes"))
    }

    /// 415: neither JSON nor text/plain; `essence` is the parsed type, nil when the header was malformed.
    static func unsupportedMediaType(_ essence: String?) -> APIError {
        let what = essence.map { "Content-Type \($0) is not accepted" } ?? "Content-Type is malformed"
        return APIError(
            status: .unsupportedMediaType,
            detail: ValidationError(code: "UNSUPPORTED_MEDIA_TYPE", message: "\(what); send application/json or text/plain holding JSON"))
    }

    /// 503 `OUTCOME_UNKNOWN`: Redis took the push but did not confirm it, so the events may be
    /// queued. The answer names each one's index in the request and its id: resending them with
    /// those `event_id`s stores each once.
    static func outcomeUnknown(events: [(index: Int, eventID: String)]) -> APIError {
        var error = APIError(
            status: .serviceUnavailable,
            detail: ValidationError(
                code: "OUTCOME_UNKNOWN",
                message: "the queue did not confirm in time: the events may or may not have been accepted; resend them with the event_id listed for their index in events, which stores each at most once"),
            headers: [.retryAfter: "1"])
        error.extra = [("events", .array(events.map { .object([("index", .int($0.index)), ("event_id", .string($0.eventID))]) }))]
        return error
    }

    /// 503: Redis cannot take the event now; nothing was queued.
    static func unavailable(_ message: String, code: String = "SERVICE_UNAVAILABLE", retryAfter seconds: Int = 1) -> APIError {
        APIError(
            status: .serviceUnavailable,
            detail: ValidationError(code: code, message: message),
            headers: [.retryAfter: String(seconds)])
    }

    /// 429: a rate limit refused the event; nothing was queued.
    static func rateLimited(_ admission: Admission) -> APIError {
        let scope = admission.refusedBy?.rawValue ?? "site"
        let seconds = max(1, Int((admission.retryAfter.totalMilliseconds + 999) / 1000))
        var headers = RateLimitHeaders.fields(for: admission)
        headers[.retryAfter] = String(seconds)
        return APIError(
            status: .tooManyRequests,
            detail: ValidationError(code: "RATE_LIMITED", message: "rate limit per \(scope) exceeded (\(admission.limit) allowed); retry after \(seconds) s", field: nil),
            headers: headers)
    }

    /// Writes the error JSON with the status and headers.
    func response(from request: Request, context: some RequestContext) throws -> Response {
        JSONBody.response(status, .object([("success", .bool(false)), ("error", detail.json)] + extra), headers: headers)
    }
}

/// Turns every error into the JSON error shape: unknown routes (404), wrong methods (405),
/// Hummingbird's own errors, and anything unexpected (500, logged).
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Routes and the methods they answer, for 405 and `Allow`. A segment `{name}` of a route
    /// stands for any one segment, as in the router (`/api/v1/sites/{site_id}`).
    let routes: [String: [HTTPRequest.Method]]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            if error.status == .notFound, let methods = methods(of: request.uri.path) {
                throw APIError(
                    status: .methodNotAllowed,
                    detail: ValidationError(code: "METHOD_NOT_ALLOWED", message: "\(EventValidator.printable(request.method.rawValue)) is not allowed on \(EventValidator.printable(request.uri.path))"),
                    headers: [.allow: methods.map(\.rawValue).joined(separator: ", ")])
            }
            let code: String = switch error.status {
            case .notFound: "NOT_FOUND"
            case .contentTooLarge: "PAYLOAD_TOO_LARGE"
            case .badRequest: "BAD_REQUEST"
            default: "HTTP_\(error.status.code)"
            }
            throw APIError(status: error.status, detail: ValidationError(code: code, message: error.body ?? error.status.reasonPhrase), headers: error.headers)
        } catch let error as any HTTPResponseError {
            throw error  // already an answer, e.g. an APIError with CORS headers added
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            throw APIError(status: .internalServerError, detail: ValidationError(code: "INTERNAL", message: "internal error; it has been logged"))
        }
    }

    /// The methods `path` answers: its own entry, else that of a route with `{…}` segments matching it.
    func methods(of path: String) -> [HTTPRequest.Method]? {
        if let methods = routes[path] { return methods }
        let segments = path.split(separator: "/")
        return routes.first { route, _ in
            guard route.contains("{") else { return false }
            let pattern = route.split(separator: "/")
            return pattern.count == segments.count && zip(pattern, segments).allSatisfy { $0.first == "{" || $0 == $1 }
        }?.value
    }
}

/// The `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (seconds) headers.
enum RateLimitHeaders {
    /// The headers for `admission`; none when no limit applies.
    static func fields(for admission: Admission) -> HTTPFields {
        guard admission.limit > 0 else { return [:] }
        var fields = HTTPFields()
        let reset = max(0, Int((admission.reset.totalMilliseconds + 999) / 1000))
        fields[.rateLimitLimit] = String(admission.limit)
        fields[.rateLimitRemaining] = String(admission.remaining)
        fields[.rateLimitReset] = String(reset)
        return fields
    }
}

/// JSON answers.
enum JSONBody {
    /// A JSON response with `status`.
    static func response(_ status: HTTPResponse.Status, _ value: JSONValue, headers: HTTPFields = [:]) -> Response {
        Response(status: status, headers: fields(adding: headers), body: .init(byteBuffer: ByteBuffer(bytes: value.bytes)))
    }

    /// `202 {"success":true,"event_id":"…"}`, the answer to each accepted `POST /event`, written
    /// straight to bytes (the same bytes `response` writes for that object).
    static func accepted(eventID: String, headers: HTTPFields) -> Response {
        var body = ByteBuffer()
        body.reserveCapacity(48 + eventID.utf8.count)
        body.writeStaticString(#"{"success":true,"event_id":"#)
        body.writeBytes(JSONValue.string(eventID).bytes)
        body.writeStaticString("}")
        return Response(status: .accepted, headers: fields(adding: headers), body: .init(byteBuffer: body))
    }

    /// The content type every JSON answer carries, built (and its value validated) once rather than per answer.
    private static let contentType: HTTPFields = [.contentType: "application/json; charset=utf-8"]

    /// `headers` with the JSON content type.
    private static func fields(adding headers: HTTPFields) -> HTTPFields {
        guard !headers.isEmpty else { return contentType }
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return fields
    }
}
