import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

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

    /// Runs the command with SwiftNIO's event loops (the threads of the HTTP clients and servers) as
    /// Swift Concurrency's global executor, unless `PAYFLEET_NIO_EXECUTOR=false`. A task that awaits
    /// an HTTP answer then resumes on the event loop that read it instead of handing over to another
    /// pool of threads: about two thread switches fewer per vendor call and per callback.
    static func main() async {
        if ProcessInfo.processInfo.environment["PAYFLEET_NIO_EXECUTOR"] != "false" {
            NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        }
        await main(nil)
    }
}
