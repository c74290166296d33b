import ProvisionModel

/// Date layouts found in MIS exports, read strictly (a real calendar date or nothing).
public enum DateLayout: String, Sendable, CaseIterable {
    /// 2025-09-15 (and 2025-09-15T00:00:00 as CTF DateTime values carry)
    case iso = "yyyy-mm-dd"
    /// 15/09/2025 or 15-09-2025 or 15.09.2025 (UK order)
    case dayMonthYear = "dd/mm/yyyy"

    /// Parses `text`, or nil when it is not a real date in this layout.
    public func parse(_ text: String) -> SchoolDate? {
        let trimmed = text.trimmedWhitespace
        switch self {
        case .iso:
            return SchoolDate(iso: String(trimmed.prefix(10)))
        case .dayMonthYear:
            let parts = trimmed.split(whereSeparator: { $0 == "/" || $0 == "-" || $0 == "." }).map(String.init)
            guard parts.count == 3, let day = Int(parts[0]), let month = Int(parts[1]), let year = Int(parts[2]),
                parts[2].count == 4, (1...2).contains(parts[0].count), (1...2).contains(parts[1].count)
            else { return nil }
            return SchoolDate(year: year, month: month, day: day)
        }
    }
}
