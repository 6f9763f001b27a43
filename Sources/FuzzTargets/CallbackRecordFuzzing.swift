import Fleet
import Foundation
import Kafka
import Payments

/// The callback-record target: a record of `payfleet.callbacks` written as text.
///
/// ```
/// key: 1217752501201407033233368018
/// payfleet-channel: wechat-v2
/// payfleet-merchant: demo-wechat-v2
/// payfleet-received-at-ms: 1764560000000
/// payfleet-http-content-type: text/xml
///
/// <xml>…</xml>
/// ```
///
/// Lines up to the first empty line are headers (`name: value`, the value's bytes taken as they
/// are; `name` alone is a header without value), except `key:`, which is the record key (no such
/// line: no key). The rest is the value; with no empty line the record is a tombstone.
///
/// Properties: nothing traps; a record that decodes is written back by ``CallbackRecord/message(topic:)``
/// to a record that decodes to the same callback; a decoded callback then goes through its
/// channel's `verifyCallback`, as in the worker.
enum CallbackRecordFuzzing {
    static func run(_ input: [UInt8]) async throws(FuzzFinding) -> FuzzOutcome {
        let target = FuzzTarget.callbackRecord
        let (key, value, headers) = parse(input)
        let record: CallbackRecord
        do throws(RequestRejection) {
            record = try CallbackRecord.decode(key: key, value: value, headers: headers)
        } catch {
            return FuzzOutcome()
        }
        let written = record.message()
        let again: CallbackRecord
        do throws(RequestRejection) {
            again = try CallbackRecord.decode(
                key: written.key.map { String(decoding: $0, as: UTF8.self) }, value: written.value,
                headers: written.headers)
        } catch {
            throw FuzzFinding(target, "a decoded record, written back, no longer decodes: \(error.detail)")
        }
        guard again == record else {
            throw FuzzFinding(target, "a decoded record, written back and decoded again, differs")
        }
        if let channel = ChannelID(rawValue: record.channel) {
            _ = try? await FuzzChannels.shared.channel(channel).verifyCallback(record.raw)
        }
        return FuzzOutcome(acceptedAsReceived: true)
    }

    static func parse(_ input: [UInt8]) -> (key: String?, value: Data?, headers: [KafkaHeader]) {
        var key: String?
        var headers: [KafkaHeader] = []
        var index = input.startIndex
        while index < input.endIndex {
            let end = input[index...].firstIndex(of: UInt8(ascii: "\n")) ?? input.endIndex
            let line = input[index..<end]
            if line.isEmpty {
                return (key, Data(input[min(end + 1, input.endIndex)...]), headers)
            }
            index = min(end + 1, input.endIndex)
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                headers.append(KafkaHeader(key: String(decoding: line, as: UTF8.self), value: nil))
                continue
            }
            let name = String(decoding: line[..<colon], as: UTF8.self)
            var valueStart = colon + 1
            if valueStart < end, input[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
            let bytes = input[valueStart..<end]
            if name == "key" {
                key = String(decoding: bytes, as: UTF8.self)
            } else {
                headers.append(KafkaHeader(key: name, value: Data(bytes)))
            }
        }
        return (key, nil, headers)
    }
}
