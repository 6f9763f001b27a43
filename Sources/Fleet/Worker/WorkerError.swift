/// Why the worker cannot run.
public struct WorkerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The co-partitioned topics do not share one partition count (partition *p* of each must go to one member).
    public static func partitionCountMismatch(_ counts: [String: Int]) -> WorkerError {
        let listed = counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        return WorkerError(
            code: "partition_count_mismatch",
            message: "the co-partitioned topics must have the same partition count, found \(listed); refusing to start")
    }

    /// A bounded machine word.
    public var code: String
    /// What is wrong.
    public var message: String

    public var description: String { "\(code): \(message)" }
}
