import Foundation
import ProvisionConfig

/// A plugin's `plugin.toml` (DESIGN §4), read and checked.
public struct PluginManifest: Sendable, Equatable {
    public let name: String
    public let version: String
    public let protocolVersion: Int
    public let description: String
    /// Absolute path of the executable.
    public let executable: String
    /// File globs the plugin reads from a directory source.
    public let accepts: [String]
    /// The plugin's folder.
    public let folder: String

    /// The folder of the running executable.
    static var installedBinaries: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// Reads `folder/plugin.toml`.
    ///
    /// - Throws: ``ConfigError`` naming the manifest file, the line and the key.
    public static func load(folder: String) throws(ConfigError) -> PluginManifest {
        let folder = URL(fileURLWithPath: folder).standardizedFileURL.path
        let file = folder + "/plugin.toml"
        let document = try TOMLDocument(contentsOf: file)
        let root = document.root
        let name = try root.requiredString("name")
        guard !name.isEmpty, name.utf8.allSatisfy({ ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }) else {
            throw root.error("name", "must be lower-case letters, digits and '-', got '\(name)'")
        }
        let version = try root.requiredString("version")
        guard let protocolVersion = try root.int("protocol") else { throw root.error("protocol", "is required (1)") }
        guard protocolVersion == 1 else {
            throw root.error("protocol", "is \(protocolVersion); this supervisor speaks protocol 1")
        }
        let description = try root.string("description") ?? ""
        let exec = try root.requiredString("exec")
        var executable = exec.hasPrefix("/") ? exec : URL(fileURLWithPath: folder).appendingPathComponent(exec).standardizedFileURL.path
        // A bare name that is not in the folder is looked for beside this program: the
        // built-in importers are built and installed next to provisiond and provisionctl.
        if !exec.contains("/") && !FileManager.default.fileExists(atPath: executable) {
            let beside = Self.installedBinaries.appendingPathComponent(exec).path
            if FileManager.default.fileExists(atPath: beside) { executable = beside }
        }
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            let reason = FileManager.default.fileExists(atPath: executable) ? "is not executable (chmod +x?)" : "does not exist"
            throw root.error("exec", "\(executable) \(reason)")
        }
        let accepts = try root.stringArray("accepts") ?? ["*"]
        guard !accepts.isEmpty else { throw root.error("accepts", "must list at least one file glob") }
        try root.finish()
        return PluginManifest(
            name: name, version: version, protocolVersion: protocolVersion, description: description,
            executable: executable, accepts: accepts, folder: folder)
    }
}

/// The plugins found in the configured folders, and the folders whose manifest is broken.
public struct PluginCatalog: Sendable {
    public struct Problem: Sendable, CustomStringConvertible {
        public let folder: String
        public let error: ConfigError
        public var description: String { error.description }
    }

    public let plugins: [PluginManifest]
    /// Broken manifests; they never hide the good plugins.
    public let problems: [Problem]

    /// Looks in each of `directories` for sub-folders holding a `plugin.toml` (a directory
    /// that itself holds one counts too). Later duplicates of a name are reported as problems.
    public static func discover(in directories: [String]) -> PluginCatalog {
        var plugins: [PluginManifest] = []
        var problems: [Problem] = []
        let files = FileManager.default
        var folders: [String] = []
        for directory in directories {
            if files.fileExists(atPath: directory + "/plugin.toml") { folders.append(directory) }
            let children = ((try? files.contentsOfDirectory(atPath: directory)) ?? []).sorted()
            for child in children where files.fileExists(atPath: "\(directory)/\(child)/plugin.toml") {
                folders.append("\(directory)/\(child)")
            }
        }
        for folder in folders {
            do {
                let manifest = try PluginManifest.load(folder: folder)
                if let first = plugins.first(where: { $0.name == manifest.name }) {
                    problems.append(Problem(folder: folder, error: ConfigError(
                        file: folder + "/plugin.toml", key: "name",
                        message: "plugin '\(manifest.name)' is already provided by \(first.folder); this one is ignored")))
                } else {
                    plugins.append(manifest)
                }
            } catch {
                problems.append(Problem(folder: folder, error: error))
            }
        }
        return PluginCatalog(plugins: plugins, problems: problems)
    }

    public func plugin(named name: String) -> PluginManifest? { plugins.first { $0.name == name } }
}
