import Foundation
import ProvisionImport
import ProvisionTestSupport
import Testing

/// Plugin folders are checked like sshd's StrictModes before anything in them runs.
@Suite("plugin folders that could have been tampered with")
struct PluginFolderTrustTests {
    func folder(_ label: String, exec: String = "run.sh", name: String = "fixture") throws -> String {
        let parent = try TestProcess.temporaryDirectory(label)
        let plugin = parent + "/" + name
        try FileManager.default.createDirectory(atPath: plugin, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plugin)
        try "name = \"\(name)\"\nversion = \"1\"\nprotocol = 1\nexec = \"\(exec)\"\n"
            .write(toFile: plugin + "/plugin.toml", atomically: true, encoding: .utf8)
        try "#!/bin/sh\ncat \"$2\"\n".write(toFile: plugin + "/run.sh", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plugin + "/run.sh")
        return plugin
    }

    func refusal(_ folder: String) -> String? {
        do {
            _ = try PluginManifest.load(folder: folder)
            return nil
        } catch {
            return error.description
        }
    }

    @Test func aCleanFolderLoads() throws {
        let plugin = try folder("trust-clean")
        defer { try? FileManager.default.removeItem(atPath: plugin + "/..") }
        #expect(refusal(plugin) == nil)
    }

    @Test func aWorldWritableFolderOrExecutableIsRefused() throws {
        let plugin = try folder("trust-writable")
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: plugin)
        #expect(refusal(plugin)?.contains("can be changed by users other than its owner (mode 777)") == true, "\(refusal(plugin) ?? "loaded")")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plugin)
        try FileManager.default.setAttributes([.posixPermissions: 0o757], ofItemAtPath: plugin + "/run.sh")
        #expect(refusal(plugin)?.contains("run.sh can be changed by users other than its owner") == true, "\(refusal(plugin) ?? "loaded")")
        try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: plugin + "/plugin.toml")
        #expect(refusal(plugin)?.contains("plugin.toml can be changed by users other than its owner") == true)
    }

    @Test func aWritableFolderOnTheWayToTheExecutableOrAboveThePluginIsRefused() throws {
        let plugin = try folder("trust-inner", exec: "bin/run.sh")
        try FileManager.default.createDirectory(atPath: plugin + "/bin", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: plugin + "/run.sh", toPath: plugin + "/bin/run.sh")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plugin + "/bin")
        #expect(refusal(plugin) == nil, "\(refusal(plugin) ?? "")")
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: plugin + "/bin")
        #expect(refusal(plugin)?.contains("/bin can be changed by users other than its owner") == true, "\(refusal(plugin) ?? "loaded")")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: plugin + "/bin")
        let parent = (plugin as NSString).deletingLastPathComponent
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: parent)
        #expect(refusal(plugin)?.contains("(which holds the plugin) can be changed by users other than its owner") == true)
        try FileManager.default.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: parent)
        #expect(refusal(plugin) == nil, "a sticky folder such as /tmp cannot have the plugin swapped")
    }

    @Test func aFolderOwnedByAnotherUserIsRefused() throws {
        guard geteuid() == 0, let nobody = getpwnam("nobody")?.pointee else { return }
        let plugin = try folder("trust-owner")
        #expect(chown(plugin, nobody.pw_uid, nobody.pw_gid) == 0)
        #expect(refusal(plugin)?.contains("belongs to user \(nobody.pw_uid), neither root nor the user this runs as") == true)
    }

    @Test func anExecThatLeavesTheFolderIsRefused() throws {
        let climbing = try folder("trust-climb", exec: "../../../../../../../../bin/sh")
        #expect(refusal(climbing)?.contains("outside the plugin's folder") == true, "\(refusal(climbing) ?? "loaded")")
        let absolute = try folder("trust-absolute", exec: "/bin/sh")
        #expect(refusal(absolute)?.contains("outside the plugin's folder") == true)
        let linked = try folder("trust-link", exec: "linked")
        try FileManager.default.createSymbolicLink(atPath: linked + "/linked", withDestinationPath: "/bin/sh")
        #expect(refusal(linked)?.contains("leads to") == true, "\(refusal(linked) ?? "loaded")")
        // A bare name is looked for beside the product only for built-in importers.
        let daemon = try folder("trust-bare", exec: "provisiond")
        #expect(refusal(daemon)?.contains("does not exist") == true, "\(refusal(daemon) ?? "loaded")")
    }

    @Test func twoFoldersWithOneNameAreAnErrorNamingBoth() throws {
        let first = try folder("trust-twin-a")
        let second = try folder("trust-twin-b")
        let parents = [first, second].map { ($0 as NSString).deletingLastPathComponent }
        let catalog = PluginCatalog.discover(in: parents)
        #expect(catalog.plugin(named: "fixture") == nil)
        let message = catalog.unavailable("fixture", directories: parents)
        #expect(message.contains(first) && message.contains(second), "\(message)")
        #expect(message.contains("neither is used"))
    }
}
