import Foundation

/// A five-field cron expression (minute hour day-of-month month day-of-week), evaluated in
/// a given time zone: a source's `schedule` (DESIGN §10).
///
/// Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, and lists of those.
/// Day of week is 0–7 (0 and 7 are Sunday). As in Vixie cron, when both day fields are
/// restricted a day matches if either matches.
///
/// Times are wall-clock times in the zone, so `0 2 * * *` runs at 02:00 in winter and in
/// summer. Across the clock changes: a time skipped when clocks go forward runs at the
/// first instant after the gap; a time that happens twice when clocks go back runs once.
public struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
    /// The five-field expression as written.
    public let expression: String
    let minutes: [Int]
    let hours: [Int]
    let daysOfMonth: Set<Int>
    let months: Set<Int>
    let weekdays: Set<Int>
    let dayOfMonthRestricted: Bool
    let weekdayRestricted: Bool

    public var description: String { expression }

    /// Parses `expression`.
    ///
    /// - Throws: ``CronError`` naming the field and what is wrong with it.
    public init(_ expression: String) throws(CronError) {
        let fields = expression.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard fields.count == 5 else {
            throw CronError(expression: expression, problem: "has \(fields.count) fields; cron needs five (minute hour day month weekday)")
        }
        self.expression = expression
        minutes = try Self.field(fields[0], name: "minute", range: 0...59, in: expression).sorted()
        hours = try Self.field(fields[1], name: "hour", range: 0...23, in: expression).sorted()
        daysOfMonth = try Self.field(fields[2], name: "day of month", range: 1...31, in: expression)
        months = try Self.field(fields[3], name: "month", range: 1...12, in: expression)
        let weekdayField = try Self.field(fields[4], name: "day of week", range: 0...7, in: expression)
        weekdays = Set(weekdayField.map { $0 % 7 })
        dayOfMonthRestricted = !fields[2].hasPrefix("*")
        weekdayRestricted = !fields[4].hasPrefix("*")
    }

    /// The first time strictly after `date` at which the schedule fires, or nil when it can
    /// never fire (say, `0 0 31 2 *`).
    public func nextFire(after date: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let startDay = calendar.startOfDay(for: date)
        // Eight years covers every date a valid expression can name (29 February).
        for offset in 0..<(366 * 8) {
            guard let day = calendar.date(byAdding: .day, value: offset, to: startDay) else { return nil }
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            guard let year = parts.year, let month = parts.month, let dayOfMonth = parts.day,
                let weekday = parts.weekday, matchesDay(month: month, day: dayOfMonth, weekday: weekday - 1)
            else { continue }
            for hour in hours {
                for minute in minutes {
                    let wanted = DateComponents(year: year, month: month, day: dayOfMonth, hour: hour, minute: minute)
                    // A skipped wall-clock time comes back as the instant after the gap; a
                    // repeated one as one of its two instants, so it fires once.
                    guard let candidate = calendar.date(from: wanted) else { continue }
                    if candidate > date { return candidate }
                }
            }
        }
        return nil
    }

    private func matchesDay(month: Int, day: Int, weekday: Int) -> Bool {
        guard months.contains(month) else { return false }
        switch (dayOfMonthRestricted, weekdayRestricted) {
        case (true, true): return daysOfMonth.contains(day) || weekdays.contains(weekday)
        case (true, false): return daysOfMonth.contains(day)
        case (false, true): return weekdays.contains(weekday)
        case (false, false): return true
        }
    }

    private static func field(
        _ text: String, name: String, range: ClosedRange<Int>, in expression: String
    ) throws(CronError) -> Set<Int> {
        var values = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            func bad(_ why: String) -> CronError {
                CronError(expression: expression, problem: "\(name) field '\(text)': \(why)")
            }
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2 else { throw bad("more than one '/'") }
            var step = 1
            if stepParts.count == 2 {
                guard let parsed = Int(stepParts[1]), parsed > 0 else { throw bad("the step must be a positive number") }
                step = parsed
            }
            let span = stepParts[0]
            var low = range.lowerBound
            var high = range.upperBound
            if span == "*" {
                // the whole range
            } else if let dash = span.firstIndex(of: "-") {
                guard let from = Int(span[..<dash]), let to = Int(span[span.index(after: dash)...]) else {
                    throw bad("'\(span)' is not a range of numbers")
                }
                guard from <= to else { throw bad("the range \(from)-\(to) runs backwards") }
                low = from
                high = to
            } else {
                guard let single = Int(span) else { throw bad("'\(span)' is not a number") }
                low = single
                high = stepParts.count == 2 ? range.upperBound : single
            }
            guard range.contains(low), range.contains(high) else {
                throw bad("values must be within \(range.lowerBound)-\(range.upperBound)")
            }
            values.formUnion(stride(from: low, through: high, by: step))
        }
        return values
    }
}

/// A schedule that cannot be read.
public struct CronError: Error, Sendable, CustomStringConvertible {
    /// The expression as written.
    public let expression: String
    /// What is wrong with it, to follow the expression in a sentence.
    public let problem: String
    public var description: String { "cron expression '\(expression)' \(problem)" }
}
