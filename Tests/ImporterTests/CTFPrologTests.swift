import Foundation
import ProvisionImport
import ProvisionTestSupport
import Testing

/// The ctf importer's checks before it parses: partial transfers, DOCTYPEs in other
/// encodings, bytes that are not UTF-8 in a file read as UTF-8.
@Suite("ctf prolog: transfer kind, DOCTYPE guard and bytes that are not text")
struct CTFPrologTests {
    static let root = BuiltInPluginCheckTests.root
    static let ctf: PluginManifest? = PluginCatalog.discover(in: [root + "/Plugins"]).plugin(named: "ctf")

    func check(_ path: String) async throws -> PluginCheck.Report {
        let manifest = try #require(Self.ctf)
        return await PluginCheck.run(manifest, source: path, schools: ["139001"], limits: PluginLimits(timeout: .seconds(60)))
    }

    @Test func aPartialTransferIsADeltaAndAFullOneASnapshot() async throws {
        let partial = try await check(Self.root + "/Plugins/ctf/fixtures/good/ctf-v19-sims.xml")
        #expect(partial.passes)
        #expect(partial.sourceKind == "delta")
        #expect(partial.outcome?.standardError.contains("DocumentQualifier is 'partial'") == true)
        let full = try await check(Self.root + "/Plugins/ctf/fixtures/good/ctf-v25-arbor.xml")
        #expect(full.passes)
        #expect(full.sourceKind == "snapshot")
        // A folder with one partial file is a delta as a whole.
        let folder = try await check(Self.root + "/Plugins/ctf/fixtures/good")
        #expect(folder.sourceKind == "delta")
    }

    func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let folder = try TestProcess.temporaryDirectory("ctf-prolog")
        let path = folder + "/" + name
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        return path
    }

    static let doctype = """
        <?xml version="1.0" encoding="UTF-16"?>
        <!DOCTYPE CTfile [<!ENTITY lol "lol">]>
        <CTfile><Header><DocumentQualifier>full</DocumentQualifier></Header></CTfile>
        """

    @Test(arguments: [true, false])
    func aDoctypeInUTF16IsRefused(bigEndian: Bool) async throws {
        var bytes: [UInt8] = bigEndian ? [0xFE, 0xFF] : [0xFF, 0xFE]
        for unit in Self.doctype.utf16 {
            bytes += bigEndian ? [UInt8(unit >> 8), UInt8(unit & 0xFF)] : [UInt8(unit & 0xFF), UInt8(unit >> 8)]
        }
        let report = try await check(try write(bytes, "utf16.xml"))
        #expect(!report.passes)
        #expect(report.outcome?.standardError.contains("declares a DOCTYPE or entities") == true, "\(report.outcome?.standardError ?? "")")
    }

    @Test func aDoctypeBeyondTheReadLimitIsRefused() async throws {
        let padding = "<!--" + String(repeating: " ", count: 5 << 20) + "-->\n"
        let text = "<?xml version=\"1.0\"?>\n" + padding + "<!DOCTYPE CTfile [<!ENTITY a \"a\">]>\n<CTfile/>\n"
        let report = try await check(try write(Array(text.utf8), "padded.xml"))
        #expect(!report.passes)
        #expect(report.outcome?.standardError.contains("does not start within the first 4 MiB") == true, "\(report.outcome?.standardError ?? "")")
    }

    @Test func anUnexpectedDeclaredEncodingIsRefused() async throws {
        let text = "<?xml version=\"1.0\" encoding=\"UTF-7\"?>\n+ADw-!DOCTYPE CTfile+AD4-\n<CTfile/>\n"
        let report = try await check(try write(Array(text.utf8), "utf7.xml"))
        #expect(!report.passes)
        #expect(report.outcome?.standardError.contains("declares the encoding 'utf-7'") == true, "\(report.outcome?.standardError ?? "")")
    }

    /// A good fixture with `declaration` in place of its own and, before its Header, a
    /// comment holding the byte 0xAE (Latin-1's ®, never UTF-8 on its own).
    func withLatin1Comment(declaration: String) throws -> [UInt8] {
        let good = try String(contentsOfFile: Self.root + "/Plugins/ctf/fixtures/good/ctf-v25-arbor.xml", encoding: .utf8)
        // The body as a single-byte export can write it: Ł is in neither Latin-1 nor Windows-1252.
        let body = good.replacingOccurrences(of: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CTfile>\n", with: "")
            .replacingOccurrences(of: "Łukasz", with: "Lukasz")
        return Array("\(declaration)\n<CTfile>\n<!-- exported by MIS".utf8) + [0xAE] + Array(" -->\n".utf8) + Array(body.utf8)
    }

    // FoundationXML force-unwraps a comment's text as UTF-8: this file crashed the importer.
    @Test func aCommentThatIsNotUTF8IsRefusedWithItsPlace() async throws {
        let report = try await check(try write(try withLatin1Comment(declaration: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"), "comment.xml"))
        #expect(!report.passes)
        #expect(report.outcome?.ending == .exited(65))
        #expect(report.outcome?.standardError.contains("comment.xml: line 3, column 21 is not UTF-8 text") == true, "\(report.outcome?.standardError ?? "")")
        #expect(report.outcome?.lines == 0)
    }

    @Test func elementsNestedBeyondAnyCTFsDepthAreRefused() async throws {
        let good = try String(contentsOfFile: Self.root + "/Plugins/ctf/fixtures/good/ctf-v25-arbor.xml", encoding: .utf8)
        let nested = String(repeating: "<a>", count: 100_000) + String(repeating: "</a>", count: 100_000)
        let text = good.replacingOccurrences(of: "<Surname>", with: nested + "<Surname>")
        let report = try await check(try write(Array(text.utf8), "nested.xml"))
        #expect(!report.passes)
        #expect(report.outcome?.ending == .exited(65))
        #expect(report.outcome?.standardError.contains(
            "nested.xml: elements nest more than 64 deep at line 15 (in CTfile/CTFpupilData/Pupil[1]/a/a/a/a/a/…)") == true,
            "\(report.outcome?.standardError ?? "")")
    }

    /// A file that says ISO-8859-1 but holds Windows-1252 (what Windows software writes): the
    /// byte 0x92 is O’Brien's apostrophe, not the control character U+0092, which the
    /// supervisor would refuse and so leave the pupil out.
    @Test func windowsBytesInAFileThatSaysLatin1AreReadAsWindowsWrites() async throws {
        let good = try String(contentsOfFile: Self.root + "/Plugins/ctf/fixtures/good/ctf-v25-arbor.xml", encoding: .utf8)
        let text = good.replacingOccurrences(of: "encoding=\"UTF-8\"", with: "encoding=\"ISO-8859-1\"")
            .replacingOccurrences(of: "Łukasz", with: "Lukasz")
        let parts = text.components(separatedBy: "<Surname>Nowak</Surname>")
        try #require(parts.count == 2)
        let bytes = Array(parts[0].utf8) + Array("<Surname>O".utf8) + [0x92] + Array("Brien</Surname>".utf8) + Array(parts[1].utf8)
        let path = try write(bytes, "windows.xml")
        let run = try await TestProcess.run(
            TestProcess.executable("import-ctf"), ["--source", path], environment: ["PROVISION_SCHOOLS": "139001"])
        #expect(run.exitCode == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains(#""surname":"O\#u{2019}Brien""#), "\(run.standardOutput)")
        let report = try await check(path)
        #expect(report.passes, "\(report.rejections)")
    }

    /// A file that says ISO-8859-1 but is UTF-8 throughout (a MIS that labels its export
    /// wrongly): read as labelled, Łukasz was Åukasz; UTF-8 bytes beyond ASCII cannot be
    /// Latin-1 text, so it is read as UTF-8 and the log says so.
    @Test func utf8InAFileThatSaysLatin1IsReadAsUTF8() async throws {
        let good = try String(contentsOfFile: Self.root + "/Plugins/ctf/fixtures/good/ctf-v25-arbor.xml", encoding: .utf8)
        #expect(good.contains("Łukasz"))
        let path = try write(Array(good.replacingOccurrences(of: "encoding=\"UTF-8\"", with: "encoding=\"ISO-8859-1\"").utf8), "mislabelled.xml")
        let run = try await TestProcess.run(
            TestProcess.executable("import-ctf"), ["--source", path], environment: ["PROVISION_SCHOOLS": "139001"])
        #expect(run.exitCode == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains(#""forename":"Łukasz""#), "\(run.standardOutput)")
        #expect(run.standardError.contains("mislabelled.xml: declares a single-byte encoding (such as ISO-8859-1) but is UTF-8 throughout; read as UTF-8"))
    }

    @Test func theSameByteInALatin1FileIsACharacter() async throws {
        let report = try await check(try write(try withLatin1Comment(declaration: "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"), "latin1.xml"))
        #expect(report.passes, "\(report.outcome?.standardError ?? "")")
        let original = try await check(Self.root + "/Plugins/ctf/fixtures/good/ctf-v25-arbor.xml")
        #expect(report.outcome?.lines == original.outcome?.lines)
        #expect(report.accepted == original.accepted)
    }
}
