import ArgumentParser

@main
struct PayFleetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payfleet",
        abstract: "Kafka workers between order systems and Chinese payment vendors.",
        subcommands: [
            SandboxCommand.self, SignCommand.self, VerifyCallbackCommand.self, WorkerCommand.self, BrokerCommand.self,
            TopicsCommand.self, BenchCommand.self, IngressCommand.self, SchedulerCommand.self, DevCommand.self,
            DemoCommand.self, CheckCommand.self, OrderCommand.self, DlqCommand.self, ReconcileCommand.self,
        ]
    )
}
