import Foundation

extension SchoolDate {
    /// Today in the local time zone (the date a school's calendar runs on).
    public static func today() -> SchoolDate {
        let parts = Calendar(identifier: .gregorian).dateComponents(in: .current, from: Date())
        // The calendar always yields a real date; the fallback only satisfies the type.
        return SchoolDate(year: parts.year ?? 1970, month: parts.month ?? 1, day: parts.day ?? 1)
            ?? SchoolDate(year: 2000, month: 1, day: 1)!
    }
}
