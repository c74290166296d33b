import ProvisionModel

/// A school term, as reports name it: `2026-autumn`, `2027-spring`, `2027-summer`.
///
/// Terms vary by school and local authority, so reports use fixed boundaries that contain
/// every English school's term: autumn 1 September – 31 December, spring 1 January –
/// 31 March, summer 1 April – 31 August. A provision counts in a term when its dates
/// overlap these; hours and costs count only the weeks inside them.
public struct ReportTerm: Sendable, Equatable, CustomStringConvertible {
    /// The three terms of an English school year.
    public enum Season: String, Sendable, CaseIterable {
        case autumn, spring, summer
    }

    /// The calendar year the term falls in.
    public let year: Int
    /// Autumn, spring or summer.
    public let season: Season

    /// The `season` term of `year`.
    public init(year: Int, season: Season) {
        self.year = year
        self.season = season
    }

    /// Parses `YYYY-season`; nil for anything else.
    public init?(_ text: String) {
        let parts = text.lowercased().split(separator: "-")
        guard parts.count == 2, parts[0].count == 4, let year = Int(parts[0]), (2000...2100).contains(year),
            let season = Season(rawValue: String(parts[1]))
        else { return nil }
        self.init(year: year, season: season)
    }

    /// The term a date falls in.
    public init(containing date: SchoolDate) {
        switch date.month {
        case 9...12: self.init(year: date.year, season: .autumn)
        case 1...3: self.init(year: date.year, season: .spring)
        default: self.init(year: date.year, season: .summer)
        }
    }

    public var description: String { "\(year)-\(season.rawValue)" }

    /// "Autumn term 2026".
    public var title: String { "\(season.rawValue.capitalized) term \(year)" }

    /// The term's first day, by the fixed boundaries above.
    public var start: SchoolDate {
        switch season {
        case .autumn: SchoolDate(year: year, month: 9, day: 1)!
        case .spring: SchoolDate(year: year, month: 1, day: 1)!
        case .summer: SchoolDate(year: year, month: 4, day: 1)!
        }
    }

    /// The term's last day, by the fixed boundaries above.
    public var end: SchoolDate {
        switch season {
        case .autumn: SchoolDate(year: year, month: 12, day: 31)!
        case .spring: SchoolDate(year: year, month: 3, day: 31)!
        case .summer: SchoolDate(year: year, month: 8, day: 31)!
        }
    }
}
