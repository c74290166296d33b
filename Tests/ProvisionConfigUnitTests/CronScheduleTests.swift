import Foundation
import ProvisionConfig
import Testing

@Suite("cron schedules")
struct CronScheduleTests {
    let london = TimeZone(identifier: "Europe/London")!

    func utc(_ text: String) -> Date { ISO8601DateFormatter().date(from: text)! }

    func next(_ expression: String, after: String) throws -> Date? {
        try CronSchedule(expression).nextFire(after: utc(after), in: london)
    }

    @Test func dailyAtTwoIsTwoInLocalTimeWinterAndSummer() throws {
        #expect(try next("0 2 * * *", after: "2026-11-29T12:00:00Z") == utc("2026-11-30T02:00:00Z"))  // GMT
        #expect(try next("0 2 * * *", after: "2026-06-10T12:00:00Z") == utc("2026-06-11T01:00:00Z"))  // BST
    }

    @Test func theNextFireIsStrictlyLater() throws {
        #expect(try next("0 2 * * *", after: "2026-11-30T02:00:00Z") == utc("2026-12-01T02:00:00Z"))
        #expect(try next("* * * * *", after: "2026-11-30T02:00:00Z") == utc("2026-11-30T02:01:00Z"))
        #expect(try next("*/15 9-10 * * *", after: "2026-11-30T09:50:00Z") == utc("2026-11-30T10:00:00Z"))
    }

    @Test func aTimeSkippedWhenClocksGoForwardRunsJustAfterTheGap() throws {
        // 2027-03-28: 01:00 GMT becomes 02:00 BST; 01:30 does not exist that day.
        let fire = try #require(try next("30 1 * * *", after: "2027-03-27T12:00:00Z"))
        #expect(fire > utc("2027-03-28T00:59:59Z") && fire <= utc("2027-03-28T01:30:00Z"), "\(fire)")
        #expect(try next("30 1 * * *", after: "2027-03-28T02:00:00Z") == utc("2027-03-29T00:30:00Z"))
    }

    @Test func aTimeRepeatedWhenClocksGoBackRunsOnce() throws {
        // 2026-10-25: 02:00 BST becomes 01:00 GMT; 01:30 happens twice (00:30 and 01:30 UTC).
        let first = try #require(try next("30 1 * * *", after: "2026-10-24T12:00:00Z"))
        #expect(first == utc("2026-10-25T00:30:00Z") || first == utc("2026-10-25T01:30:00Z"))
        let second = try #require(try CronSchedule("30 1 * * *").nextFire(after: first, in: london))
        #expect(second == utc("2026-10-26T01:30:00Z"), "once on the 25th, then the 26th")
    }

    @Test func restrictedDayOfMonthAndWeekdayMatchEither() throws {
        // The 1st of the month or any Monday, at 06:00 (2026-12-01 is a Tuesday).
        #expect(try next("0 6 1 * 1", after: "2026-11-29T12:00:00Z") == utc("2026-11-30T06:00:00Z"))
        #expect(try next("0 6 1 * 1", after: "2026-11-30T12:00:00Z") == utc("2026-12-01T06:00:00Z"))
        #expect(try next("0 6 * * 7", after: "2026-11-29T12:00:00Z") == utc("2026-12-06T06:00:00Z"), "7 is Sunday")
        #expect(try next("0 0 29 2 *", after: "2026-11-29T12:00:00Z") == utc("2028-02-29T00:00:00Z"))
        #expect(try next("0 0 31 2 *", after: "2026-11-29T12:00:00Z") == nil)
    }

    @Test func mistakesAreNamed() {
        func problem(_ expression: String) -> String? {
            do {
                _ = try CronSchedule(expression)
                return nil
            } catch {
                return error.problem
            }
        }
        #expect(problem("0 2 * *")?.contains("five") == true)
        #expect(problem("61 2 * * *")?.contains("minute field '61'") == true)
        #expect(problem("0 5-2 * * *")?.contains("backwards") == true)
        #expect(problem("*/0 * * * *")?.contains("step") == true)
        #expect(problem("0 2 * JAN *")?.contains("not a number") == true)
    }
}
