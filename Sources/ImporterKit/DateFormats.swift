import ProvisionModel

/// Date layouts found in MIS exports, read strictly (a real calendar date or nothing).
public enum DateLayout: String, Sendable, CaseIterable {
    /// 2025-09-15 (and 2025-09-15T00:00:00 as CTF DateTime values carry)
    case iso = "yyyy-mm-dd"
    /// 15/09/2025 or 15-09-2025 or 15.09.2025 (UK order); also as Excel writes dates
    /// formatted otherwise: a month's name (15-Sep-25, 15 September 2025) and a two-digit
    /// year (15/09/25), read as Excel reads one: 00–29 are 2000–2029, 30–99 are 1930–1999;
    /// a time of day after it (15/09/2025 00:00) is left aside.
    case dayMonthYear = "dd/mm/yyyy"

    /// Parses `text`, or nil when it is not a real date in this layout.
    public func parse(_ text: String) -> SchoolDate? {
        let trimmed = text.trimmedWhitespace
        switch self {
        case .iso:
            return SchoolDate(iso: String(trimmed.prefix(10)))
        case .dayMonthYear:
            var parts = trimmed.split(whereSeparator: { $0 == "/" || $0 == "-" || $0 == "." || $0 == " " }).map(String.init)
            // A time of day after the date, as a date-and-time column is exported: 15/09/2025 00:00.
            if parts.count == 4, let time = parts.last, Self.isTimeOfDay(time) { parts.removeLast() }
            guard parts.count == 3, let day = Int(parts[0]), (1...2).contains(parts[0].count),
                let month = Int(parts[1]).flatMap({ parts[1].count <= 2 ? $0 : nil }) ?? Self.month(named: parts[1]),
                let year = Int(parts[2]), parts[2].count == 4 || parts[2].count == 2
            else { return nil }
            return SchoolDate(year: parts[2].count == 2 ? (year < 30 ? 2000 : 1900) + year : year, month: month, day: day)
        }
    }

    /// Parses `text` in this layout or, when it is written with a four-digit year, in the
    /// other: 2025-09-15 and 15/09/2025 cannot be misread either way, and a file opened and
    /// saved again in Excel has its dates rewritten in the computer's own layout.
    public func parseEitherWay(_ text: String) -> SchoolDate? {
        if let date = parse(text) { return date }
        switch self {
        case .iso:
            let parts = text.trimmedWhitespace.split(whereSeparator: { $0 == "/" || $0 == "-" || $0 == "." })
            guard parts.count == 3, parts[2].count == 4 else { return nil }
            return DateLayout.dayMonthYear.parse(text)
        case .dayMonthYear:
            // The ISO layout's year always has four digits.
            return DateLayout.iso.parse(text)
        }
    }

    /// "9:05", "09:05" or "09:05:00": hours and minutes (and seconds) of a day.
    private static func isTimeOfDay(_ text: String) -> Bool {
        let fields = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (2...3).contains(fields.count), fields.allSatisfy({ (1...2).contains($0.count) && $0.allSatisfy { ("0"..."9").contains($0) } }),
            let hours = Int(fields[0]), hours < 24
        else { return false }
        return fields.dropFirst().allSatisfy { $0.count == 2 && (Int($0) ?? 60) < 60 }
    }

    private static let monthNames = [
        "january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december",
    ]

    /// 1–12 for an English month's name or its first three letters or more ("Sep", "Sept").
    static func month(named text: String) -> Int? {
        let name = text.lowercased()
        guard name.count >= 3, let index = monthNames.firstIndex(where: { $0.hasPrefix(name) }) else { return nil }
        return index + 1
    }
}
