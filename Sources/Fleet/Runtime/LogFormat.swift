/// How log lines are written to standard error: one JSON object per line (the default in
/// containers, for log shippers) or human-readable text.
public enum LogFormat: String, Sendable, Hashable, CaseIterable {
    case json
    case text
}
