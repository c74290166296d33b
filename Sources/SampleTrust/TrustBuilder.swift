import Foundation
import ProvisionModel

/// Builds a synthetic trust: schools, pupils with latent attainment and true progress,
/// termly assessments with realistic measurement noise, interventions chosen for pupils
/// with low *observed* scores (so regression to the mean is in the data, as in real
/// schools), stalls, missing exit data and undelivered EHCP provision — and the truth
/// about all of it.
struct TrustBuilder {
    let options: TrustOptions
    let terms: [Term]
    var random: SeededRandom
    var schools: [SchoolPlan] = []

    /// Measurement error of a reading age (months) and a standardised score (points).
    static let readingAgeNoise = 4.0
    static let standardisedNoise = 4.0

    init(options: TrustOptions) {
        self.options = options
        self.terms = SchoolCalendar.terms(count: max(2, options.terms), endingAt: options.today)
        self.random = SeededRandom(seed: options.seed)
    }

    // MARK: Observations

    /// The noise of one observation is a function of the seed, pupil, instrument and day, so
    /// selection (at the time) and marksheets (written later) see the same score.
    func noise(_ upn: String, _ instrument: String, _ day: SchoolDate) -> Double {
        var generator = SeededRandom(seed: options.seed ^ UInt64(StableHash.fnv1a(upn + instrument)) &* 31 ^ UInt64(day.dayNumber))
        return generator.normal()
    }

    func yearGroup(_ pupil: PupilPlan, at day: SchoolDate) -> Int {
        pupil.yearGroup - (SchoolCalendar.academicYear(options.today) - SchoolCalendar.academicYear(day))
    }

    /// The days a school's pupils sit the reading-age test: each term's start, and after half
    /// term too where the school assesses half-termly.
    func readingAgeDays(_ school: SchoolPlan) -> [SchoolDate] {
        terms.flatMap { term in school.frequency == .halfTermly ? [term.startAssessment, term.midAssessment] : [term.startAssessment] }
            .filter { $0 <= options.today }
    }

    /// The days it sits the standardised test: each term's start.
    func standardisedDays() -> [SchoolDate] { terms.map(\.startAssessment).filter { $0 <= options.today } }

    /// Whether `pupil` sits `instrument` on `day` (on roll, in Year 1 or above, not absent).
    func assessed(_ pupil: PupilPlan, _ instrument: String, _ day: SchoolDate) -> Bool {
        day <= options.today && pupil.onRoll(day) && yearGroup(pupil, at: day) >= 1
            && !pupil.absent.contains("\(instrument)@\(day.iso)")
    }

    func observedReadingAge(_ pupil: PupilPlan, _ day: SchoolDate) -> Double {
        (pupil.readingAge(day) + Self.readingAgeNoise * noise(pupil.upn, "Salford", day)).rounded().clamped(48...190)
    }

    func observedStandardised(_ pupil: PupilPlan, _ day: SchoolDate) -> Double {
        (pupil.standardised(day) + Self.standardisedNoise * noise(pupil.upn, "NGRT", day)).rounded().clamped(69...141)
    }

    func observed(_ pupil: PupilPlan, measure: String, _ day: SchoolDate) -> Double {
        measure == "standardised" ? observedStandardised(pupil, day) : observedReadingAge(pupil, day)
    }

    // MARK: Building

    mutating func build(schoolBuilt: (Int) -> Void = { _ in }) {
        let perSchool = max(1, options.pupils / max(1, options.schools))
        for index in 0..<options.schools {
            defer { schoolBuilt(index + 1) }
            let secondary = index % 4 == 3
            let urn = String(139_001 + index)
            let la = 801 + index % 7
            let estab = (secondary ? 4000 : 2000) + index
            var school = SchoolPlan(
                urn: urn, frequency: index % 2 == 0 ? .halfTermly : .termly, laestab: "\(la)\(estab)", name: Names.school(index, secondary: secondary),
                phase: secondary ? "secondary" : "primary", senco: "senco@\(Names.slug(Names.school(index, secondary: secondary))).example",
                pupils: [], staff: [])
            let count = index == options.schools - 1 ? options.pupils - perSchool * (options.schools - 1) : perSchool
            school.pupils = makePupils(count: count, la: la, estab: estab, secondary: secondary)
            school.staff = makeStaff()
            schools.append(school)
        }
        chooseStalls()
        for termIndex in terms.indices {
            for schoolIndex in schools.indices { runInterventions(schoolIndex, termIndex) }
        }
        for schoolIndex in schools.indices { addStatutoryProvision(schoolIndex) }
    }

    private mutating func makePupils(count: Int, la: Int, estab: Int, secondary: Bool) -> [PupilPlan] {
        let years = secondary ? Array(7...11) : Array(0...6)
        let currentYear = SchoolCalendar.academicYear(options.today)
        let firstTerm = terms[0].start
        var serials: [Int: Int] = [:]
        var pupils: [PupilPlan] = []
        pupils.reserveCapacity(count)
        for _ in 0..<count {
            let year = random.pick(years)
            let birthYear = currentYear - year - 5
            let dob = SchoolDate.fromDayNumber(SchoolDate(year: birthYear, month: 9, day: 1)!.dayNumber + random.int(0...364))
            // Joiners arrive during the period covered; most were there before it.
            var admission = SchoolDate(year: currentYear - (year - years[0]), month: 9, day: 1)!
            if random.chance(0.04) {
                admission = SchoolDate.fromDayNumber(firstTerm.dayNumber + random.int(30...max(31, options.today.dayNumber - firstTerm.dayNumber - 30)))
            }
            let leaving: SchoolDate? = random.chance(0.03)
                ? SchoolDate.fromDayNumber(max(admission.dayNumber + 60, options.today.dayNumber - random.int(20...400)))
                : nil
            let trait = random.normal(100, 15).clamped(55...145)
            let z = (trait - 100) / 15 + random.normal(0, 0.5)
            let sen = z < -1.97 ? "E" : (z < -1.045 ? "K" : "N")
            var needs: [String] = []
            if sen != "N" {
                needs.append(random.weighted(sen == "E" ? Names.ehcpNeeds : Names.supportNeeds))
                if random.chance(0.3) {
                    let second = random.weighted(Names.supportNeeds)
                    if second != needs[0] { needs.append(second) }
                }
            }
            let admittedYear = admission.year % 100
            let serial = serials[admittedYear, default: 0]
            serials[admittedYear] = serial + 1
            let yy = (admittedYear + 50 * (serial / 1000)) % 100
            let twelve = String(format: "%03d%04d%02d%03d", la, estab, yy, serial % 1000)
            pupils.append(PupilPlan(
                upn: UPN.withCheckLetter(twelve) ?? "A" + twelve, surname: random.pick(Names.surnames),
                forename: random.pick(Names.forenames), dob: dob, gender: random.chance(0.5) ? "M" : "F", yearGroup: year,
                admission: admission, leaving: leaving, sen: sen,
                senStart: sen == "N" ? nil : SchoolDate.fromDayNumber(admission.dayNumber + random.int(0...400)),
                needs: needs, trait: trait))
        }
        return pupils
    }

    private mutating func makeStaff() -> [(id: String, name: String, role: String, cost: Double)] {
        var staff: [(id: String, name: String, role: String, cost: Double)] = []
        for index in 0..<6 {
            let role = index == 0 ? "SENCO" : (index < 4 ? "TA" : (index == 4 ? "HLTA" : "teacher"))
            let cost = role == "TA" ? 17.5 : (role == "HLTA" ? 21.0 : 32.0)
            let name = "\(random.pick(Names.forenames).prefix(1)). \(random.pick(Names.surnames))"
            staff.append((id: "S\(index + 1)", name: name, role: role, cost: cost))
        }
        return staff
    }

    /// About 3% of pupils stop making progress at the start of one of the last three terms,
    /// and have not started again by today (a stall of two or three terms, the one in
    /// progress included). Only pupils tested before the stall can show it, so only they are
    /// chosen: a stall nobody measured the start of is no truth to score against.
    private mutating func chooseStalls() {
        guard terms.count >= 3 else { return }
        for school in schools.indices {
            for pupil in schools[school].pupils.indices {
                let plan = schools[school].pupils[pupil]
                let from = terms[terms.count - 3 + random.int(0...1)].start
                let testedBefore = standardisedDays().contains { $0 < from && assessed(plan, "NGRT", $0) }
                if plan.onRoll(from) && plan.onRoll(options.today) && testedBefore && random.chance(0.03) {
                    schools[school].pupils[pupil].stallFrom = from
                }
            }
        }
    }

    /// Whether the data can show `pupil`'s stall: how far below its path the stall put each
    /// result after it, against the test's measurement error, summed over both tests
    /// (the evidence a detector that knew the pupil's history exactly would expect), must
    /// reach a likelihood ratio of about 50; and there must be two usable results before the
    /// stall to know that history at all. Censored results (at a test's floor or ceiling)
    /// show nothing.
    func stallIsDetectable(_ pupil: PupilPlan, school: SchoolPlan) -> Bool {
        guard let from = pupil.stallFrom else { return false }
        var unstalled = pupil
        unstalled.stallFrom = nil
        var information = 0.0
        var historyEnough = false
        for (instrument, days, limits, error) in [
            ("Salford", readingAgeDays(school), 48.0...190.0, Self.readingAgeNoise),
            ("NGRT", standardisedDays(), 69.0...141.0, Self.standardisedNoise),
        ] {
            let usable = days.filter { day in
                assessed(pupil, instrument, day)
                    && limits.lowerBound < observed(pupil, measure: instrument == "NGRT" ? "standardised" : "age_months", day)
                    && observed(pupil, measure: instrument == "NGRT" ? "standardised" : "age_months", day) < limits.upperBound
            }
            guard usable.filter({ $0 < from }).count >= 2 else { continue }
            historyEnough = true
            for day in usable where day >= from {
                let deficit = instrument == "NGRT"
                    ? unstalled.standardised(day) - pupil.standardised(day)
                    : unstalled.readingAge(day) - pupil.readingAge(day)
                information += (deficit / error) * (deficit / error)
            }
        }
        return historyEnough && information / 2 >= log(50)
    }

    private mutating func runInterventions(_ schoolIndex: Int, _ termIndex: Int) {
        let term = terms[termIndex]
        let next = termIndex + 1 < terms.count ? terms[termIndex + 1] : nil
        let school = schools[schoolIndex]
        let eligible = school.phase == "primary" ? 1...6 : 7...9
        var programmes = Programme.catalogue
        programmes.shuffle(using: &random)
        var taken: Set<Int> = []
        for programme in programmes.prefix(4) {
            let measure = programme.measure ?? "standardised"
            // Chosen by their observed (noisy) score, as schools do.
            var scored: [(index: Int, score: Double)] = []
            for index in school.pupils.indices where !taken.contains(index) {
                let pupil = school.pupils[index]
                guard assessed(pupil, "NGRT", term.startAssessment),
                    eligible.contains(yearGroup(pupil, at: term.startAssessment))
                else { continue }
                // The programme's own outcome measure: reading-age delay for reading-age programmes.
                let score = measure == "age_months"
                    ? observedReadingAge(pupil, term.startAssessment) - pupil.age(term.startAssessment)
                    : observedStandardised(pupil, term.startAssessment)
                scored.append((index, score))
            }
            scored.sort { $0.score < $1.score || ($0.score == $1.score && $0.index < $1.index) }
            let candidates = scored.map(\.index)
            guard !candidates.isEmpty else { continue }
            let pool = Array(candidates.prefix(max(8, candidates.count / 4)))
            for group in 0..<random.int(1...2) {
                let size = random.int(programme.groupSize)
                var members: [Int] = []
                for _ in 0..<size {
                    let choice: Int = self.random.pick(pool)
                    if !taken.contains(choice) {
                        taken.insert(choice)
                        members.append(choice)
                    }
                }
                guard !members.isEmpty else { continue }
                let staffID = random.pick(Array(school.staff.dropFirst())).id
                // Interventions start a week after the term's first tests, which give the entry scores.
                var provision = ProvisionPlan(
                    id: "\(Names.slug(programme.name))-\(term.label)-\(group + 1)", programme: programme,
                    start: SchoolDate.fromDayNumber(term.startAssessment.dayNumber + 7), end: term.end,
                    staffIDs: [staffID], enrolments: [])
                for member in members {
                    provision.enrolments.append(enrol(schoolIndex, member, programme, measure: measure, term: term, next: next))
                }
                schools[schoolIndex].provisions.append(provision)
            }
        }
    }

    private mutating func enrol(
        _ schoolIndex: Int, _ member: Int, _ programme: Programme, measure: String, term: Term, next: Term?
    ) -> EnrolmentPlan {
        // The programme's true effect, from its start to its end.
        schools[schoolIndex].pupils[member].boosts.append((term.startAssessment.dayNumber + 7, term.end.dayNumber, programme.effect))
        let pupil = schools[schoolIndex].pupils[member]
        let finished = term.end < options.today
        var enrolment = EnrolmentPlan(pupil: member, status: finished ? "completed" : "active")
        let instrument = programme.instrument ?? ""
        if programme.measure == "steps" {
            let entry = Double(random.int(1...3))
            enrolment.entry = (entry, term.startAssessment)
            if finished { enrolment.exit = (entry + Double(random.int(0...3)), term.end) }
        } else if programme.measure != nil {
            enrolment.entry = (observed(pupil, measure: measure, term.startAssessment), term.startAssessment)
            if let next, next.startAssessment <= options.today {
                enrolment.exit = (observed(pupil, measure: measure, next.startAssessment), next.startAssessment)
            }
        }
        // One in ten finished enrolments with an outcome measure lose their exit data: blank on
        // the map and the pupil absent from the next assessment of that instrument.
        if programme.measure != nil && finished && term.end.dayNumber + 14 < options.today.dayNumber && random.chance(0.1) {
            enrolment.exit = nil
            enrolment.missingExit = true
            if let next, programme.measure != "steps" {
                schools[schoolIndex].pupils[member].absent.insert("\(instrument)@\(next.startAssessment.iso)")
            }
        } else if programme.measure != nil && programme.measure != "steps" && random.chance(0.2) {
            // The SENCO left the scores off the map: the evaluation finds them in the marksheets.
            enrolment.entry = nil
            enrolment.exit = nil
        }
        return enrolment
    }

    /// Every EHCP pupil on roll has statutory speech and language therapy this term; for
    /// about one in ten it is planned but not being delivered.
    private mutating func addStatutoryProvision(_ schoolIndex: Int) {
        guard let term = terms.last else { return }
        var provision = ProvisionPlan(
            id: "salt-statutory-\(term.label)", programme: .statutorySpeech, start: term.start, end: term.end,
            staffIDs: [], enrolments: [])
        for (index, pupil) in schools[schoolIndex].pupils.enumerated() where pupil.sen == "E" && pupil.onRoll(options.today) {
            provision.enrolments.append(EnrolmentPlan(pupil: index, status: random.chance(0.1) ? "planned" : "active"))
        }
        if !provision.enrolments.isEmpty { schools[schoolIndex].provisions.append(provision) }
    }
}

extension Double {
    func clamped(_ range: ClosedRange<Double>) -> Double { Swift.min(Swift.max(self, range.lowerBound), range.upperBound) }
}
