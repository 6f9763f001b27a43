import CRdKafka

extension RDKafkaClient {
    /// Creates topics (blocking). Returns, per topic name, `nil` on success or the topic's error.
    ///
    /// - Throws: when the request as a whole failed (e.g. no controller; the 2.0.2 mock cluster has none).
    func createTopics(_ topics: [KafkaNewTopic], timeout: Duration) throws(KafkaError) -> [String: KafkaError?] {
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for topic in topics {
            var errstr = [CChar](repeating: 0, count: 512)
            guard
                let newTopic = rd_kafka_NewTopic_new(
                    topic.name, Int32(topic.partitions), Int32(topic.replicationFactor), &errstr, errstr.count)
            else {
                throw KafkaError(.admin, "invalid topic \(topic.name): \(String(cStringBuffer: errstr))")
            }
            newTopics.append(newTopic)
            for (name, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
                let err = rd_kafka_NewTopic_set_config(newTopic, name, value)
                guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw KafkaError.rd(.admin, "topic \(topic.name) config \(name)", err)
                }
            }
        }
        return try adminRequest(
            RD_KAFKA_ADMIN_OP_CREATETOPICS, "CreateTopics", timeout: timeout,
            issue: { options, queue in rd_kafka_CreateTopics(handle, &newTopics, newTopics.count, options, queue) },
            result: { rd_kafka_event_CreateTopics_result($0) },
            elements: { rd_kafka_CreateTopics_result_topics($0, $1) }
        ) { topicResults throws(KafkaError) in
            var outcome: [String: KafkaError?] = [:]
            for topicResult in topicResults {
                let name = String(cString: rd_kafka_topic_result_name(topicResult))
                let err = rd_kafka_topic_result_error(topicResult)
                if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    outcome[name] = .some(nil)
                } else {
                    let text = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? ""
                    outcome[name] = KafkaError(
                        .admin, "creating topic \(name): \(text)", rdKafkaErrorCode: err.rawValue)
                }
            }
            return outcome
        }
    }

    /// Non-default, non-sensitive configs of topics (DescribeConfigs, blocking).
    func describeTopicConfigs(_ names: [String], timeout: Duration) throws(KafkaError) -> [String: [String: String]] {
        var resources: [OpaquePointer?] = names.map { rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, $0) }
        defer { for resource in resources { rd_kafka_ConfigResource_destroy(resource) } }
        return try adminRequest(
            RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, "DescribeConfigs", timeout: timeout,
            issue: { options, queue in rd_kafka_DescribeConfigs(handle, &resources, resources.count, options, queue) },
            result: { rd_kafka_event_DescribeConfigs_result($0) },
            elements: { rd_kafka_DescribeConfigs_result_resources($0, $1) }
        ) { described throws(KafkaError) in
            var output: [String: [String: String]] = [:]
            for resource in described {
                let name = String(cString: rd_kafka_ConfigResource_name(resource))
                let err = rd_kafka_ConfigResource_error(resource)
                guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    let text = rd_kafka_ConfigResource_error_string(resource).map { String(cString: $0) } ?? ""
                    throw KafkaError(.admin, "describing configs of \(name): \(text)", rdKafkaErrorCode: err.rawValue)
                }
                var entryCount = 0
                var values: [String: String] = [:]
                if let entries = rd_kafka_ConfigResource_configs(resource, &entryCount) {
                    for e in 0..<entryCount {
                        guard let entry = entries[e], rd_kafka_ConfigEntry_is_default(entry) == 0 else { continue }
                        let key = String(cString: rd_kafka_ConfigEntry_name(entry))
                        if rd_kafka_ConfigEntry_is_sensitive(entry) != 0 { continue }
                        values[key] = rd_kafka_ConfigEntry_value(entry).map { String(cString: $0) } ?? ""
                    }
                }
                output[name] = values
            }
            return output
        }
    }

    /// Issues an admin request on a temporary queue and waits (blocking) for its result event. `result`
    /// picks the typed result out of the event and `elements` its per-item array; `read` turns the
    /// items into Swift values before the event is destroyed.
    private func adminRequest<T>(
        _ operation: rd_kafka_admin_op_t, _ name: String, timeout: Duration,
        issue: (OpaquePointer?, OpaquePointer?) -> Void,
        result: (OpaquePointer) -> OpaquePointer?,
        elements: (OpaquePointer, UnsafeMutablePointer<Int>) -> UnsafeMutablePointer<OpaquePointer?>?,
        read: ([OpaquePointer]) throws(KafkaError) -> T
    ) throws(KafkaError) -> T {
        guard let options = rd_kafka_AdminOptions_new(handle, operation) else {
            throw KafkaError(.admin, "rd_kafka_AdminOptions_new failed")
        }
        defer { rd_kafka_AdminOptions_destroy(options) }
        var errstr = [CChar](repeating: 0, count: 512)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, timeout.clampedMilliseconds, &errstr, errstr.count)
        if operation == RD_KAFKA_ADMIN_OP_CREATETOPICS {
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeout.clampedMilliseconds, &errstr, errstr.count)
        }
        guard let queue = rd_kafka_queue_new(handle) else { throw KafkaError(.admin, "rd_kafka_queue_new failed") }
        defer { rd_kafka_queue_destroy(queue) }
        issue(options, queue)
        guard let event = rd_kafka_queue_poll(queue, timeout.clampedMilliseconds + 5000) else {
            throw KafkaError(.timedOut, "admin request timed out")
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
            throw KafkaError(.admin, "admin request failed: \(text)", rdKafkaErrorCode: err.rawValue)
        }
        guard let typed = result(event) else { throw KafkaError(.admin, "\(name) returned no result") }
        var count = 0
        guard let array = elements(typed, &count) else { return try read([]) }
        return try read((0..<count).compactMap { array[$0] })
    }
}
