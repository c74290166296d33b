extension String {
    /// The string followed by spaces up to `width` characters; never truncated, so a long
    /// name still reads whole (it just pushes its row's next column along).
    public func padded(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}
