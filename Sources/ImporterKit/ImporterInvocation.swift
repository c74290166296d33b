import Foundation

/// How the supervisor ran this importer (DESIGN §4): `--source PATH`, and the bound schools
/// in `PROVISION_SCHOOLS`.
public struct ImporterInvocation: Sendable {
    /// The file or folder to import (`--source`).
    public let source: String
    /// URNs the source is bound to (may be empty under `plugin check` without `--school`).
    public let schools: [String]
    /// The process environment, for the plugin's own settings (a `MAPPING` file, a profile).
    public let environment: [String: String]

    /// Reads the command line and environment; prints usage and exits 64 when they are wrong.
    public static func current(plugin: String) -> ImporterInvocation {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard arguments.count == 2, arguments[0] == "--source" else {
            Diagnostics.fail("usage: \(plugin) --source PATH (run by the SEND Provision supervisor)", status: 64)
        }
        let environment = ProcessInfo.processInfo.environment
        let schools = (environment["PROVISION_SCHOOLS"] ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        return ImporterInvocation(source: arguments[1], schools: schools, environment: environment)
    }

    /// The files to read: the source itself, or the files in the source folder whose names
    /// match one of `globs`, sorted by path so runs are repeatable.
    public func files(matching globs: [String]) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            throw ImporterError("the source \(source) does not exist")
        }
        guard isDirectory.boolValue else { return [source] }
        let names = try FileManager.default.contentsOfDirectory(atPath: source)
        return names.filter { name in globs.contains { fnmatch($0, name, 0) == 0 } }.sorted().map { source + "/" + $0 }
    }
}

extension ImporterInvocation {
    /// The files to read, or stops the importer (exit 65) saying why there are none.
    public func requireFiles(matching globs: [String], plugin: String) -> [String] {
        let files: [String]
        do {
            files = try self.files(matching: globs)
        } catch {
            Diagnostics.fail("\(plugin): \(error)")
        }
        guard !files.isEmpty else {
            // Workbooks are counted, not named: a file's name may be a pupil's.
            let names = (try? FileManager.default.contentsOfDirectory(atPath: source)) ?? []
            let workbooks = names.filter { name in
                [".xlsx", ".xls", ".xlsm", ".ods"].contains { name.lowercased().hasSuffix($0) }
            }
            let hint = workbooks.isEmpty
                ? "" : "; it holds \(workbooks.count) workbook(s), which are not read: save each as \"CSV UTF-8 (Comma delimited)\""
            Diagnostics.fail("\(plugin): no \(globs.joined(separator: " ")) files in \(source)\(hint)")
        }
        return files
    }
}

/// A problem that stops the importer; printed to stderr with a non-zero exit status.
public struct ImporterError: Error, CustomStringConvertible {
    public let description: String
    /// An error with the text to print.
    public init(_ description: String) { self.description = description }
}

/// stderr messages for IT staff. Never pupil data.
public enum Diagnostics {
    /// Writes one line to stderr.
    public static func note(_ message: String) {
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    /// Writes `message` to stderr and exits with `status` (65, EX_DATAERR, by default).
    public static func fail(_ message: String, status: Int32 = 65) -> Never {
        note(message)
        exit(status)
    }
}
