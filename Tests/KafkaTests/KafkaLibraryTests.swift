import Kafka
import Testing

@Test func linkedLibrdkafkaIsAtLeastTheTestedVersion() {
    #expect(KafkaLibrary.version >= KafkaLibrary.minimumVersion, "librdkafka \(KafkaLibrary.versionString)")
}
