extension Duration {
    /// The duration in seconds, as a Double (for printing and for arithmetic on waits).
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
