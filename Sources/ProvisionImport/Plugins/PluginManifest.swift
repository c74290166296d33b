import Foundation
import ProvisionConfig

/// A plugin's `plugin.toml` (DESIGN §4), read and checked.
public struct PluginManifest: Sendable, Equatable {
    /// The plugin's name, as sources name it.
    public let name: String
    /// The plugin's own version, recorded with each run.
    public let version: String
    /// The protocol version it speaks (1).
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

    /// Reads `folder/plugin.toml`, refusing a plugin that someone other than its owner could
    /// have changed (like sshd's StrictModes): the folder, the manifest and the executable
    /// must belong to root or to this process's user and be writable by no one else, and
    /// `exec` must resolve, after symbolic links, inside the folder — or be the bare name of
    /// a built-in importer (`import-…`) installed beside this program.
    ///
    /// - Throws: ``ConfigError`` naming the manifest file, the line and the key.
    public static func load(folder: String) throws(ConfigError) -> PluginManifest {
        let folder = URL(fileURLWithPath: folder).standardizedFileURL.path
        let file = folder + "/plugin.toml"
        try PluginFileTrust.checkParent(of: folder, manifest: file)
        try PluginFileTrust.check(folder, manifest: file)
        try PluginFileTrust.check(file, manifest: file)
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
        let builtIn = !exec.contains("/") && exec.hasPrefix("import-") && !FileManager.default.fileExists(atPath: executable)
        if builtIn {
            let beside = Self.installedBinaries.appendingPathComponent(exec).path
            if FileManager.default.fileExists(atPath: beside) { executable = beside }
        }
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            let reason = FileManager.default.fileExists(atPath: executable) ? "is not executable (chmod +x?)" : "does not exist"
            throw root.error("exec", "\(executable) \(reason)")
        }
        // Where exec really leads: inside the folder, or (a built-in) beside this program.
        guard let real = PluginSandbox.realPath(executable), let realFolder = PluginSandbox.realPath(folder) else {
            throw root.error("exec", "\(executable) cannot be resolved")
        }
        let besideUs = PluginSandbox.realPath(Self.installedBinaries.path).map { real.hasPrefix($0 + "/") } ?? false
        guard real.hasPrefix(realFolder + "/") || (builtIn && besideUs) else {
            throw root.error(
                "exec", "'\(exec)' leads to \(real), outside the plugin's folder; a plugin's program must be inside its "
                    + "folder (or be a built-in importer's bare name)")
        }
        // The executable, and every folder between the plugin's folder and it.
        var inner = (real as NSString).deletingLastPathComponent
        while inner.hasPrefix(realFolder + "/") {
            try PluginFileTrust.check(inner, manifest: file)
            inner = (inner as NSString).deletingLastPathComponent
        }
        try PluginFileTrust.check(real, manifest: file)
        let accepts = try root.stringArray("accepts") ?? ["*"]
        guard !accepts.isEmpty else { throw root.error("accepts", "must list at least one file glob") }
        try root.finish()
        return PluginManifest(
            name: name, version: version, protocolVersion: protocolVersion, description: description,
            executable: executable, accepts: accepts, folder: folder)
    }
}

/// Refuses plugin files that someone other than their owner could have changed.
enum PluginFileTrust {
    /// The folder holding a plugin's folder: others must not be able to swap the plugin's
    /// folder for one of theirs (writable by others only with the sticky bit, as /tmp).
    static func checkParent(of folder: String, manifest: String) throws(ConfigError) {
        let parent = (folder as NSString).deletingLastPathComponent
        var status = stat()
        guard !parent.isEmpty, stat(parent, &status) == 0 else { return }
        if status.st_mode & 0o022 != 0 && status.st_mode & S_ISVTX == 0 {
            throw ConfigError(
                file: manifest,
                message: "\(parent) (which holds the plugin) can be changed by users other than its owner (mode "
                    + "\(String(status.st_mode & 0o777, radix: 8))), so the plugin could be swapped; refusing to run it. "
                    + "Fix it with: chmod go-w \(parent)")
        }
    }

    static func check(_ path: String, manifest: String) throws(ConfigError) {
        var status = stat()
        guard stat(path, &status) == 0 else {
            throw ConfigError(file: manifest, message: "\(path): \(String(cString: strerror(errno)))")
        }
        let owner = status.st_uid
        guard owner == 0 || owner == geteuid() else {
            throw ConfigError(
                file: manifest,
                message: "\(path) belongs to user \(owner), neither root nor the user this runs as; refusing to run the plugin")
        }
        guard status.st_mode & 0o022 == 0 else {
            throw ConfigError(
                file: manifest,
                message: "\(path) can be changed by users other than its owner (mode \(String(status.st_mode & 0o777, radix: 8))); "
                    + "refusing to run the plugin. Fix it with: chmod go-w \(path)")
        }
    }
}

/// The plugins found in the configured folders, and the folders whose manifest is broken.
public struct PluginCatalog: Sendable {
    /// A plugin folder that could not be used, and why.
    public struct Problem: Sendable, CustomStringConvertible {
        /// The folder.
        public let folder: String
        /// What is wrong with its manifest or files.
        public let error: ConfigError
        /// The plugin's name, when the manifest could be read that far.
        public var name: String? = nil
        public var description: String { error.description }
    }

    /// The plugins found, by folder order.
    public let plugins: [PluginManifest]
    /// Broken manifests; they never hide the good plugins.
    public let problems: [Problem]

    /// Looks in each of `directories` for sub-folders holding a `plugin.toml` (a directory
    /// that itself holds one counts too). Two folders providing one name are a configuration
    /// error: neither is used, and the problem names both (never "first one wins").
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
        var seen = Set<String>()
        for folder in folders {
            let folder = URL(fileURLWithPath: folder).standardizedFileURL.path
            guard seen.insert(folder).inserted else { continue }
            do {
                plugins.append(try PluginManifest.load(folder: folder))
            } catch {
                problems.append(Problem(folder: folder, error: error))
            }
        }
        let byName = Dictionary(grouping: plugins, by: \.name)
        for (name, same) in byName.sorted(by: { $0.key < $1.key }) where same.count > 1 {
            let places = same.map(\.folder)
            problems.append(Problem(
                folder: places[0],
                error: ConfigError(
                    file: places[0] + "/plugin.toml", key: "name",
                    message: "plugin '\(name)' is provided by \(places.count) folders (\(places.joined(separator: ", "))); "
                        + "neither is used until all but one are removed or renamed"),
                name: name))
        }
        plugins.removeAll { byName[$0.name, default: []].count > 1 }
        return PluginCatalog(plugins: plugins, problems: problems)
    }

    /// The plugin called `name`, if one was found.
    public func plugin(named name: String) -> PluginManifest? { plugins.first { $0.name == name } }

    /// Why no plugin called `name` can be used, in words for the person fixing it.
    public func unavailable(_ name: String, directories: [String]) -> String {
        if let clash = problems.first(where: { $0.name == name }) { return clash.description }
        var text = "no plugin named '\(name)' in \(directories.joined(separator: ", "))"
        if !problems.isEmpty {
            text += "; plugins refused: " + problems.map(\.description).joined(separator: "; ")
        }
        return text
    }
}
