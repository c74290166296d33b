import Foundation
import ProvisionTestSupport
import Testing

/// Every built-in plugin, run through `provisionctl plugin check` as IT staff would.
@Suite("built-in importers under plugin check")
struct BuiltInPluginCheckTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    let program = TestProcess.executable("provisionctl")

    func check(_ plugin: String, _ fixture: String, env: [String] = []) async throws -> TestProcess.Result {
        try await checkFile(plugin, "\(Self.root)/Plugins/\(plugin)/fixtures/\(fixture)", env.flatMap { ["--env", $0] })
    }

    /// `provisionctl plugin check` of `plugin` on the file or folder `path`, bound to school
    /// 139001, with `options` after (`--env`, `--max-rejected`).
    func checkFile(_ plugin: String, _ path: String, _ options: [String] = []) async throws -> TestProcess.Result {
        try await TestProcess.run(program, ["plugin", "check", "\(Self.root)/Plugins/\(plugin)", path, "--school", "139001"] + options)
    }

    /// What the plugin program `executable` writes for `path`, run directly as the supervisor
    /// runs it, bound to school 139001, with `environment` beside.
    func output(_ executable: String, _ path: String, environment: [String: String] = [:]) async throws -> TestProcess.Result {
        try await TestProcess.run(
            TestProcess.executable(executable), ["--source", path], environment: environment.merging(["PROVISION_SCHOOLS": "139001"]) { own, _ in own })
    }

    @Test(arguments: [
        ("ctf", "good/ctf-v19-sims.xml", [String](), "pupil        sent 3, valid 3"),
        ("ctf", "good/ctf-v25-arbor.xml", [], "assessment   sent 1, valid 1"),
        ("ctf", "good", [], "pupil        sent 4, valid 4"),
        ("mis-csv", "good/sims-pupils-sen.csv", ["MAPPING=sims-pupils-sen"], "pupil        sent 5, valid 5"),
        ("mis-csv", "good/sims-assessments.csv", ["MAPPING=sims-assessments"], "assessment   sent 6, valid 6"),
        ("mis-csv", "good/arbor-pupils-sen.csv", ["MAPPING=arbor-pupils-sen"], "pupil        sent 2, valid 2"),
        ("provision-map", "good/provision-map.csv", [], "enrolment    sent 4, valid 4"),
        ("provision-map", "good/provision-map-excel-ansi.csv", [], "provision    sent 3, valid 3"),
        // The same sheet saved with semicolons between columns and dates as 8-Sep-25.
        ("provision-map", "good/provision-map-semicolons.csv", [], "enrolment    sent 4, valid 4"),
        // Saved as Excel's "Unicode Text": UTF-16 with tabs between the columns (refused until 2026-12-01).
        ("provision-map", "good/unicode-text.csv", [], "enrolment    sent 4, valid 4"),
        ("plans", "good/plans.csv", [], "plan         sent 2, valid 2"),
        // Cells with line breaks in them (Alt+Enter), as a plan's strategies are often written:
        // refused as control characters until 2026-12-01.
        ("plans", "good/plans-line-breaks.csv", [], "plan         sent 2, valid 2"),
    ])
    func goodFixturesPass(plugin: String, fixture: String, env: [String], expected: String) async throws {
        let result = try await check(plugin, fixture, env: env)
        #expect(result.exitCode == 0, "\(result.standardOutput)")
        #expect(result.standardOutput.contains(expected), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("OK: the daemon would import this."))
    }

    @Test(arguments: [
        // (plugin, fixture, env, exit status, text that must appear)
        ("ctf", "bad/doctype-entities.xml", [String](), Int32(1), "declares a DOCTYPE or entities"),
        ("ctf", "bad/truncated.xml", [], 1, "the XML is malformed at line 37, column 15 (in CTfile/CTFpupilData/Pupil[1]/SENhistory/SENneeds): a tag that is not closed with '>'"),
        ("ctf", "bad/not-a-ctf.xml", [], 1, "not a Common Transfer File"),
        ("ctf", "bad/impossible-date.xml", [], 65, "DOB is not a date (YYYY-MM-DD) [impossible-date.xml: CTfile/CTFpupilData/Pupil[3]/DOB]"),
        ("ctf", "bad/invalid-upn.xml", [], 65, "pupil.upn is malformed: UPN must be 13 characters, got 12"),
        ("mis-csv", "bad/missing-columns.csv", ["MAPPING=sims-pupils-sen"], 1, "missing columns 'DOB'"),
        ("mis-csv", "bad/impossible-dates.csv", ["MAPPING=sims-pupils-sen"], 65, "DOB is not a date in dd/mm/yyyy [impossible-dates.csv:9]"),
        ("mis-csv", "bad/invalid-upns.csv", ["MAPPING=sims-pupils-sen"], 65, "pupil.upn is malformed"),
        ("mis-csv", "good/sims-pupils-sen.csv", ["MAPPING=no-such-preset"], 1, "no mapping preset 'no-such-preset'"),
        ("provision-map", "bad/missing-columns.csv", [], 1, "missing columns 'Start date'"),
        // A header that cannot be read stops the run: it once counted as an empty file.
        ("provision-map", "bad/unreadable-header.csv", [], 1,
         "unreadable-header.csv: a quoted field opened on line 1 is not closed before the end of the file (a stray quote?)"),
        ("mis-csv", "bad/unreadable-header.csv", ["MAPPING=sims-pupils-sen"], 1,
         "unreadable-header.csv: a quoted field opened on line 1 is not closed before the end of the file (a stray quote?)"),
        ("provision-map", "bad/impossible-values.csv", [], 65, "Wave '4' is not a wave (1, 2 or 3)"),
        // A decimal comma is not a thousands separator: it was read as 1850.
        ("provision-map", "bad/impossible-values.csv", [], 65, "Staff hourly cost '18,50' is not a number [impossible-values.csv:7]"),
        ("plans", "bad/missing-columns.csv", [], 1, "missing columns 'Next review', 'Target by'"),
        ("plans", "bad/impossible-values.csv", [], 65, "Target by '31/02/2026' is not a date (dd/mm/yyyy) [impossible-values.csv:2]"),
        ("plans", "bad/impossible-values.csv", [], 65, "Kind 'Behaviour plan' is not SEN support or EHC plan [impossible-values.csv:3]"),
    ])
    func badFixturesFailWithTheReason(plugin: String, fixture: String, env: [String], status: Int32, reason: String) async throws {
        let result = try await check(plugin, fixture, env: env)
        #expect(result.exitCode == status, "\(result.standardOutput)")
        #expect(result.standardOutput.contains(reason), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("NOT OK"))
    }

    @Test func aDoctypeIsRefusedBeforeAnyRecordIsWritten() async throws {
        let result = try await check("ctf", "bad/doctype-entities.xml")
        #expect(result.standardOutput.contains("0 lines, 0 bytes"))
    }

    /// libxml2 checks each attribute of a tag against every one before it (40,000 attributes
    /// took 0.44 s, 80,000 3.2 s): a tag past 65,536 characters is
    /// refused before the parser sees it, with where it starts. Comments, CDATA sections,
    /// processing instructions and quoted values, which may hold `<`, `>` and quotes, are
    /// not tags and may be as long as they like.
    @Test func aTagOfThousandsOfAttributesIsRefusedAndLongCommentsAreNot() async throws {
        let folder = try TestProcess.temporaryDirectory("ctf-tags")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func check(_ file: String) async throws -> TestProcess.Result {
            try await checkFile("ctf", folder + "/" + file)
        }
        let ctf = try String(contentsOfFile: Self.root + "/Plugins/ctf/fixtures/good/ctf-v19-sims.xml", encoding: .utf8)
        let attributes = (1...8_000).map { "a\($0)=\"x\"" }.joined(separator: " ")
        let hostile = ctf.replacingOccurrences(of: "<CTFpupilData>", with: "<CTFpupilData \(attributes)>")
        // In every encoding the parser reads: UTF-8, UTF-16 (found by its first bytes) and a
        // single-byte encoding the file declares.
        let encodings: [(name: String, declared: String, encoding: String.Encoding)] = [
            ("utf8.xml", "UTF-8", .utf8), ("utf16.xml", "UTF-16", .utf16LittleEndian), ("latin1.xml", "ISO-8859-1", .isoLatin1),
        ]
        for variant in encodings {
            try hostile.replacingOccurrences(of: "encoding=\"UTF-8\"", with: "encoding=\"\(variant.declared)\"")
                .write(toFile: folder + "/" + variant.name, atomically: true, encoding: variant.encoding)
            let refused = try await check(variant.name)
            #expect(refused.exitCode == 1, "\(refused.standardOutput)")
            #expect(refused.standardOutput.contains(
                "\(variant.name): the tag at line 20, column 3 runs for more than 65536 characters"), "\(refused.standardOutput)")
            #expect(refused.standardOutput.contains("0 lines, 0 bytes"), "refused before any record is written")
        }

        let long = String(repeating: "<b attr='>'> & \" ", count: 10_000)
        let quiet = ctf.replacingOccurrences(
            of: "<CTFpupilData>",
            with: "<!-- \(long) --><CTFpupilData note=\"a > b, 'quoted'\"><![CDATA[\(long)]]><?vendor \(long.replacingOccurrences(of: "?", with: ""))?>")
        try quiet.write(toFile: folder + "/comments.xml", atomically: true, encoding: .utf8)
        try ctf.replacingOccurrences(of: "encoding=\"UTF-8\"", with: "encoding=\"UTF-16\"")
            .write(toFile: folder + "/plain-utf16.xml", atomically: true, encoding: .utf16LittleEndian)
        for file in ["comments.xml", "plain-utf16.xml"] {
            let read = try await check(file)
            #expect(read.exitCode == 0, "\(file): \(read.standardOutput)")
            #expect(read.standardOutput.contains("pupil        sent 3, valid 3"), "\(file): \(read.standardOutput)")
        }
    }

    @Test func aWindows1252FileReadAsUTF8NamesTheEncoding() async throws {
        let folder = try TestProcess.temporaryDirectory("mapping")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let preset = try String(contentsOfFile: Self.root + "/config/mappings/sims-pupils-sen.toml", encoding: .utf8)
        try preset.replacingOccurrences(of: "encoding = \"auto\"", with: "encoding = \"utf-8\"")
            .write(toFile: folder + "/utf8.toml", atomically: true, encoding: .utf8)
        let result = try await check("mis-csv", "bad/windows-1252-as-utf8.csv", env: ["MAPPING=\(folder)/utf8.toml"])
        #expect(result.exitCode == 65)
        #expect(result.standardOutput.contains("is not valid utf-8 text (is the file in another encoding?)"))
    }

    /// A SIMS export as SIMS writes it (Windows-1252), re-saved from Excel as "CSV UTF-8"
    /// (with a byte-order mark), by another program as UTF-8 without one or as UTF-16, and a
    /// marksheet with semicolons or tabs between its columns: the same records under the
    /// same presets.
    /// The UTF-8 files once came in as "ZoÃ©" under the preset, which said Windows-1252.
    @Test func anExportReSavedOtherwiseReadsTheSameUnderItsPreset() async throws {
        let folder = try TestProcess.temporaryDirectory("resaved")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let fixtures = Self.root + "/Plugins/mis-csv/fixtures/good/"
        func records(_ path: String, _ preset: String) async throws -> [String] {
            let run = try await output("import-mis-csv", path, environment: ["MAPPING": preset])
            #expect(run.exitCode == 0, "\(path): \(run.standardError)")
            return run.standardOutput.split(separator: "\n").map(String.init)
        }
        let pupils = try String(contentsOfFile: fixtures + "sims-pupils-sen.csv", encoding: .windowsCP1252)
        let asSaved = try await records(fixtures + "sims-pupils-sen.csv", "sims-pupils-sen")
        #expect(asSaved.contains { $0.contains(#""forename":"Zoé""#) }, "\(asSaved)")
        try Data([0xEF, 0xBB, 0xBF] + Array(pupils.utf8)).write(to: URL(fileURLWithPath: folder + "/bom.csv"))
        try pupils.write(toFile: folder + "/plain.csv", atomically: true, encoding: .utf8)
        #expect(try await records(folder + "/bom.csv", "sims-pupils-sen") == asSaved)
        #expect(try await records(folder + "/plain.csv", "sims-pupils-sen") == asSaved)

        let marks = try String(contentsOfFile: fixtures + "sims-assessments.csv", encoding: .windowsCP1252)
        #expect(!marks.contains("\""), "the fixture has no quoted cells, so its commas are all separators")
        let marksAsSaved = try await records(fixtures + "sims-assessments.csv", "sims-assessments")
        #expect(marksAsSaved.count == 8)  // a header, six results, the end
        for (name, separator) in [("semicolons.csv", ";"), ("tabs.csv", "\t")] {
            try marks.replacingOccurrences(of: ",", with: separator)
                .write(toFile: folder + "/" + name, atomically: true, encoding: .windowsCP1252)
            #expect(try await records(folder + "/" + name, "sims-assessments") == marksAsSaved, "\(name)")
        }
        // Dates written year first (an export set up so, or a computer's own layout) under a
        // preset for dd/mm/yyyy: every row was an error.
        try marks.replacingOccurrences(of: "15/09/2025", with: "2025-09-15").replacingOccurrences(of: "16/09/2025", with: "2025-09-16")
            .write(toFile: folder + "/iso.csv", atomically: true, encoding: .windowsCP1252)
        #expect(try await records(folder + "/iso.csv", "sims-assessments") == marksAsSaved)
        // A UPN typed in lower case is the same pupil's.
        try marks.replacingOccurrences(of: "W801200025001", with: "w801200025001")
            .write(toFile: folder + "/lower.csv", atomically: true, encoding: .windowsCP1252)
        #expect(try await records(folder + "/lower.csv", "sims-assessments") == marksAsSaved)
        // Saved as UTF-16, either byte order: it once stopped the run saying every column was missing.
        for (name, encoding) in [("le.csv", String.Encoding.utf16LittleEndian), ("be.csv", .utf16BigEndian)] {
            let mark: [UInt8] = encoding == .utf16LittleEndian ? [0xFF, 0xFE] : [0xFE, 0xFF]
            try Data(mark + Array(try #require(pupils.data(using: encoding)))).write(to: URL(fileURLWithPath: folder + "/" + name))
            #expect(try await records(folder + "/" + name, "sims-pupils-sen") == asSaved, "\(name)")
        }
    }

    /// A provision map kept as a workbook, dropped as it is: it once stopped the run saying
    /// every column was missing, or that there were no CSV files.
    @Test func aWorkbookIsNamedAsOneWithWhatToSaveInstead() async throws {
        let folder = try TestProcess.temporaryDirectory("workbook")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try Data([0x50, 0x4B, 0x03, 0x04, 0x14, 0x00]).write(to: URL(fileURLWithPath: folder + "/Provision map.xlsx"))
        try Data([0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1, 0x00]).write(to: URL(fileURLWithPath: folder + "/old.csv"))
        let file = try await checkFile("provision-map", folder + "/Provision map.xlsx")
        #expect(file.exitCode == 1, "\(file.standardOutput)")
        #expect(file.standardOutput.contains(
            "Provision map.xlsx is an Excel workbook (.xlsx, or another zip file), which is not read: save it as \"CSV UTF-8 (Comma delimited)\""))
        let old = try await checkFile("mis-csv", folder + "/old.csv", ["--env", "MAPPING=sims-assessments"])
        #expect(old.exitCode == 1, "\(old.standardOutput)")
        #expect(old.standardOutput.contains("old.csv is an Excel 97–2003 workbook (.xls), which is not read"))
        try FileManager.default.removeItem(atPath: folder + "/old.csv")
        let inFolder = try await checkFile("plans", folder)
        #expect(inFolder.exitCode == 1, "\(inFolder.standardOutput)")
        #expect(inFolder.standardOutput.contains("it holds 1 workbook(s), which are not read: save each as \"CSV UTF-8 (Comma delimited)\""))
        #expect(!inFolder.standardOutput.contains("Provision map"), "a file's name may be a pupil's")
    }

    /// An open SEN period whose status cannot be read rejects the pupil (it was taken for no
    /// SEN, and a pupil with a plan dropped out of every check of it); a need type that is
    /// not one is left out and counted, not dropped without a word.
    @Test func aCTFsUnreadableSENStatusRejectsThePupilAndUnknownNeedsAreCounted() async throws {
        let folder = try TestProcess.temporaryDirectory("ctf-sen")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let ctf = try String(contentsOfFile: Self.root + "/Plugins/ctf/fixtures/good/ctf-v19-sims.xml", encoding: .utf8)
        func check(_ file: String, replacing old: String, with new: String) async throws -> TestProcess.Result {
            try ctf.replacingOccurrences(of: old, with: new).write(toFile: folder + "/" + file, atomically: true, encoding: .utf8)
            return try await checkFile("ctf", folder + "/" + file, ["--max-rejected", "0.5"])
        }
        let status = try await check("status.xml", replacing: "<SENprovision>E</SENprovision>", with: "<SENprovision>Q</SENprovision>")
        #expect(status.standardOutput.contains("pupil        sent 2, valid 2"), "\(status.standardOutput)")
        #expect(status.standardOutput.contains("SENprovision 'Q' of the open SEN period is not N, K or E"), "\(status.standardOutput)")
        let need = try await check("need.xml", replacing: "<SENtype> SLCN </SENtype>", with: "<SENtype>DYSLEXIA</SENtype>")
        #expect(need.standardOutput.contains("pupil        sent 3, valid 3"), "\(need.standardOutput)")
        #expect(need.standardOutput.contains("1 SENtype values not a need type (left out)"), "\(need.standardOutput)")

        // Before 2014's codes, School Action Plus is SEN support now.
        let old = try await check("old.xml", replacing: "<SENprovision>E</SENprovision>", with: "<SENprovision>P</SENprovision>")
        #expect(old.standardOutput.contains("pupil        sent 3, valid 3"), "\(old.standardOutput)")
        #expect(old.standardOutput.contains("Rejected: 0"), "\(old.standardOutput)")
    }

    /// A mapping's own wordings for needs; a wording mapped to something that is not a code
    /// is refused when the mapping is read, naming the key, not row by row.
    @Test func aMappingNamesItsOwnWordingsForNeeds() async throws {
        let folder = try TestProcess.temporaryDirectory("mapping-needs")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let preset = try String(contentsOfFile: Self.root + "/config/mappings/sims-pupils-sen.toml", encoding: .utf8)
        let pupils = try String(contentsOfFile: Self.root + "/Plugins/mis-csv/fixtures/good/sims-pupils-sen.csv", encoding: .windowsCP1252)
        try pupils.replacingOccurrences(of: "Specific Learning Difficulty", with: "Dyslexia")
            .write(toFile: folder + "/pupils.csv", atomically: true, encoding: .windowsCP1252)
        func check(_ mapping: String) async throws -> TestProcess.Result {
            try (preset + "\n[values.needs]\n" + mapping + "\n").write(toFile: folder + "/m.toml", atomically: true, encoding: .utf8)
            return try await checkFile("mis-csv", folder + "/pupils.csv", ["--env", "MAPPING=\(folder)/m.toml", "--max-rejected", "0.5"])
        }
        let without = try await check("")
        #expect(without.standardOutput.contains("'Dyslexia' is not a School Census need type; add it under [values.needs] in the mapping"),
                "\(without.standardOutput)")
        let with = try await check("\"dyslexia\" = \"SPLD\"")
        #expect(with.exitCode == 0, "\(with.standardOutput)")
        #expect(with.standardOutput.contains("pupil        sent 5, valid 5"), "\(with.standardOutput)")
        let wrong = try await check("\"Dyslexia\" = \"DYS\"")
        #expect(wrong.exitCode == 1)
        #expect(wrong.standardOutput.contains("key 'values.needs.Dyslexia': 'DYS' is not one of ASD, HI,"), "\(wrong.standardOutput)")
        let twice = try await check("\"Dyslexia\" = \"SPLD\"\n\"dyslexia\" = \"MLD\"")
        #expect(twice.exitCode == 1)
        #expect(twice.standardOutput.contains("is the same wording as another key but for case, with another code"), "\(twice.standardOutput)")

        // Yes-or-no columns take the school's words too.
        #expect(pupils.contains(",01/09/2021,Yes,Yes,No,No,"))
        try pupils.replacingOccurrences(of: "Specific Learning Difficulty", with: "Dyslexia")
            .replacingOccurrences(of: ",01/09/2021,Yes,Yes,No,No,", with: ",01/09/2021,FSM,Yes,No,No,")
            .write(toFile: folder + "/pupils.csv", atomically: true, encoding: .windowsCP1252)
        let flagged = try await check("\"dyslexia\" = \"SPLD\"\n[values.fsm]\n\"FSM\" = \"yes\"")
        #expect(flagged.exitCode == 0, "\(flagged.standardOutput)")
        #expect(flagged.standardOutput.contains("pupil        sent 5, valid 5"), "\(flagged.standardOutput)")
        let unflagged = try await check("\"dyslexia\" = \"SPLD\"")
        #expect(unflagged.standardOutput.contains("FSM Eligible 'FSM' is not yes or no; add it under [values.fsm] in the mapping"),
                "\(unflagged.standardOutput)")
        let maybe = try await check("\"dyslexia\" = \"SPLD\"\n[values.fsm]\n\"FSM\" = \"maybe\"")
        #expect(maybe.exitCode == 1)
        #expect(maybe.standardOutput.contains("key 'values.fsm.FSM': 'maybe' is not one of no, yes"), "\(maybe.standardOutput)")
    }

    /// A score cell marking a test not taken ("Absent", "n/a") is no score: it made the whole
    /// row an error, and a provision-map row lost the pupil's place in the intervention for
    /// an exit test they missed. Anything else that is not a number still is an error.
    @Test func aTestNotTakenIsNoScoreAndTheRowIsKept() async throws {
        let folder = try TestProcess.temporaryDirectory("not-taken")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let map = try String(contentsOfFile: Self.root + "/Plugins/provision-map/fixtures/good/provision-map.csv", encoding: .utf8)
        try map.replacingOccurrences(of: ",83,15/12/2025,", with: ",Absent,15/12/2025,")
            .replacingOccurrences(of: "Amélie Brown,69,", with: "Amélie Brown,n/a,")
            .write(toFile: folder + "/map.csv", atomically: true, encoding: .utf8)
        let kept = try await checkFile("provision-map", folder + "/map.csv")
        #expect(kept.exitCode == 0, "\(kept.standardOutput)")
        #expect(kept.standardOutput.contains("enrolment    sent 4, valid 4"), "\(kept.standardOutput)")
        #expect(kept.standardOutput.contains("2 entry or exit scores marked as not taken (absent, n/a) left empty"), "\(kept.standardOutput)")

        let marks = try String(contentsOfFile: Self.root + "/Plugins/mis-csv/fixtures/good/sims-assessments.csv", encoding: .windowsCP1252)
        try marks.replacingOccurrences(of: "O'Neill,84,", with: "O'Neill,A,").replacingOccurrences(of: "Nowak,80,15/09/2025,80,", with: "Nowak,8O,15/09/2025,80,")
            .write(toFile: folder + "/marks.csv", atomically: true, encoding: .windowsCP1252)
        let skipped = try await checkFile("mis-csv", folder + "/marks.csv", ["--env", "MAPPING=sims-assessments", "--max-rejected", "0.5"])
        // Six results less the one not taken and the two of the row with a mistyped score.
        #expect(skipped.standardOutput.contains("assessment   sent 3, valid 3"), "\(skipped.standardOutput)")
        #expect(skipped.standardOutput.contains("1 scores marked as not taken (absent, n/a) skipped"), "\(skipped.standardOutput)")
        #expect(skipped.standardOutput.contains("NGRT SAS '8O' is not a number"), "\(skipped.standardOutput)")
    }

    /// The words schools write in a provision map's columns beside the template's: each row
    /// of this sheet was an error record, and the pupil's place in the intervention lost.
    @Test func aProvisionMapInASchoolsOwnWordsIsRead() async throws {
        let folder = try TestProcess.temporaryDirectory("map-words")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let sheet = """
            Intervention,Start date,UPN,Area of need,Wave,Delivery,Staff,Staff role,Status,Group size,Sessions per week,Minutes per session
            Reading,08/09/2025,W801200025001,Cognition & Learning (CL),Targeted,1:3,A. Smith,Class Teacher,Ongoing,3 pupils,3x weekly,30 mins
            Talk,08/09/2025,K801200025002,Communication & Interaction,Wave 2,Paired,B. Jones,LSA,In progress,2,x2,20 minutes
            Sensory circuit,08/09/2025,C801200025005,Sensory and/or Physical Needs,Specialist,1 to 1,OT service,Occupational Therapist,Finished,1,daily,15
            Nurture,08/09/2025,R801200025006,"Social, Emotional & Mental Health",Universal,Whole-class,C. Brown,SENDCo,Not started,28 children,1 per week,1 hour
            Speech,08/09/2025,Z801200025003,SLCN,Tier 3,Individual,SALT,Speech and Language Therapist,Stopped,,2 times,1.5 hrs
            Mixed,08/09/2025,W801200025001,CL - SEMH,2,group,,,active,,,

            """
        try sheet.write(toFile: folder + "/map.csv", atomically: true, encoding: .utf8)
        let result = try await checkFile("provision-map", folder + "/map.csv", ["--max-rejected", "0.5"])
        #expect(result.standardOutput.contains("enrolment    sent 5, valid 5"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("staff        sent 5, valid 5"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("Rejected: 1 "), "\(result.standardOutput)")
        // Two areas at once is not a guess to make.
        #expect(result.standardOutput.contains("Area of need 'CL - SEMH' is not an area of need (CI, CL, SEMH, SP) [map.csv:7]"),
                "\(result.standardOutput)")
        // The numbers with their words, as the provisions carry them.
        let run = try await output("import-provision-map", folder + "/map.csv")
        let provisions = run.standardOutput.split(separator: "\n").filter { $0.contains(#""type":"provision""#) }
        func figures(_ name: String) -> [String] {
            guard let line = provisions.first(where: { $0.contains(#""name":"\#(name)""#) }) else { return ["no provision \(name)"] }
            return ["group_size", "sessions_per_week", "minutes_per_session"].map { key in
                line.firstRange(of: #""\#(key)":"#).map { String(line[$0.upperBound...].prefix { $0 != "," && $0 != "}" }) } ?? "-"
            }
        }
        #expect(figures("Reading") == ["3", "3", "30"])
        #expect(figures("Talk") == ["2", "2", "20"])
        #expect(figures("Sensory circuit") == ["1", "5", "15"])
        #expect(figures("Nurture") == ["28", "1", "60"])
        #expect(figures("Speech") == ["-", "2", "90"])
    }

    /// "&" for "and" in a plan's kind: an EHC plan, not an error row.
    @Test func aPlanKindWrittenWithAnAmpersandIsRead() async throws {
        let folder = try TestProcess.temporaryDirectory("plan-kind")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let plans = try String(contentsOfFile: Self.root + "/Plugins/plans/fixtures/good/plans.csv", encoding: .utf8)
        #expect(plans.contains(",SEN support,"))
        try plans.replacingOccurrences(of: ",SEN support,", with: ",\"Education, Health & Care Plan\",")
            .write(toFile: folder + "/plans.csv", atomically: true, encoding: .utf8)
        let result = try await checkFile("plans", folder + "/plans.csv")
        #expect(result.exitCode == 0, "\(result.standardOutput)")
        #expect(result.standardOutput.contains("Rejected: 0 "), "\(result.standardOutput)")
    }

    /// A MIS report exported with its title and date above the columns: the header is the
    /// first of the next rows that has the columns needed (it once stopped the run saying
    /// they were all missing), and the data's line numbers are the file's.
    @Test func titleLinesAboveTheHeaderAreLeftOut() async throws {
        let folder = try TestProcess.temporaryDirectory("title-lines")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let marks = try String(contentsOfFile: Self.root + "/Plugins/mis-csv/fixtures/good/sims-assessments.csv", encoding: .windowsCP1252)
        try ("Marksheet: Reading,,,,,\r\nPrinted 01/12/2025 09:14,,,,,\r\n\r\n" + marks.replacingOccurrences(of: "Nowak,80,", with: "Nowak,8O,"))
            .write(toFile: folder + "/marks.csv", atomically: true, encoding: .windowsCP1252)
        let result = try await checkFile("mis-csv", folder + "/marks.csv", ["--env", "MAPPING=sims-assessments", "--max-rejected", "0.5"])
        #expect(result.standardOutput.contains("assessment   sent 4, valid 4"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("marks.csv: the columns' names are on line 4; the lines above them are left out"),
                "\(result.standardOutput)")
        #expect(result.standardOutput.contains("NGRT SAS '8O' is not a number [marks.csv:8]"), "\(result.standardOutput)")

        // The same with semicolons between the columns: the title says nothing of them.
        try ("Marksheet: Reading\r\n\r\n" + marks.replacingOccurrences(of: ",", with: ";"))
            .write(toFile: folder + "/semicolons.csv", atomically: true, encoding: .windowsCP1252)
        let semicolons = try await checkFile("mis-csv", folder + "/semicolons.csv", ["--env", "MAPPING=sims-assessments"])
        #expect(semicolons.standardOutput.contains("assessment   sent 6, valid 6"), "\(semicolons.standardOutput)")
        #expect(semicolons.standardOutput.contains("the columns' names are on line 3, separated by semicolons"), "\(semicolons.standardOutput)")

        let map = try String(contentsOfFile: Self.root + "/Plugins/provision-map/fixtures/good/provision-map.csv", encoding: .utf8)
        #expect(map.hasPrefix("School URN,"), "Foundation leaves out the byte-order mark")
        try ("Provision map, autumn 2025\n" + map).write(toFile: folder + "/map.csv", atomically: true, encoding: .utf8)
        let read = try await checkFile("provision-map", folder + "/map.csv")
        #expect(read.exitCode == 0, "\(read.standardOutput)")
        #expect(read.standardOutput.contains("enrolment    sent 4, valid 4"), "\(read.standardOutput)")
        #expect(!read.standardOutput.contains("ignoring columns"), "\(read.standardOutput)")
    }

    /// Reading ages written as years and months (7:04, 7y 10m) in a provision measured in
    /// months, and in a marksheet's months column, are months; one written as 7.04 is
    /// refused with the reason instead of being stored as seven months.
    @Test func readingAgesInYearsAndMonthsAreMonths() async throws {
        let folder = try TestProcess.temporaryDirectory("ages")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let map = try String(contentsOfFile: Self.root + "/Plugins/provision-map/fixtures/good/provision-map.csv", encoding: .utf8)
        #expect(map.contains("Zoé O'Neill,74,05/09/2025,83,") && map.contains("Amélie Brown,69,"))
        #expect(map.contains(",reading age months,6,"))
        try map.replacingOccurrences(of: "Zoé O'Neill,74,05/09/2025,83,", with: "Zoé O'Neill,6:02,05/09/2025,6y 11m,")
            .replacingOccurrences(of: ",reading age months,6,", with: ",reading age months,+6 months,")
            .replacingOccurrences(of: "Amélie Brown,69,", with: "Amélie Brown,5.09,")
            .write(toFile: folder + "/map.csv", atomically: true, encoding: .utf8)
        let result = try await checkFile("provision-map", folder + "/map.csv", ["--max-rejected", "0.5"])
        #expect(result.standardOutput.contains("enrolment    sent 3, valid 3"), "\(result.standardOutput)")
        #expect(result.standardOutput.contains("provision    sent 3, valid 3"), "a target gain of +6 months: \(result.standardOutput)")
        #expect(result.standardOutput.contains(
            "Entry score '5.09' is under 18 months, so it is most likely years: write the age in months (7 years 4 months is 88) or as years:months (7:04)"),
                "\(result.standardOutput)")

        let marks = try String(contentsOfFile: Self.root + "/Plugins/mis-csv/fixtures/good/sims-assessments.csv", encoding: .windowsCP1252)
        let asMonths = try await output("import-mis-csv", Self.root + "/Plugins/mis-csv/fixtures/good/sims-assessments.csv", environment: ["MAPPING": "sims-assessments"])
        try marks.replacingOccurrences(of: "O'Neill,84,15/09/2025,74,", with: "O'Neill,84,15/09/2025,6:02,")
            .write(toFile: folder + "/marks.csv", atomically: true, encoding: .windowsCP1252)
        let asYears = try await output("import-mis-csv", folder + "/marks.csv", environment: ["MAPPING": "sims-assessments"])
        #expect(asYears.exitCode == 0, "\(asYears.standardError)")
        #expect(asYears.standardOutput == asMonths.standardOutput)
    }

    @Test func aBrokenMappingIsNamedWithItsLine() async throws {
        let folder = try TestProcess.temporaryDirectory("mapping")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try "produces = \"pupil\"\nencodng = \"utf-8\"\n[columns]\nupn = \"UPN\"\nsurname = \"S\"\nforename = \"F\"\ndob = \"D\"\n"
            .write(toFile: folder + "/broken.toml", atomically: true, encoding: .utf8)
        let result = try await check("mis-csv", "good/sims-pupils-sen.csv", env: ["MAPPING=\(folder)/broken.toml"])
        #expect(result.exitCode == 1)
        #expect(result.standardOutput.contains("broken.toml:2: key 'encodng': is not a known setting; did you mean 'encoding'?"))
    }
}
