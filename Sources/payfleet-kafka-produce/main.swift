import Foundation
import Kafka
import KafkaProduceBench
import Logging

// `payfleet-kafka-produce`: the producer process of `payfleet bench kafka`, holding only the Kafka
// module (kcat, the benchmark's baseline, holds only librdkafka). Not a tool of its own: the
// benchmark runs it, and it prints the `name=seconds` line the benchmark reads.
//
//   payfleet-kafka-produce --bootstrap-servers HOST:PORT --topic T [--messages N] [--value-size B] [--send-window W]
//
// KAFKA_* variables pass librdkafka properties, as for every PayFleet process.

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("payfleet-kafka-produce: \(message)\n".utf8))
    exit(64)
}

/// The run the arguments describe.
func parse(_ arguments: [String]) -> ProduceRun {
    var options: [String: String] = [:]
    var remaining = arguments[...]
    while let name = remaining.popFirst() {
        guard ["--bootstrap-servers", "--topic", "--messages", "--value-size", "--send-window"].contains(name) else {
            fail("unknown argument \(name)")
        }
        guard let value = remaining.popFirst() else { fail("\(name) needs a value") }
        options[name] = value
    }
    func positive(_ name: String) -> Int? {
        guard let text = options[name] else { return nil }
        guard let number = Int(text), number > 0 else { fail("\(name) must be a positive number") }
        return number
    }
    let kafka = KafkaConfiguration.fromEnvironment(bootstrapServers: options["--bootstrap-servers"])
    guard !kafka.bootstrapServers.isEmpty else { fail("no Kafka bootstrap servers: set --bootstrap-servers") }
    guard let topic = options["--topic"] else { fail("--topic is required") }
    return ProduceRun(
        kafka: kafka, topic: topic, messages: positive("--messages") ?? 100_000,
        valueSize: positive("--value-size") ?? 200, sendWindow: positive("--send-window"))
}

let run = parse(Array(CommandLine.arguments.dropFirst()))
var logger = Logger(label: "payfleet.bench") { StreamLogHandler.standardError(label: $0) }
logger.logLevel = .warning
do {
    print(try await run.run(logger: logger).line)
} catch {
    fail("\(error)")
}
