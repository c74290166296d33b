import Foundation
import ProvisionModel

/// What to generate.
public struct TrustOptions: Sendable {
    /// Schools in the trust.
    public var schools: Int
    /// Pupils across the trust.
    public var pupils: Int
    /// Half-terms of history, ending at `today`.
    public var terms: Int
    /// The seed every random choice follows from.
    public var seed: UInt64
    /// The day the data runs up to; output depends only on the options, so one `today`
    /// and seed always give the same bytes.
    public var today: SchoolDate

    /// Options with the demo's defaults.
    public init(schools: Int = 4, pupils: Int = 2000, terms: Int = 6, seed: UInt64 = 1, today: SchoolDate) {
        self.schools = schools
        self.pupils = pupils
        self.terms = terms
        self.seed = seed
        self.today = today
    }
}

/// An intervention programme and the truth about it.
struct Programme {
    let name: String
    let areaOfNeed: String
    let wave: Int
    let priority: String
    let instrument: String?
    let subject: String?
    let measure: String?
    /// Extra months of reading age per month in the programme (the truth the evaluation
    /// should find): 2.0 is large, 0 none, negative harmful.
    let effect: Double
    let groupSize: ClosedRange<Int>
    let sessionsPerWeek: Int
    let minutes: Int
    let hourlyCost: Double
    let resourceCost: Double
    let statutory: Bool

    static let catalogue: [Programme] = [
        Programme(name: "Reading Catch-Up", areaOfNeed: "CL", wave: 2, priority: "must", instrument: "Salford", subject: "reading",
                  measure: "age_months", effect: 2.0, groupSize: 3...5, sessionsPerWeek: 3, minutes: 30, hourlyCost: 18.5, resourceCost: 150, statutory: false),
        Programme(name: "Phonics Boost", areaOfNeed: "CL", wave: 2, priority: "should", instrument: "Salford", subject: "reading",
                  measure: "age_months", effect: 0.8, groupSize: 4...6, sessionsPerWeek: 4, minutes: 20, hourlyCost: 17.0, resourceCost: 80, statutory: false),
        Programme(name: "Paired Reading", areaOfNeed: "CL", wave: 2, priority: "could", instrument: "Salford", subject: "reading",
                  measure: "age_months", effect: 0.0, groupSize: 2...4, sessionsPerWeek: 2, minutes: 20, hourlyCost: 16.5, resourceCost: 20, statutory: false),
        Programme(name: "Fast Track Reading", areaOfNeed: "CL", wave: 2, priority: "should", instrument: "Salford", subject: "reading",
                  measure: "age_months", effect: -0.5, groupSize: 4...6, sessionsPerWeek: 3, minutes: 30, hourlyCost: 17.0, resourceCost: 200, statutory: false),
        Programme(name: "Precision Teaching", areaOfNeed: "CL", wave: 3, priority: "must", instrument: "NGRT", subject: "reading",
                  measure: "standardised", effect: 1.5, groupSize: 1...2, sessionsPerWeek: 5, minutes: 10, hourlyCost: 21.0, resourceCost: 30, statutory: false),
        Programme(name: "Talk Boost", areaOfNeed: "CI", wave: 2, priority: "should", instrument: "Talk Boost tracker", subject: "language",
                  measure: "steps", effect: 0, groupSize: 4...4, sessionsPerWeek: 3, minutes: 30, hourlyCost: 17.0, resourceCost: 60, statutory: false),
        Programme(name: "Social Skills Group", areaOfNeed: "SEMH", wave: 2, priority: "could", instrument: nil, subject: nil,
                  measure: nil, effect: 0, groupSize: 4...6, sessionsPerWeek: 1, minutes: 45, hourlyCost: 21.0, resourceCost: 40, statutory: false),
    ]

    static let statutorySpeech = Programme(
        name: "Speech and Language Therapy 1:1", areaOfNeed: "CI", wave: 3, priority: "must", instrument: nil, subject: nil,
        measure: nil, effect: 0, groupSize: 1...1, sessionsPerWeek: 1, minutes: 45, hourlyCost: 55.0, resourceCost: 0, statutory: true)
}

struct PupilPlan {
    let upn: String
    let surname: String
    let forename: String
    let dob: SchoolDate
    let gender: String
    let yearGroup: Int  // in the current academic year; 0 is Reception
    let admission: SchoolDate
    let leaving: SchoolDate?
    let sen: String
    let senStart: SchoolDate?
    let needs: [String]
    let trait: Double
    /// When progress stops (the start of one of the last three terms, to today), for
    /// stalled pupils.
    var stallFrom: SchoolDate?
    /// Extra reading-age months gained from interventions, as (from, to, rate) spans.
    var boosts: [(from: Int, to: Int, rate: Double)] = []
    /// Assessment points the pupil missed (absent): instrument + day.
    var absent: Set<String> = []

    func onRoll(_ day: SchoolDate) -> Bool { admission <= day && (leaving.map { day < $0 } ?? true) }

    /// Chronological age in months.
    func age(_ day: SchoolDate) -> Double { dob.months(to: day) }

    /// True reading age in months at `day`.
    func readingAge(_ day: SchoolDate) -> Double {
        let effective = stallFrom.map { min(day.dayNumber, $0.dayNumber) } ?? day.dayNumber
        var value = age(SchoolDate.fromDayNumber(effective)) * trait / 100
        for boost in boosts where effective > boost.from {
            value += Double(min(effective, boost.to) - boost.from) / 30.44 * boost.rate
        }
        return value
    }

    /// True standardised score: reading age against age, 15 points per 15% of age.
    func standardised(_ day: SchoolDate) -> Double {
        let ageMonths = age(day)
        return 100 + 15 * (readingAge(day) - ageMonths) / (0.15 * ageMonths)
    }
}

/// How often a school tests reading ages (the standardised test is termly everywhere).
enum AssessmentFrequency: String {
    case termly
    case halfTermly = "half-termly"
}

struct SchoolPlan {
    let urn: String
    let frequency: AssessmentFrequency
    let laestab: String
    let name: String
    let phase: String
    let senco: String
    var pupils: [PupilPlan]
    var staff: [(id: String, name: String, role: String, cost: Double)]
    var provisions: [ProvisionPlan] = []
}

struct ProvisionPlan {
    let id: String
    let programme: Programme
    let start: SchoolDate
    let end: SchoolDate
    let staffIDs: [String]
    var enrolments: [EnrolmentPlan]
}

struct EnrolmentPlan {
    let pupil: Int
    let status: String
    var entry: (value: Double, date: SchoolDate)?
    var exit: (value: Double, date: SchoolDate)?
    /// The truth: ended more than 14 days ago with no exit data anywhere.
    var missingExit = false
}
