/// Checks `condition` every `interval` until it holds or `seconds` pass, then once more:
/// whether it held. For what another process or connection does in its own time; the test
/// waits for the thing itself, never for a sleep standing in for it.
public func eventually(
    seconds: Double = 120, every interval: Duration = .milliseconds(100), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}
