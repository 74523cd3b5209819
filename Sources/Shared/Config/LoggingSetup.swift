import Logging

/// Process-wide logging: swift-log's stream handler on standard output, at the configured level.
public enum LoggingSetup {
    /// Bootstraps swift-log once per process.
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = LazyMetadataLogHandler(StreamLogHandler.standardOutput(label: label))
            handler.logLevel = level
            return handler
        }
    }
}

/// `StreamLogHandler` with its metadata kept as given and formatted only when a message is
/// written. The stream handler formats all of it again on every change, and Hummingbird sets a
/// request id on each request's logger: that was 4% of a `POST /event`'s CPU, spent on
/// messages that are below the level and never written.
struct LazyMetadataLogHandler: LogHandler {
    private var stream: StreamLogHandler
    /// The metadata set on this logger.
    var metadata: Logger.Metadata = [:]
    /// Metadata added to every message, under the logger's own and over the message's.
    var metadataProvider: Logger.MetadataProvider?

    /// Wraps `stream`, which should carry no metadata and no provider of its own.
    init(_ stream: StreamLogHandler) {
        self.stream = stream
    }

    var logLevel: Logger.Level {
        get { stream.logLevel }
        set { stream.logLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        // StreamLogHandler's order: the logger's metadata, then the provider's, then the message's.
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        var event = event
        event.metadata = merged.isEmpty ? nil : merged
        stream.log(event: event)
    }
}
