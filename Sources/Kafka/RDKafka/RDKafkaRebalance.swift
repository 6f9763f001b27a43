import CRdKafka

/// One rebalance as librdkafka reports it, valid only during the rebalance callback (or the close
/// event) it is handed to. It carries the partition list and performs the eager (un)assignment and
/// the pause/resume of exactly those partitions on the consumer's handle.
struct RDKafkaRebalance: ~Copyable {
    enum Kind: Equatable {
        case assign
        case revoke
        /// A rebalance error; the text is librdkafka's explanation.
        case error(String)
    }

    private let handle: OpaquePointer
    private let list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
    let kind: Kind

    init(handle: OpaquePointer, err: rd_kafka_resp_err_t, list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?)
    {
        self.handle = handle
        self.list = list
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS: kind = .assign
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS: kind = .revoke
        default: kind = .error(RDKafkaErrorCode.text(err.rawValue))
        }
    }

    /// The partitions this event assigns or revokes.
    var partitions: [KafkaTopicPartition] { RDKafkaTopicPartitionList.partitions(of: list) }

    /// Whether the revoked partitions were lost (session timeout, fatal group error) rather than handed over.
    var isAssignmentLost: Bool { rd_kafka_assignment_lost(handle) != 0 }

    /// Assigns this event's partitions; returns librdkafka's explanation on failure.
    func assign() -> String? {
        let err = rd_kafka_assign(handle, list)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR ? nil : RDKafkaErrorCode.text(err.rawValue)
    }

    /// Drops the whole assignment.
    func unassign() {
        rd_kafka_assign(handle, nil)
    }

    /// Pauses this event's partitions (librdkafka keeps a partition's pause flag across assignments).
    func pausePartitions() {
        if let list { rd_kafka_pause_partitions(handle, list) }
    }

    /// Resumes this event's partitions.
    func resumePartitions() {
        if let list { rd_kafka_resume_partitions(handle, list) }
    }
}
