import Foundation
import ProvisionModel
import ProvisionTestSupport
import Testing

/// Pupil data on disk is readable by the product's user alone, whatever the umask.
@Suite("files that hold pupil data are private")
struct PrivateFilesTests {
    static func mode(_ path: String) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? nil
    }

    @Test func stateMailAndReportsAreNotWorldReadableUnderUmask022() async throws {
        let lines = [ProtocolFixture.header(), ProtocolFixture.pupil(1, sen: "K"), ProtocolFixture.pupil(2), ProtocolFixture.end(["pupil": 2])]
        let (folder, config) = try await ImportCommandTests().setUp(
            "private-files", pluginBody: #"cat "$2""#, lines: lines, sencos: ["senco@fenland.example"])
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let previous = umask(0o022)
        defer { umask(previous) }
        let once = try await TestProcess.run(TestProcess.executable("provisiond"), ["--config", config, "--once"])
        #expect(once.exitCode == 0, "\(once.standardOutput)\(once.standardError)")

        let state = folder + "/state"
        #expect(Self.mode(state) == 0o700)
        let mail = try FileManager.default.contentsOfDirectory(atPath: state + "/mail/new")
        #expect(mail.count == 2, "a SENCO digest and a lead digest")
        for name in mail { #expect(Self.mode(state + "/mail/new/" + name) == 0o600, "\(name)") }
        for sub in ["", "/new", "/tmp", "/cur"] { #expect(Self.mode(state + "/mail" + sub) == 0o700, "mail\(sub)") }
        let reports = try FileManager.default.contentsOfDirectory(atPath: state + "/reports/139001")
        #expect(reports.count == 3)  // provision map, impact, needs
        for name in reports { #expect(Self.mode(state + "/reports/139001/" + name) == 0o600, "\(name)") }
        #expect(Self.mode(state + "/reports") == 0o700)

        // report --out: a new file is private, an existing 0644 one is replaced by a 0600 one,
        // and a symbolic link is refused rather than written through.
        let ctl = TestProcess.executable("provisionctl")
        let out = folder + "/map.html"
        try "old".write(toFile: out, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: out)
        let written = try await TestProcess.run(ctl, ["--config", config, "report", "provision-map", "--school", "139001", "--out", out])
        #expect(written.exitCode == 0, "\(written.standardError)")
        #expect(Self.mode(out) == 0o600)
        #expect(try String(contentsOfFile: out, encoding: .utf8).contains("Fenland Primary"))
        let target = folder + "/elsewhere.txt"
        try "untouched".write(toFile: target, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: folder + "/link.html", withDestinationPath: target)
        let refused = try await TestProcess.run(ctl, ["--config", config, "report", "provision-map", "--school", "139001", "--out", folder + "/link.html"])
        #expect(refused.exitCode == 64)
        #expect(refused.standardError.contains("is a symbolic link; refusing to write through it"), "\(refused.standardError)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "untouched")
    }

    @Test func aStateFolderMayBeALinkToAFolderOfOurOwnButNothingElse() throws {
        let folder = try TestProcess.temporaryDirectory("private-links")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(atPath: folder + "/disk", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: folder + "/state", withDestinationPath: folder + "/disk")
        try PrivateFiles.createFolder(folder + "/state")
        #expect(Self.mode(folder + "/disk") == 0o700)
        _ = FileManager.default.createFile(atPath: folder + "/file", contents: nil)
        try FileManager.default.createSymbolicLink(atPath: folder + "/to-file", withDestinationPath: folder + "/file")
        #expect(throws: PrivateFiles.Failure.self) { try PrivateFiles.createFolder(folder + "/to-file") }
        if geteuid() == 0, let nobody = getpwnam("nobody")?.pointee {
            try FileManager.default.createDirectory(atPath: folder + "/theirs", withIntermediateDirectories: true)
            #expect(chown(folder + "/theirs", nobody.pw_uid, nobody.pw_gid) == 0)
            try FileManager.default.createSymbolicLink(atPath: folder + "/to-theirs", withDestinationPath: folder + "/theirs")
            let refused = #expect(throws: PrivateFiles.Failure.self) { try PrivateFiles.createFolder(folder + "/to-theirs") }
            #expect(refused?.reason.contains("not a folder of this user's") == true)
        }
    }
}
