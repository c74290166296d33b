extension String {
    /// The string without leading and trailing white space (Unicode `White_Space`).
    ///
    /// Foundation's `trimmingCharacters(in:)` bridges through NSString on Linux and was a
    /// quarter of the import's time; most values need no trimming, so that case is free here.
    public var trimmedWhitespace: String {
        // Most values start and end with a visible ASCII character, which their first and
        // last bytes show without decoding a scalar (decoding the last one backwards was a
        // third of this, 1% of an unchanged re-import's CPU).
        if let first = utf8.first, let last = utf8.last, first > 0x20, first < 0x80, last > 0x20, last < 0x80 {
            return self
        }
        let scalars = unicodeScalars
        guard let first = scalars.first, let last = scalars.last else { return self }
        if !first.isWhitespace && !last.isWhitespace { return self }
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end, scalars[start].isWhitespace { start = scalars.index(after: start) }
        while end > start, scalars[scalars.index(before: end)].isWhitespace { end = scalars.index(before: end) }
        return String(scalars[start..<end])
    }
}

extension Unicode.Scalar {
    /// Unicode `White_Space`, answered for ASCII without the property tables: looking them
    /// up for the first and last character of every field was a tenth of the import's time.
    public var isWhitespace: Bool {
        if value < 0x80 { return value == 0x20 || (value >= 0x09 && value <= 0x0D) }
        return properties.isWhitespace
    }
}
