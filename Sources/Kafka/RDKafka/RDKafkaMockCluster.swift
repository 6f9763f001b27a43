import CRdKafka

/// librdkafka's mock cluster (`rd_kafka_mock_cluster_t`), hosted by a producer handle of this process.
///
/// `@unchecked Sendable`: the mock cluster API is thread-safe (it posts operations to the mock's own
/// thread); the owner calls ``destroy()`` once, after which no method may be used.
final class RDKafkaMockCluster: @unchecked Sendable {
    private let pointer: OpaquePointer
    private let host: RDKafkaClient

    /// Starts `brokers` mock brokers on loopback, hosted by `host` (which must outlive the cluster).
    init(host: RDKafkaClient, brokers: Int) throws(KafkaError) {
        guard let mock = rd_kafka_mock_cluster_new(host.handle, Int32(brokers)) else {
            throw KafkaError(.embeddedBroker, "rd_kafka_mock_cluster_new failed")
        }
        self.pointer = mock
        self.host = host
    }

    /// The brokers' `host:port` list.
    var bootstrapServers: String { String(cString: rd_kafka_mock_cluster_bootstraps(pointer)) }

    func createTopic(_ name: String, partitions: Int, replicationFactor: Int) throws(KafkaError) {
        try check(
            rd_kafka_mock_topic_create(pointer, name, Int32(partitions), Int32(replicationFactor)),
            "creating topic \(name) in the embedded cluster")
    }

    func setBrokerDown(_ brokerID: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_down(pointer, brokerID), "broker \(brokerID) down")
    }

    func setBrokerUp(_ brokerID: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_broker_set_up(pointer, brokerID), "broker \(brokerID) up")
    }

    /// Makes the next requests of an API fail with these codes, one per request, in order.
    func pushRequestErrors(apiKey: Int16, errors: [Int32]) {
        var codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        rd_kafka_mock_push_request_errors_array(pointer, apiKey, codes.count, &codes)
    }

    func setPartitionLeader(topic: String, partition: Int32, brokerID: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_partition_set_leader(pointer, topic, partition, brokerID), "setting leader")
    }

    func setCoordinator(keyType: String, key: String, brokerID: Int32) throws(KafkaError) {
        try check(rd_kafka_mock_coordinator_set(pointer, keyType, key, brokerID), "setting coordinator")
    }

    /// Stops the mock brokers.
    func destroy() {
        rd_kafka_mock_cluster_destroy(pointer)
    }

    private func check(_ err: rd_kafka_resp_err_t, _ context: String) throws(KafkaError) {
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError.rd(.embeddedBroker, context, err) }
    }
}
