import Testing

@testable import Fleet

@Suite("Scheduler settings from the environment")
struct SchedulerSettingsTests {
    @Test("the wake interval defaults to 20 ms and reads PAYFLEET_SCHEDULER_WAKE_INTERVAL")
    func wakeInterval() throws {
        #expect(try SchedulerSettings(environment: [:]).wakeInterval == .milliseconds(20))
        #expect(
            try SchedulerSettings(environment: ["PAYFLEET_SCHEDULER_WAKE_INTERVAL": "35ms"]).wakeInterval
                == .milliseconds(35))
        #expect(
            try SchedulerSettings(environment: ["PAYFLEET_SCHEDULER_WAKE_INTERVAL": "1s"]).wakeInterval == .seconds(1))
        let group = try SchedulerSettings(environment: ["PAYFLEET_SCHEDULER_GROUP_ID": "timers"]).groupID
        #expect(group == "timers")
    }

    @Test("a wake interval that is not a duration, zero or above one second is refused, naming the variable")
    func badWakeInterval() {
        for value in ["fast", "0ms", "2s", "-5ms"] {
            #expect {
                try SchedulerSettings(environment: ["PAYFLEET_SCHEDULER_WAKE_INTERVAL": value])
            } throws: { error in
                (error as? ConfigurationError)?.setting == "PAYFLEET_SCHEDULER_WAKE_INTERVAL"
            }
        }
    }
}
