import Foundation
import ImporterKit
import ProvisionTestSupport
import Testing

@Suite("CSV reading")
struct CSVReaderTests {
    func rows(_ bytes: [UInt8], _ encoding: CSVEncoding = .utf8) throws -> [CSVItem] {
        let folder = try TestProcess.temporaryDirectory("csv")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let path = folder + "/f.csv"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        let reader = try CSVReader(path: path, encoding: encoding)
        var items: [CSVItem] = []
        while let item = reader.next() { items.append(item) }
        return items
    }

    func fields(_ item: CSVItem) -> [String]? {
        if case .row(_, let fields) = item { return fields }
        return nil
    }

    @Test func quotedFieldsBOMCRLFAndBlankRows() throws {
        let text = "\u{FEFF}a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\r\nlines\"\r\n\r\n , ,\r\nlast,row,here"
        let items = try rows(Array(text.utf8))
        #expect(items.count == 3)
        #expect(fields(items[0]) == ["a", "b", "c"])
        #expect(fields(items[1]) == ["x, y", "say \"hi\"", "two\r\nlines"])
        guard case .row(let line, let last) = items[2] else { return }
        #expect(line == 6)
        #expect(last == ["last", "row", "here"])
    }

    @Test func windows1252IsDecoded() throws {
        // "Zoë’s £5 €" in Windows-1252
        let bytes: [UInt8] = [0x5A, 0x6F, 0xEB, 0x92, 0x73, 0x2C, 0xA3, 0x35, 0x2C, 0x80, 0x0D, 0x0A]
        #expect(fields(try rows(bytes, .windows1252)[0]) == ["Zoë’s", "£5", "€"])
        // The same bytes are not UTF-8: that row is reported, not a crash.
        guard case .bad(let line, let reason) = try rows(bytes, .utf8)[0] else {
            Issue.record("expected a bad row")
            return
        }
        #expect(line == 1)
        #expect(reason.contains("column 1 is not valid utf-8"))
    }

    /// A stray quote swallows every row after it: that fails the file, naming the line, where
    /// one bad row would have let the rows it swallowed go unseen.
    @Test func aQuoteNeverClosedFailsTheFileNamingItsLine() throws {
        let items = try rows(Array("a,b\nok,1\n\"never closed,2\nmore,3\nrows,4\n".utf8))
        #expect(items.count == 3)
        #expect(fields(items[1]) == ["ok", "1"])
        guard case .failed(let line, let reason) = items[2] else {
            Issue.record("expected the file to fail: \(items)")
            return
        }
        #expect(line == 3)
        #expect(reason == "a quoted field opened on line 3 is not closed before the end of the file (a stray quote?): the rows after it cannot be read")
    }

    /// A quote closed far on by another stray one: past the longest field a template holds,
    /// it fails the file too, and reading stops there.
    @Test func aQuotedFieldLongerThanAnyTemplateHoldsFailsTheFile() throws {
        let swallowed = String(repeating: "A801200100001,Surname,Forename,2015-01-01\n", count: 2000)
        let items = try rows(Array(("a,b\n\"stray," + swallowed + "closed\",1\nafter,2\n").utf8))
        #expect(items.count == 2, "\(items.count) items")
        #expect(fields(items[0]) == ["a", "b"])
        guard case .failed(2, let reason)? = items.last else {
            Issue.record("expected the file to fail: \(items.last.map { "\($0)" } ?? "")")
            return
        }
        // 64 KiB of the swallowed rows, 42 bytes each, from line 3.
        #expect(reason.hasPrefix("a quoted field opened on line 2 runs on past line 1562 "), "\(reason)")
        #expect(reason.hasSuffix("(over 64 KiB; a stray quote?): the rows after it cannot be read"))
        // A long quoted field within the limit is read (a plan's text over several lines).
        let text = String(repeating: "Works best in a small group.\n", count: 150)
        let long = try rows(Array(("a,b\n\"" + text + "\",1\n").utf8))
        #expect(long.count == 2)
        #expect(fields(long[1]) == [text, "1"])
    }

    @Test func encodingIsSniffed() throws {
        let folder = try TestProcess.temporaryDirectory("sniff")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(FileManager.default.createFile(atPath: folder + "/u.csv", contents: Data("Zoë,Łukasz\n".utf8)))
        #expect(FileManager.default.createFile(atPath: folder + "/w.csv", contents: Data([0x5A, 0x6F, 0xEB, 0x0A])))
        #expect(FileManager.default.createFile(atPath: folder + "/a.csv", contents: Data("plain,ascii\n".utf8)))
        #expect(try EncodingSniffer.detect(folder + "/u.csv") == .utf8)
        #expect(try EncodingSniffer.detect(folder + "/w.csv") == .windows1252)
        #expect(try EncodingSniffer.detect(folder + "/a.csv") == .utf8)
    }

    /// A byte-order mark says what the file is, whatever was assumed: UTF-8 under a
    /// mapping for Windows-1252 once became ZoÃ« without a word, and UTF-16 was refused.
    @Test func aByteOrderMarkDecidesTheEncoding() throws {
        let folder = try TestProcess.temporaryDirectory("bom")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(FileManager.default.createFile(atPath: folder + "/u.csv", contents: Data("\u{FEFF}Zoë,Łukasz\n".utf8)))
        let reader = try CSVReader(path: folder + "/u.csv", encoding: .windows1252)
        #expect(reader.encoding == .utf8)
        #expect(fields(try #require(reader.next())) == ["Zoë", "Łukasz"])
        // Without the mark the encoding asked for is used: these bytes are "ZoÃ«" in Windows-1252.
        #expect(fields(try rows(Array("Zoë\n".utf8), .windows1252)[0]) == ["ZoÃ«"])

        // UTF-16 either way round, read as what it says whatever was asked; an emoji is a
        // surrogate pair, here cut by the end of the reader's first 64 KiB chunk.
        let long = String(repeating: "a", count: 32_766)
        let text = "\(long)🙂\tZoë\r\nŁukasz\t1\r\n"
        for (name, encoding, mark) in [
            ("le.csv", String.Encoding.utf16LittleEndian, [UInt8]([0xFF, 0xFE])), ("be.csv", .utf16BigEndian, [0xFE, 0xFF]),
        ] {
            #expect(FileManager.default.createFile(atPath: folder + "/" + name, contents: Data(mark) + (text.data(using: encoding) ?? Data())))
            for asked in CSVEncoding.allCases {
                let reader = try CSVReader(path: folder + "/" + name, encoding: asked, delimiter: "\t")
                #expect(reader.isUTF16 && reader.encoding == .utf8)
                #expect(fields(try #require(reader.next())) == [long + "🙂", "Zoë"], "\(name)")
                #expect(fields(try #require(reader.next())) == ["Łukasz", "1"], "\(name)")
                #expect(reader.next() == nil)
            }
        }
        // A lone surrogate, or a byte left over at the end, is a row that is not text; the
        // rows around it are read.
        let broken: [UInt8] = [0xFF, 0xFE] + Array("ok\n".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
            + [0x00, 0xD8, 0x0A, 0x00] + Array("fine\n".utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }) + [0x41]
        #expect(FileManager.default.createFile(atPath: folder + "/broken.csv", contents: Data(broken)))
        let brokenReader = try CSVReader(path: folder + "/broken.csv", encoding: .utf8)
        var items: [CSVItem] = []
        while let item = brokenReader.next() { items.append(item) }
        #expect(items.count == 4)
        #expect(fields(items[0]) == ["ok"])
        guard case .bad(2, _) = items[1] else {
            Issue.record("expected line 2 to be bad: \(items)")
            return
        }
        #expect(fields(items[2]) == ["fine"])
        guard case .bad(4, _) = items[3] else {
            Issue.record("expected line 4 to be bad: \(items)")
            return
        }
    }

    @Test func vocabularies() {
        #expect(SchoolVocabulary.yearGroup("Year 3") == "3")
        #expect(SchoolVocabulary.yearGroup("Reception") == "R")
        #expect(SchoolVocabulary.yearGroup("Y11") == "11")
        #expect(SchoolVocabulary.yearGroup("Year 15") == nil)
        #expect(SchoolVocabulary.gender("Prefer not to say") == "U")
        #expect(SchoolVocabulary.yearGroup("Year R") == "R")  // once nil: "r" is not a number
        #expect(SchoolVocabulary.yearGroup("Yr N2") == "N2")
        #expect(SchoolVocabulary.yearGroup("Year") == nil)
        #expect(SchoolVocabulary.needCode("Speech, Language and Communication Needs") == "SLCN")
        #expect(SchoolVocabulary.needCode("Autistic Spectrum Disorder") == "ASD")
        #expect(SchoolVocabulary.needCode("asd") == "ASD")
        #expect(SchoolVocabulary.senProvision("EHC Plan") == "E")
        // How other MIS and older CTFs write them.
        #expect(SchoolVocabulary.needCode("Moderate Learning Difficulties") == "MLD")
        #expect(SchoolVocabulary.needCode("ASD - Autistic Spectrum Disorder") == "ASD")
        #expect(SchoolVocabulary.needCode("Specific Learning Difficulty (SpLD)") == "SPLD")
        #expect(SchoolVocabulary.needCode("SpLD/Dyslexia") == "SPLD")
        #expect(SchoolVocabulary.needCode("Autism Spectrum Condition") == "ASD")
        #expect(SchoolVocabulary.needCode("Social, Emotional and Mental Health Difficulties") == "SEMH")
        #expect(SchoolVocabulary.needCode("Physical Disabilities") == "PD")
        #expect(SchoolVocabulary.needCode("Other difficulty or disability") == "OTH")
        for text in ["Dyslexia", "Learning", "Hi there", "Speech", "ADHD", ""] {
            #expect(SchoolVocabulary.needCode(text) == nil, "\(text)")
        }
        #expect(SchoolVocabulary.senProvision("P") == "K")  // School Action Plus, before 2014
        #expect(SchoolVocabulary.senProvision(" School Action ") == "K")
        #expect(SchoolVocabulary.senProvision("X") == nil)
        #expect(SchoolVocabulary.senProvision("Education, Health & Care Plan") == "E")
        #expect(SchoolVocabulary.senProvision("K - SEN Support") == "K")
        #expect(SchoolVocabulary.senProvision("E: EHC plan") == "E")
        #expect(SchoolVocabulary.senProvision("K - EHC plan") == nil)  // the code and the words disagree
        #expect(SchoolVocabulary.senProvision("SA+") == "K")
        for text in ["A", " Absent ", "N/A", "-", "x", "Not taken"] { #expect(SchoolVocabulary.notTaken(text), "\(text)") }
        for text in ["0", "", "AB", "Absent today", "na na"] { #expect(!SchoolVocabulary.notTaken(text), "\(text)") }
        #expect(DateLayout.dayMonthYear.parse("31/09/2025") == nil)
        #expect(DateLayout.dayMonthYear.parse("29/02/2024")?.iso == "2024-02-29")
    }

    /// Numbers as a person or Excel writes them, and nothing else: a decimal comma is not a
    /// number (it was read as a thousands separator: 18,50 became 1850).
    @Test func spreadsheetNumbersAreReadStrictly() {
        #expect(SpreadsheetNumber.parse("18.50") == 18.5)
        #expect(SpreadsheetNumber.parse(" 1,250.75 ") == 1250.75)
        #expect(SpreadsheetNumber.parse("12,345,678") == 12_345_678)
        #expect(SpreadsheetNumber.parse("-3") == -3)
        #expect(SpreadsheetNumber.parse(".5") == 0.5)
        #expect(SpreadsheetNumber.parse("£1,200", money: true) == 1200)
        #expect(SpreadsheetNumber.parse("-£4.20", money: true) == -4.2)
        #expect(SpreadsheetNumber.parse("£12") == nil)
        for text in ["18,50", "1,25", "12,3456", ",500", "1,,000", "5.", "1.2.3", "", "-", "nan", "inf", "1e5", "0x10", "١٢", "+3", "3 000"] {
            #expect(SpreadsheetNumber.parse(text, money: true) == nil, "\(text)")
        }
    }

    /// Reading ages as schools write them, in months or years and months; a bare number too
    /// small to be months is years, refused rather than stored as months.
    @Test func agesAreReadInMonthsOrYearsAndMonths() {
        #expect(AgeInMonths.read("88") == .months(88))
        #expect(AgeInMonths.read("7:04") == .months(88))
        #expect(AgeInMonths.read("7y 4m") == .months(88))
        #expect(AgeInMonths.read("7y4m") == .months(88))
        #expect(AgeInMonths.read("7 years 4 months") == .months(88))
        #expect(AgeInMonths.read("7yrs, 4mths") == .months(88))
        #expect(AgeInMonths.read("9y") == .months(108))
        #expect(AgeInMonths.read("7.04") == .looksLikeYears(7.04))
        #expect(AgeInMonths.read("8") == .looksLikeYears(8))
        for text in ["7:4", "7:12", "7y 12m", "4m 7y", "7 4", "seven", "7y 4", "7:04:00", "", "7.04y"] {
            #expect(AgeInMonths.read(text) == .notAnAge, "\(text)")
        }
    }

    /// Dates as Excel writes a column formatted otherwise than dd/mm/yyyy; still a real
    /// calendar date or nothing.
    @Test func excelsOtherDateFormatsAreRead() {
        let read = { (text: String) in DateLayout.dayMonthYear.parse(text)?.iso }
        #expect(read("19-Jan-25") == "2025-01-19")
        #expect(read("19 January 2025") == "2025-01-19")
        #expect(read("1 Sept 2025") == "2025-09-01")
        #expect(read("15/09/25") == "2025-09-15")
        #expect(read("31/12/29") == "2029-12-31")  // Excel's own window: 00–29 are this century…
        #expect(read("14/03/99") == "1999-03-14")  // …30–99 the last
        #expect(read("29-Feb-25") == nil)
        #expect(read("19-Ja-25") == nil)  // too short to be a month's name
        #expect(read("19-Foo-2025") == nil)
        #expect(read("19/001/2025") == nil)
        #expect(read("19/01/025") == nil)
        #expect(read("2025-01-19") == nil)  // ISO is the other layout…
        #expect(DateLayout.dayMonthYear.parseEitherWay("2025-01-19")?.iso == "2025-01-19")  // …read when asked for either
        #expect(DateLayout.iso.parseEitherWay("19/01/2025")?.iso == "2025-01-19")
        #expect(DateLayout.iso.parseEitherWay("19-01-2025")?.iso == "2025-01-19")
        #expect(DateLayout.iso.parseEitherWay("25-01-19") == nil)  // a two-digit year could be either
        #expect(DateLayout.dayMonthYear.parseEitherWay("25-01-19")?.iso == "2019-01-25")  // as the layout says
        #expect(DateLayout.dayMonthYear.parseEitherWay("2025-13-01") == nil)
        #expect(read("19/01/2025 00:00") == "2025-01-19")  // a date-and-time column
        #expect(read("19/01/2025 9:05:30") == "2025-01-19")
        for text in ["19/01/2025 25:00", "19/01/2025 10:60", "19/01/2025 noon", "19/01/2025 1:2"] {
            #expect(read(text) == nil, "\(text)")
        }
    }

    @Test func aReadErrorIsAFailureNotTheEndOfTheFile() throws {
        // A folder opens for reading but every read fails (EISDIR): before, that was an
        // empty file, and an import would have gone ahead with nothing from it.
        let folder = try TestProcess.temporaryDirectory("csv-unreadable")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let reader = try CSVReader(path: folder, encoding: .utf8)
        guard case .failed(let line, let reason)? = reader.next() else {
            Issue.record("expected the read to fail")
            return
        }
        #expect(line == 1)
        #expect(reason.hasPrefix("the file could not be read past line 1: "), "\(reason)")
        #expect(reader.next() == nil, "reported once")
    }
}
