import Foundation
import ProvisionModel

/// The SHA-256 of what a plugin will read: the file, or for a folder every file in it that
/// matches the plugin's `accepts` globs (relative path, size and content, in path order).
/// An unchanged checksum lets the supervisor skip a re-import of identical input.
public enum InputChecksum {
    public struct Missing: Error, Sendable, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// The files a run would read, sorted by relative path.
    public static func files(at path: String, accepts: [String]) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Missing(message: "the source \(path) does not exist")
        }
        guard isDirectory.boolValue else { return [path] }
        guard let walker = FileManager.default.enumerator(atPath: path) else {
            throw Missing(message: "the source folder \(path) cannot be read")
        }
        var matches: [String] = []
        while let relative = walker.nextObject() as? String {
            let name = (relative as NSString).lastPathComponent
            guard accepts.contains(where: { fnmatch($0, name, 0) == 0 }) else { continue }
            var childIsDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path + "/" + relative, isDirectory: &childIsDirectory), !childIsDirectory.boolValue {
                matches.append(relative)
            }
        }
        guard !matches.isEmpty else {
            throw Missing(message: "the source folder \(path) holds no files matching \(accepts.joined(separator: " "))")
        }
        return matches.sorted().map { path + "/" + $0 }
    }

    /// Hashes the input in 1 MiB reads, so any size takes constant memory.
    public static func compute(path: String, accepts: [String]) throws -> String {
        var hash = SHA256()
        for file in try files(at: path, accepts: accepts) {
            hash.update(Array(file.dropFirst(path.count).utf8))
            guard let handle = FileHandle(forReadingAtPath: file) else {
                throw Missing(message: "cannot read \(file)")
            }
            defer { try? handle.close() }
            var size = 0
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                size += chunk.count
                chunk.withUnsafeBytes { hash.update($0) }
            }
            hash.update(Array("\u{0}\(size)\u{0}".utf8))
        }
        return hash.hexDigest()
    }
}
