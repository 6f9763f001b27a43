import Foundation
import Kafka
import Testing

@testable import Fleet

@Suite("Invariant checker: records on the wrong partition")
struct InvariantCheckerPartitionTests {
    static let partitions = 12

    static func owner(_ key: String) -> Int32 {
        KafkaPartitioner.partition(forKey: key, partitionCount: partitions)
    }

    /// A partition that does not own `key`.
    static func wrong(_ key: String) -> Int32 { (owner(key) + 1) % Int32(partitions) }

    static func request(
        _ key: String, partition: Int32, offset: Int64, headers: [KafkaHeader] = []
    ) -> KafkaConsumerMessage {
        KafkaConsumerMessage(
            topic: FleetTopic.orderRequests, partition: partition, offset: offset, key: Data(key.utf8),
            value: Data("{\"action\":\"create\",\"out_trade_no\":\"\(key)\"}".utf8), headers: headers)
    }

    @Test(
        "a record on a partition that does not own its key is reported; unforwarded it is a violation of a settled system"
    )
    func unforwarded() throws {
        let misplaced = Self.request("K-1", partition: Self.wrong("K-1"), offset: 7)
        let settled = InvariantChecker(requireTerminal: true).check(
            requests: [misplaced], events: [], callbacks: [],
            partitionCounts: [FleetTopic.orderRequests: Self.partitions])
        let item = try #require(settled.misplaced.first)
        #expect(settled.misplaced.count == 1)
        #expect(item.owner == Self.owner("K-1") && item.partition == Self.wrong("K-1") && item.offset == 7)
        #expect(!item.forwarded)
        #expect(settled.violations.map(\.kind).contains(.misPartitioned))

        let live = InvariantChecker(requireTerminal: false).check(
            requests: [misplaced], events: [], callbacks: [],
            partitionCounts: [FleetTopic.orderRequests: Self.partitions])
        #expect(live.misplaced.count == 1)
        #expect(!live.violations.map(\.kind).contains(.misPartitioned), "a live system may not have forwarded it yet")
    }

    @Test("a forwarded record (a copy on the owner names it in payfleet-rerouted-from) is reported, not a violation")
    func forwarded() throws {
        let misplaced = Self.request("K-2", partition: Self.wrong("K-2"), offset: 3)
        let copy = Self.request(
            "K-2", partition: Self.owner("K-2"), offset: 11,
            headers: [
                KafkaHeader(
                    key: PartitionOwnership.reroutedFromHeader, string: PartitionOwnership.origin(of: misplaced))
            ])
        let report = InvariantChecker(requireTerminal: true).check(
            requests: [misplaced, copy], events: [], callbacks: [],
            partitionCounts: [FleetTopic.orderRequests: Self.partitions])
        #expect(report.misplaced.count == 1)
        #expect(report.misplaced.first?.forwarded == true)
        #expect(!report.violations.map(\.kind).contains(.misPartitioned))
    }

    @Test(
        "records where they belong, and keyless records, are not reported; without partition counts nothing is checked")
    func placedRecords() {
        let placed = Self.request("K-3", partition: Self.owner("K-3"), offset: 1)
        let keyless = KafkaConsumerMessage(
            topic: FleetTopic.orderRequests, partition: 5, offset: 2, key: nil, value: Data("{}".utf8))
        let report = InvariantChecker(requireTerminal: true).check(
            requests: [placed, keyless], events: [], callbacks: [],
            partitionCounts: [FleetTopic.orderRequests: Self.partitions])
        #expect(report.misplaced.isEmpty)
        let unchecked = InvariantChecker(requireTerminal: true).check(
            requests: [Self.request("K-4", partition: Self.wrong("K-4"), offset: 1)], events: [], callbacks: [])
        #expect(unchecked.misplaced.isEmpty)
    }

    @Test("the forwarded record is a faithful copy: key, value, headers and timestamp, plus the origin")
    func forwardedCopy() throws {
        let original = KafkaConsumerMessage(
            topic: FleetTopic.callbacks, partition: Self.wrong("K-5"), offset: 42, key: Data("K-5".utf8),
            value: Data("body".utf8),
            headers: [KafkaHeader(key: "client.id", string: "rdkafka-upstream"), KafkaHeader(key: "x", string: "1")],
            timestamp: Date(timeIntervalSince1970: 1_700_000_000))
        let ownership = PartitionOwnership(partitionCount: Self.partitions)
        let owner = try #require(ownership.misplacement(of: original))
        #expect(owner == Self.owner("K-5"))
        let copy = PartitionOwnership.forwarded(original, to: owner)
        #expect(copy.topic == FleetTopic.callbacks && copy.partition == owner)
        #expect(copy.key == original.key && copy.value == original.value && copy.timestamp == original.timestamp)
        #expect(copy.headers.prefix(2).map(\.key) == ["client.id", "x"])
        #expect(
            copy.headers.last
                == KafkaHeader(
                    key: PartitionOwnership.reroutedFromHeader, string: "payfleet.callbacks/\(original.partition)/42"))
        #expect(PartitionOwnership.producerName(of: original) == "rdkafka-upstream")
        #expect(
            ownership.misplacement(
                of: KafkaConsumerMessage(
                    topic: FleetTopic.callbacks, partition: owner, offset: 1, key: Data("K-5".utf8), value: nil)) == nil
        )
    }
}
