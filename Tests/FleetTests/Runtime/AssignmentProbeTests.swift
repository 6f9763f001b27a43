import Testing

@testable import Fleet

/// `/assignedz` (docs/operations.md): true only while the worker owns partitions and has restored
/// them all; it never gates readiness, and a stale report cannot undo a newer one.
@Suite("Runtime: the assignment probe")
struct AssignmentProbeTests {
    @Test("no assignment, then restoring, then owned; readiness is not affected")
    func assignmentLifecycle() {
        let health = HealthState()
        health.register(component: "worker")
        health.setReady("worker", true)
        #expect(!health.assigned().ok)
        #expect(health.assigned().detail.contains("no partition assigned"))

        health.setAssignment("worker", .init(partitions: [], restoring: []), sequence: 1)
        #expect(!health.assigned().ok, "a standby member owns nothing")
        #expect(health.readiness().ok, "a standby member is still ready")

        health.setAssignment("worker", .init(partitions: [0, 1, 2], restoring: [1]), sequence: 2)
        #expect(!health.assigned().ok)
        #expect(health.assigned().detail.contains("restoring partitions 1"))

        health.setAssignment("worker", .init(partitions: [0, 1, 2], restoring: []), sequence: 3)
        #expect(health.assigned().ok)
        #expect(health.assigned().detail.contains("partitions 0,1,2"))

        health.beginDraining()
        #expect(!health.assigned().ok, "shutting down")
    }

    @Test("a report taken before a newer one is ignored; stopping clears the assignment")
    func staleReportsAreIgnored() {
        let health = HealthState()
        health.setAssignment("worker", .init(partitions: [], restoring: []), sequence: 5)
        health.setAssignment("worker", .init(partitions: [3], restoring: []), sequence: 4)
        #expect(!health.assigned().ok, "the older report (owning partition 3) must not win")
        health.setAssignment("worker", .init(partitions: [3], restoring: []), sequence: 6)
        #expect(health.assigned().ok)
        health.setAssignment("worker", nil, sequence: .max)
        #expect(!health.assigned().ok)
    }
}
