import Logging

/// One logging setup for both executables: structured lines on stdout at `level`.
public enum LoggingSetup {
    /// Bootstraps swift-log once per process.
    public static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardOutput(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
