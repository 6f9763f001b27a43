import Testing

@testable import Fleet

@Suite("Scheduler planning rules")
struct SchedulerPlannerTests {
    let planner = TimerPlanner()
    let now: Int64 = 1_800_000_000_000

    func tier(_ name: String) -> DelayTier {
        DelayTier.all.first { $0.name == name }!
    }

    @Test("due or overdue jobs are emitted")
    func emitsDue() {
        #expect(
            planner.decide(
                tier: tier("5s"), recordTimestampMilliseconds: now - 5000, dueAtMilliseconds: now, nowMilliseconds: now)
                == .emit)
        #expect(
            planner.decide(
                tier: tier("4h"), recordTimestampMilliseconds: now, dueAtMilliseconds: now - 60_000,
                nowMilliseconds: now) == .emit)
    }

    @Test("short remainders are held in memory until due, in any tier")
    func holdsShortRemainders() {
        #expect(
            planner.decide(
                tier: tier("5s"), recordTimestampMilliseconds: now, dueAtMilliseconds: now + 4999, nowMilliseconds: now)
                == .hold(untilMilliseconds: now + 4999))
        #expect(
            planner.decide(
                tier: tier("30s"), recordTimestampMilliseconds: now - 30_000, dueAtMilliseconds: now + 5000,
                nowMilliseconds: now)
                == .hold(untilMilliseconds: now + 5000))
        // A job shorter than every tier sits in the 5 s tier and is never held back to the tier's delay.
        #expect(
            planner.decide(
                tier: tier("5s"), recordTimestampMilliseconds: now, dueAtMilliseconds: now + 1, nowMilliseconds: now)
                == .hold(untilMilliseconds: now + 1))
    }

    @Test("the smallest tier is never paused: everything a writer puts there is held in memory")
    func smallestTierHoldsEverything() {
        // Written now into the 5 s tier, due in 29 s (less than the 30 s tier): held, not paused on.
        // Were it paused until +4 s, a 100 ms job written behind it would be emitted ~4 s late.
        #expect(
            planner.decide(
                tier: tier("5s"), recordTimestampMilliseconds: now, dueAtMilliseconds: now + 29_000,
                nowMilliseconds: now)
                == .hold(untilMilliseconds: now + 29_000))
        #expect(planner.holdHorizon(in: tier("5s")) == .seconds(30))
        #expect(planner.holdHorizon(in: tier("30s")) == .seconds(5))
        // A record misfiled into the smallest tier (due beyond the next tier) still waits for its wake time.
        #expect(
            planner.decide(
                tier: tier("5s"), recordTimestampMilliseconds: now, dueAtMilliseconds: now + 60_000,
                nowMilliseconds: now)
                == .wait(untilMilliseconds: now + 4_000))
    }

    @Test("a record not awake in its tier pauses the partition until shortly before its wake time")
    func waitsForWake() {
        // Written now into the 30 s tier, due in 45 s: wakes at +30 s, resumed 1 s earlier.
        #expect(
            planner.decide(
                tier: tier("30s"), recordTimestampMilliseconds: now, dueAtMilliseconds: now + 45_000,
                nowMilliseconds: now)
                == .wait(untilMilliseconds: now + 29_000))
        // The wake time never passes the due time, even with a record timestamp from a clock running ahead.
        #expect(
            planner.decide(
                tier: tier("5m"), recordTimestampMilliseconds: now + 3_600_000, dueAtMilliseconds: now + 400_000,
                nowMilliseconds: now)
                == .wait(untilMilliseconds: now + 399_000))
    }

    @Test("an awake record hops to the largest tier not longer than the time left")
    func hopsDown() {
        // Written 30 s ago into the 30 s tier, due in 100 s: goes to the 30 s tier again.
        #expect(
            planner.decide(
                tier: tier("30s"), recordTimestampMilliseconds: now - 30_000, dueAtMilliseconds: now + 100_000,
                nowMilliseconds: now)
                == .hop(to: tier("30s")))
        // Written 4 h ago, due in 3 h 59 m: 30 min tier.
        #expect(
            planner.decide(
                tier: tier("4h"), recordTimestampMilliseconds: now - 14_400_000, dueAtMilliseconds: now + 14_340_000,
                nowMilliseconds: now)
                == .hop(to: tier("30m")))
        // Within the resume lead of its wake time: already handled as awake (hop uses the real time left).
        #expect(
            planner.decide(
                tier: tier("5m"), recordTimestampMilliseconds: now - 299_500, dueAtMilliseconds: now + 200_000,
                nowMilliseconds: now)
                == .hop(to: tier("30s")))
    }

    @Test("a hop never makes a job late: following the decisions reaches the due time exactly")
    func simulatedChainIsNeverLate() {
        // Simulate a job through the tiers with the scheduler acting exactly at each decision time.
        for dueOffset: Int64 in [1, 4_999, 5_001, 29_999, 30_000, 31_000, 299_000, 1_800_001, 14_400_000, 20_000_000] {
            let due = now + dueOffset
            var clock = now
            var current = DelayTier.forRemaining(.milliseconds(dueOffset))
            var written = clock
            var steps = 0
            var emittedAt: Int64?
            while emittedAt == nil, steps < 100 {
                steps += 1
                switch planner.decide(
                    tier: current, recordTimestampMilliseconds: written, dueAtMilliseconds: due, nowMilliseconds: clock)
                {
                case .emit: emittedAt = clock
                case .hold(let until): clock = until
                case .wait(let until):
                    #expect(until > clock)
                    clock = until
                case .hop(let next):
                    #expect(next.delay.wholeMilliseconds <= due - clock)
                    current = next
                    written = clock
                }
            }
            #expect(
                emittedAt == due,
                "job due at +\(dueOffset) ms emitted at \(String(describing: emittedAt.map { $0 - now }))")
            #expect(steps < 40)
        }
    }

    @Test("tier choice for writers and hops")
    func tierChoice() {
        #expect(planner.tier(forRemaining: .milliseconds(10)) == tier("5s"))
        #expect(planner.tier(forRemaining: .seconds(5)) == tier("5s"))
        #expect(planner.tier(forRemaining: .seconds(29)) == tier("5s"))
        #expect(planner.tier(forRemaining: .seconds(30)) == tier("30s"))
        #expect(planner.tier(forRemaining: .seconds(3600)) == tier("30m"))
        #expect(planner.tier(forRemaining: .seconds(86_400)) == tier("4h"))
        #expect(planner.tier(topic: "payfleet.delay.5m") == tier("5m"))
        #expect(planner.tier(topic: "payfleet.delay.7s") == nil)
    }

    @Test("custom tiers and horizon")
    func customTiers() {
        let custom = TimerPlanner(
            tiers: [DelayTier(name: "2s", delay: .seconds(2)), DelayTier(name: "1s", delay: .seconds(1))],
            holdHorizon: .milliseconds(10), resumeLead: .milliseconds(100))
        #expect(custom.tiers.map(\.name) == ["1s", "2s"])
        #expect(custom.holdHorizon == .seconds(1))  // never below the smallest tier
        #expect(
            custom.decide(
                tier: custom.tiers[1], recordTimestampMilliseconds: now, dueAtMilliseconds: now + 3000,
                nowMilliseconds: now)
                == .wait(untilMilliseconds: now + 1900))
        #expect(
            custom.decide(
                tier: custom.tiers[0], recordTimestampMilliseconds: now, dueAtMilliseconds: now + 1999,
                nowMilliseconds: now)
                == .hold(untilMilliseconds: now + 1999))
    }
}
