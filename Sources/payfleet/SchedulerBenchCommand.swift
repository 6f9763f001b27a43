import ArgumentParser
import Fleet
import FleetDev
import Foundation
import Kafka
import Logging

/// `payfleet bench scheduler`: lateness, CPU per job and memory per held timer of a `payfleet
/// scheduler` process fed a burst of timer jobs, on `payfleet broker`.
struct SchedulerBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler",
        abstract: "Lateness, CPU per job and RSS per held timer of a scheduler process (embedded broker).",
        discussion: """
            Starts `payfleet broker` and `payfleet scheduler` as child processes (the scheduler from \
            --scheduler-binary if given, to compare two builds side by side), waits until the scheduler \
            forwards a warm-up job (it then owns its partitions), writes --jobs timer jobs the way the \
            worker does (payfleet-due-at-ms header, tier chosen by the time left) with due times spread \
            uniformly over the next --within seconds, and reads payfleet.query-jobs once they are due. \
            Prints lateness (query-jobs record time − due time) p50/p99/p999/max, of all jobs and of \
            those due after the last one was written (the others are late by the write), the scheduler's CPU \
            time per job and its peak RSS above its idle RSS per job (every job is held in memory at the \
            peak: the smallest tier holds everything due within 30 s).
            """
    )

    @Option(help: "Timer jobs to write.")
    var jobs: Int = 100_000

    @Option(help: "Due times are spread over this many seconds from the start of the writing (at least 3).")
    var within: Int = 25

    @Option(help: "The payfleet binary that runs the scheduler (default: this one).")
    var schedulerBinary: String?

    func run() async throws {
        guard jobs > 0, within >= 3 else { throw ValidationError("--jobs must be > 0 and --within >= 3") }
        var logger = KafkaCLI.logger("payfleet.bench")
        logger.logLevel = .warning
        let processes = try BenchProcesses()
        defer { processes.stop() }
        let servers = try await processes.startBroker()
        let kafka = KafkaConfiguration(bootstrapServers: KafkaConfiguration.splitServers(servers))
        let binary = schedulerBinary.map { URL(fileURLWithPath: $0) } ?? BenchProcesses.ownBinary
        let scheduler = try processes.spawn(
            ["scheduler"], binary: binary,
            environment: [
                "KAFKA_BOOTSTRAP_SERVERS": servers,
                "PAYFLEET_HTTP_HOST": "127.0.0.1",
                "PAYFLEET_HTTP_PORT": "\(try LocalPort.free())",
                "PAYFLEET_LOG_LEVEL": ProcessInfo.processInfo.environment["PAYFLEET_LOG_LEVEL"] ?? "warning",
            ], log: "scheduler.log")
        print(
            "broker \(servers), scheduler \(binary.path) (pid \(scheduler.processIdentifier)), \(jobs) jobs due within \(within) s"
        )

        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(kafka: kafka), logger: logger)
        let run = String(UInt32(Date().timeIntervalSince1970) % 1_000_000)
        // Warm-up: a job due now, forwarded once the scheduler owns the tier partitions.
        let warmUp = Self.job(outTradeNo: "SW\(run)", due: Date())
        try await producer.sendAll([warmUp.message(now: Date())])
        var joined = false
        for _ in 0..<240 where !joined {
            guard scheduler.isRunning else {
                throw ValidationError("the scheduler exited: see \(processes.directory.path)/scheduler.log")
            }
            let records = try await TopicSnapshot.read(topics: [FleetTopic.queryJobs], kafka: kafka, logger: logger)
            joined = (records[FleetTopic.queryJobs] ?? []).contains { $0.keyString == warmUp.outTradeNo }
            if !joined { try await Task.sleep(for: .milliseconds(500)) }
        }
        guard joined else { throw ValidationError("the scheduler forwarded no warm-up job within 120 s") }
        let pid = scheduler.processIdentifier
        try await Task.sleep(for: .seconds(1))
        guard let idleCPU = BenchProcesses.cpuSeconds(pid), let idleRSS = BenchProcesses.residentBytes(pid) else {
            throw ValidationError("cannot read /proc/\(pid)")
        }

        let start = Date()
        var generator = SystemRandomNumberGenerator()
        let spreadMilliseconds = Int64(within - 1) * 1000
        let messages = (0..<jobs).map { index in
            let due = start.addingTimeInterval(
                Double(1000 + Int64.random(in: 0..<spreadMilliseconds, using: &generator)) / 1000)
            return Self.job(outTradeNo: "SB\(run)-\(index)", due: due).message(now: start)
        }
        try await producer.sendAll(messages)
        let written = Date().timeIntervalSince(start)
        await producer.close(timeout: .seconds(10))

        // Sample the scheduler's memory until every job is due, plus a margin for the last forwards.
        var peakRSS = idleRSS
        let end = start.addingTimeInterval(Double(within) + 3)
        while Date() < end {
            guard scheduler.isRunning else {
                throw ValidationError("the scheduler exited: see \(processes.directory.path)/scheduler.log")
            }
            peakRSS = max(peakRSS, BenchProcesses.residentBytes(pid) ?? 0)
            try await Task.sleep(for: .milliseconds(100))
        }
        let usedCPU = (BenchProcesses.cpuSeconds(pid) ?? idleCPU) - idleCPU

        let records = try await TopicSnapshot.read(topics: [FleetTopic.queryJobs], kafka: kafka, logger: logger)
        // Jobs due before the last one was written are late by the write, whatever the scheduler
        // does; the lateness of the others is the scheduler's own.
        let writtenMilliseconds = Int64((start.addingTimeInterval(written).timeIntervalSince1970 * 1000).rounded(.up))
        var lateness: [Int64] = []
        var latenessAfterWrite: [Int64] = []
        lateness.reserveCapacity(jobs)
        for record in records[FleetTopic.queryJobs] ?? [] where record.keyString?.hasPrefix("SB\(run)-") == true {
            guard let due = TimerJob.dueAtMilliseconds(headers: record.headers), let time = record.timestamp else {
                continue
            }
            let late = Int64((time.timeIntervalSince1970 * 1000).rounded()) - due
            lateness.append(late)
            if due > writtenMilliseconds { latenessAfterWrite.append(late) }
        }
        func quantiles(_ values: [Int64]) -> String {
            let sorted = values.sorted()
            func quantile(_ q: Double) -> String {
                guard !sorted.isEmpty else { return "-" }
                return "\(sorted[min(sorted.count - 1, max(0, Int((Double(sorted.count) * q).rounded(.up)) - 1))]) ms"
            }
            return "p50 \(quantile(0.5)) p99 \(quantile(0.99)) p999 \(quantile(0.999)) max \(quantile(1))"
        }
        print("written in \(String(format: "%.2f", written)) s; forwarded \(lateness.count)/\(jobs)")
        print("lateness: \(quantiles(lateness))")
        print(
            "lateness of the \(latenessAfterWrite.count) jobs due after all were written: \(quantiles(latenessAfterWrite))"
        )
        print(String(format: "scheduler CPU: %.2f s = %.1f µs per job", usedCPU, usedCPU / Double(jobs) * 1e6))
        print(
            "scheduler RSS: idle \(idleRSS / 1_048_576) MB, peak \(peakRSS / 1_048_576) MB = \((peakRSS - idleRSS) / jobs) bytes per held job"
        )
        if lateness.count < jobs { throw ExitCode(1) }
    }

    static func job(outTradeNo: String, due: Date) -> TimerJob {
        TimerJob(
            job: .query, outTradeNo: outTradeNo, merchant: "bench-merchant", channel: "storepos", dueAt: due,
            reason: .pending, attempt: 1)
    }
}
