import Kafka
import Testing

@Suite("Configuration")
struct ConfigurationTests {
    @Test func environmentMapping() {
        let configuration = KafkaConfiguration.fromEnvironment([
            "KAFKA_BOOTSTRAP_SERVERS": "b1:9092, b2:9092",
            "KAFKA_GROUP_INSTANCE_ID": "worker-0",
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "PATH": "/usr/bin",
        ])
        #expect(configuration.bootstrapServers == ["b1:9092", "b2:9092"])
        #expect(configuration.properties == ["group.instance.id": "worker-0", "security.protocol": "SASL_SSL"])
        let flag = KafkaConfiguration.fromEnvironment(["KAFKA_BOOTSTRAP_SERVERS": "b1:9092"], bootstrapServers: "x:1")
        #expect(flag.bootstrapServers == ["x:1"])
    }

    @Test func consumerRefusesSettingsThatBreakAtLeastOnce() {
        let logger = testLogger()
        for properties in [
            ["enable.auto.offset.store": "true"], ["partition.assignment.strategy": "cooperative-sticky"],
        ] {
            let configuration = KafkaConsumerConfiguration(
                kafka: KafkaConfiguration(properties: properties), groupID: "g")
            #expect(throws: KafkaError.self) { _ = try KafkaConsumer(configuration: configuration, logger: logger) }
        }
    }
}
