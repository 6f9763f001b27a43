import ArgumentParser

/// `payfleet bench`: throughput benchmarks that print figures next to a baseline measured in the same run.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (figures and ratios against a baseline measured in the same run).",
        subcommands: [
            KafkaBenchCommand.self, KafkaProduceChildCommand.self, IngressBenchCommand.self, SchedulerBenchCommand.self,
            RestoreBenchCommand.self, SigningBenchCommand.self,
        ]
    )
}
