extension String {
    /// The string without leading and trailing white space (Unicode `White_Space`).
    ///
    /// Foundation's `trimmingCharacters(in:)` bridges through NSString on Linux and was a
    /// quarter of the import's time; most values need no trimming, so that case is free here.
    public var trimmedWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.first, let last = scalars.last else { return self }
        if !first.properties.isWhitespace && !last.properties.isWhitespace { return self }
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end, scalars[start].properties.isWhitespace { start = scalars.index(after: start) }
        while end > start, scalars[scalars.index(before: end)].properties.isWhitespace { end = scalars.index(before: end) }
        return String(scalars[start..<end])
    }
}
