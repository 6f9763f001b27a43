import Foundation
import Kafka
import Payments
import Testing

/// The channel ids the topic schemas promise upstream are exactly the channels the product has:
/// adding a channel without its schemas, or a schema enum listing a channel that does not exist,
/// fails here.
@Suite("Channel enums in the topic schemas")
struct ChannelEnumTests {
    /// Every `enum` array in a JSON Schema whose members look like channel ids, with its path.
    static func channelEnums(in value: Any, path: String, into found: inout [(String, Set<String>)]) {
        if let object = value as? [String: Any] {
            for (key, member) in object {
                if key == "channel", let schema = member as? [String: Any], let values = schema["enum"] as? [String] {
                    found.append((path + "/channel", Set(values)))
                }
                channelEnums(in: member, path: path + "/" + key, into: &found)
            }
        } else if let array = value as? [Any] {
            for (index, member) in array.enumerated() { channelEnums(in: member, path: "\(path)/\(index)", into: &found) }
        }
    }

    @Test("every `channel` enum of every topic schema equals the registered channels")
    func schemaEnumsMatchChannels() throws {
        let catalog = try TopicCatalog.builtIn()
        let channels = Set(ChannelID.allCases.map(\.rawValue))
        var checked = 0
        for topic in catalog.topics {
            let schema = try JSONSerialization.jsonObject(with: Data(topic.value.schemaJSON.utf8))
            var found: [(String, Set<String>)] = []
            Self.channelEnums(in: schema, path: topic.name, into: &found)
            for (path, values) in found {
                #expect(values == channels, "\(path): \(values.sorted()) but the channels are \(channels.sorted())")
                checked += 1
            }
        }
        // order-requests, order-state, payment-events, query-jobs and the five delay tiers carry one each.
        #expect(checked >= 9, "found \(checked) channel enums")
    }
}
