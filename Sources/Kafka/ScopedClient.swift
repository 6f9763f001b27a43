/// Runs `body` with `client`, then always awaits `close(client)` — also when `body` throws or the task
/// is cancelled (the close itself is not cancellable) — and returns what `body` returned.
///
/// The shared core of ``withKafkaProducer(configuration:logger:isolation:_:)``,
/// ``withKafkaConsumer(configuration:logger:rebalanceHandler:isolation:_:)`` and
/// ``withKafkaPartitionReader(configuration:logger:idleTimeout:isolation:_:)``.
func withClosing<Client: Sendable, Result>(
    _ client: Client,
    isolation: isolated (any Actor)? = #isolation,
    close: (Client) async -> Void,
    _ body: (Client) async throws -> Result
) async throws -> Result {
    let result: Result
    do {
        result = try await body(client)
    } catch {
        await close(client)
        throw error
    }
    await close(client)
    return result
}
