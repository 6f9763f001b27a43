import ArgumentParser
import Fleet
import Foundation
import Kafka

/// `payfleet scheduler`: delayed delivery of timer jobs over the `payfleet.delay.<tier>` topics.
struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler",
        abstract: "Forward timer jobs from payfleet.delay.<tier> to payfleet.query-jobs when they are due.",
        discussion: """
            Each tier partition is paused until its head is due, then the job is forwarded (same key, value and \
            headers) or hopped to a smaller tier, and the offset is committed after the broker acknowledged. \
            It also counts payfleet.reconciliation.completed results on payfleet.payment-events (group \
            <group>-reconciliation) into the reconciliation metrics. Environment: KAFKA_BOOTSTRAP_SERVERS and \
            KAFKA_*, PAYFLEET_SCHEDULER_GROUP_ID (default payfleet-scheduler), PAYFLEET_SCHEDULER_WAKE_INTERVAL \
            (default 20ms: due timers are forwarded at most this often), PAYFLEET_HTTP_HOST/PORT, \
            PAYFLEET_LOG_LEVEL/FORMAT.
            """
    )

    @OptionGroup var kafkaOptions: KafkaOptions

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let logger = try RoleStartup.begin(role: "scheduler", logging: try LoggingSettings(environment: environment))
        // The scheduler's memory is the timers it holds: librdkafka's fetch buffers of a burst are
        // unmapped when freed instead of staying resident (see `Allocator`).
        let mapped = Allocator.mapAllocations(atLeast: DelayScheduler.allocatorMappingThreshold)
        logger.debug(
            "allocator mapping threshold",
            metadata: ["threshold": "\(mapped ? "\(DelayScheduler.allocatorMappingThreshold) bytes" : "unchanged")"])
        var kafka = try kafkaOptions.configuration(environment)
        kafka.clientID = "payfleet"
        let health = HealthState()
        let settings = try SchedulerSettings(environment: environment)
        let scheduler = DelayScheduler(kafka: kafka, settings: settings, health: health, logger: logger)
        // Counts payfleet.reconciliation.completed results for the reconciliation alert.
        let reconciliation = ReconciliationWatcher(
            kafka: kafka, groupID: settings.groupID + "-reconciliation", logger: logger)
        let http = RuntimeHTTPServer(
            settings: try HTTPSettings(environment: environment), health: health, logger: logger)
        try await RoleRunner(http: http, services: [scheduler, reconciliation], health: health, logger: logger).run()
    }
}
