import ProvisionModel

/// One school term with its two assessment points (start and end of term).
struct Term: Sendable {
    let label: String  // "2025-autumn"
    let start: SchoolDate
    let end: SchoolDate
    let startAssessment: SchoolDate
    let endAssessment: SchoolDate
}

/// English school terms: autumn (September–December), spring (January–March), summer
/// (April–July). Fixed dates keep the output repeatable.
enum SchoolCalendar {
    static func term(year: Int, index: Int) -> Term {
        func date(_ y: Int, _ m: Int, _ d: Int) -> SchoolDate { SchoolDate(year: y, month: m, day: d)! }
        switch index {
        case 0:
            return Term(label: "\(year)-autumn", start: date(year, 9, 8), end: date(year, 12, 19),
                        startAssessment: date(year, 9, 15), endAssessment: date(year, 12, 10))
        case 1:
            return Term(label: "\(year + 1)-spring", start: date(year + 1, 1, 6), end: date(year + 1, 3, 27),
                        startAssessment: date(year + 1, 1, 12), endAssessment: date(year + 1, 3, 20))
        default:
            return Term(label: "\(year + 1)-summer", start: date(year + 1, 4, 20), end: date(year + 1, 7, 17),
                        startAssessment: date(year + 1, 4, 27), endAssessment: date(year + 1, 7, 10))
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
    var dayNumber: Int {
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func fromDayNumber(_ days: Int) -> SchoolDate {
        let z = days + 719_468
        let era = z / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return SchoolDate(year: yoe + era * 400 + (m <= 2 ? 1 : 0), month: m, day: d)!
    }

    /// Months (of 30.44 days) from `self` to `other`.
    func months(to other: SchoolDate) -> Double { Double(other.dayNumber - dayNumber) / 30.44 }
}
