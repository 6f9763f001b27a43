import Foundation
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Guards a librdkafka handle against use after destruction.
///
/// Every call that uses the handle outside the owner's poll thread brackets itself with
/// ``enter()``/``exit()``; the owner destroys the handle only after ``beginClosing()`` and once
/// ``waitUntilIdle(deadline:)`` returns. Lock-protected, hence `Sendable`.
final class ClientLifecycle: Sendable {
    enum Phase: Sendable { case running, closing, closed }

    private struct State {
        var phase: Phase = .running
        var inUse = 0
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = NIOLockedValueBox(State())
    private let name: String

    init(name: String) { self.name = name }

    var phase: Phase { state.withLockedValue { $0.phase } }
    var isRunning: Bool { phase == .running }

    /// Marks one use of the handle; throws when the client is closing or closed.
    func enter() throws(KafkaError) {
        let ok = state.withLockedValue { state -> Bool in
            guard state.phase == .running else { return false }
            state.inUse += 1
            return true
        }
        if !ok { throw KafkaError(.closed, "the Kafka \(name) is closed") }
    }

    /// Ends a use started by ``enter()``.
    func exit() {
        state.withLockedValue { $0.inUse -= 1 }
    }

    /// Runs `body` as one use of the handle.
    func using<T>(_ body: () throws(KafkaError) -> T) throws(KafkaError) -> T {
        try enter()
        defer { exit() }
        return try body()
    }

    /// Moves to `closing`; returns `false` when already closing or closed.
    @discardableResult
    func beginClosing() -> Bool {
        state.withLockedValue { state in
            guard state.phase == .running else { return false }
            state.phase = .closing
            return true
        }
    }

    /// Blocks the calling (non-cooperative) thread until no call uses the handle or the deadline passes,
    /// running `meanwhile` between checks (by default a 5 ms sleep).
    func waitUntilIdle(
        deadline: ContinuousClock.Instant, meanwhile: () -> Void = { Thread.sleep(forTimeInterval: 0.005) }
    ) {
        while state.withLockedValue({ $0.inUse }) > 0 && ContinuousClock.now < deadline {
            meanwhile()
        }
    }

    /// Marks the handle destroyed and wakes everyone awaiting ``waitUntilClosed()``.
    func markClosed() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.phase = .closed
            defer { state.closeWaiters.removeAll() }
            return state.closeWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Suspends until the handle has been destroyed, calling `requestClose` on graceful shutdown or
    /// cancellation of the calling task: the body of a client's `Service.run()`.
    func runUntilClosed(requestClose: @escaping @Sendable () -> Void) async {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await waitUntilClosed()
            } onGracefulShutdown: {
                requestClose()
            }
        } onCancel: {
            requestClose()
        }
    }

    /// Suspends until the handle has been destroyed.
    func waitUntilClosed() async {
        await withCheckedContinuation { continuation in
            let alreadyClosed = state.withLockedValue { state -> Bool in
                if state.phase == .closed { return true }
                state.closeWaiters.append(continuation)
                return false
            }
            if alreadyClosed { continuation.resume() }
        }
    }
}
