import ProvisionModel

/// One school term with its assessment points: the start of term, and after half term for
/// schools that assess half-termly.
struct Term: Sendable {
    let label: String  // "2025-autumn"
    let start: SchoolDate
    let end: SchoolDate
    let startAssessment: SchoolDate
    let midAssessment: SchoolDate
}

/// English school terms: autumn (September–December), spring (January–March), summer
/// (April–July). Fixed dates keep the output repeatable.
enum SchoolCalendar {
    static func term(year: Int, index: Int) -> Term {
        func date(_ y: Int, _ m: Int, _ d: Int) -> SchoolDate { SchoolDate(year: y, month: m, day: d)! }
        switch index {
        case 0:
            return Term(label: "\(year)-autumn", start: date(year, 9, 8), end: date(year, 12, 19),
                        startAssessment: date(year, 9, 15), midAssessment: date(year, 11, 3))
        case 1:
            return Term(label: "\(year + 1)-spring", start: date(year + 1, 1, 6), end: date(year + 1, 3, 27),
                        startAssessment: date(year + 1, 1, 12), midAssessment: date(year + 1, 2, 23))
        default:
            return Term(label: "\(year + 1)-summer", start: date(year + 1, 4, 20), end: date(year + 1, 7, 17),
                        startAssessment: date(year + 1, 4, 27), midAssessment: date(year + 1, 6, 8))
        }
    }

    /// The `count` terms up to and including the one in progress (or last ended) on `today`.
    static func terms(count: Int, endingAt today: SchoolDate) -> [Term] {
        let started = (today.year - 12...today.year).flatMap { year in (0...2).map { term(year: year, index: $0) } }
            .filter { $0.start <= today }
        return Array(started.suffix(count))
    }

    /// Academic year (starting September) of a date.
    static func academicYear(_ date: SchoolDate) -> Int { date.month >= 9 ? date.year : date.year - 1 }
}

extension SchoolDate {
    /// Days since 1970-01-01, for arithmetic.
    var dayNumber: Int { daysSince1970 }

    static func fromDayNumber(_ days: Int) -> SchoolDate { SchoolDate(daysSince1970: days) }

    /// Months (of 30.44 days) from `self` to `other`.
    func months(to other: SchoolDate) -> Double { Double(other.dayNumber - dayNumber) / 30.44 }
}
