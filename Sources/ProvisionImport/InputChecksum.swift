import Foundation
import ProvisionModel

/// The SHA-256 of a run's inputs: the plugin (name, version and executable) and what it
/// will read: the file, or for a folder every file in it that matches the plugin's
/// `accepts` globs (relative path, size and content, in path order). An unchanged checksum
/// lets the supervisor skip a re-import; a new plugin version on the same export re-runs.
public enum InputChecksum {
    /// The input to hash does not exist or cannot be read.
    public struct Missing: Error, Sendable, CustomStringConvertible {
        /// What could not be read, and why.
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

    /// ``compute(path:plugin:)`` on a thread of its own. Hashing a large export takes
    /// seconds of blocking reads (and a source on a stalled network mount can block for
    /// minutes); on the cooperative pool, two threads on a two-core server, that would stall
    /// health checks, heartbeats and every other source meanwhile.
    public static func computeOffPool(path: String, plugin: PluginManifest) async throws -> String {
        try await offPool { try compute(path: path, plugin: plugin) }
    }

    /// Runs `work` on a thread of its own and returns what it gives.
    static func offPool<Value: Sendable>(_ work: @escaping @Sendable () throws -> Value) async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try work() }) }
            thread.name = "provision-checksum"
            thread.start()
        }
    }

    /// Throws what ``compute(path:plugin:)`` would throw before reading a byte: the input is
    /// missing, or a file of it is not a regular file that can be opened. Checked before a
    /// plugin starts while the checksum is computed beside it.
    public static func checkReadable(path: String, accepts: [String]) throws {
        for file in try files(at: path, accepts: accepts) {
            try openRegularFile(file).close()
        }
    }

    /// Hashes the plugin and the input in 1 MiB reads, so any size takes constant memory.
    public static func compute(path: String, plugin: PluginManifest) throws -> String {
        var hash = SHA256()
        hash.update(Array("plugin \(plugin.name) \(plugin.version)\u{0}".utf8))
        try add(plugin.executable, as: "", to: &hash)
        for file in try files(at: path, accepts: plugin.accepts) {
            try add(file, as: String(file.dropFirst(path.count)), to: &hash)
        }
        return hash.hexDigest()
    }

    private static func add(_ file: String, as name: String, to hash: inout SHA256) throws {
        hash.update(Array(name.utf8))
        let handle = try openRegularFile(file)
        defer { try? handle.close() }
        var size = 0
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            size += chunk.count
            chunk.withUnsafeBytes { hash.update($0) }
        }
        hash.update(Array("\u{0}\(size)\u{0}".utf8))
    }

    /// Opens `file` (symbolic links followed) if it is a regular file. Anything else cannot
    /// be imported: a FIFO would hold the open, and the worker, until something wrote to it
    /// (and its data, once hashed, would be gone before the plugin read it), and a device
    /// such as /dev/zero never ends. Opened without blocking, then checked on the open
    /// descriptor, so a file swapped for a FIFO in between is caught too.
    static func openRegularFile(_ file: String) throws -> FileHandle {
        let descriptor = open(file, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw Missing(message: "cannot read \(file): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw Missing(message: "cannot read \(file): \(reason)")
        }
        let kind: String? = switch info.st_mode & S_IFMT {
        case S_IFREG: nil
        case S_IFIFO: "a FIFO"
        case S_IFCHR, S_IFBLK: "a device"
        case S_IFSOCK: "a socket"
        default: "of another type"
        }
        if let kind {
            close(descriptor)
            throw Missing(message: "\(file) is \(kind), not a regular file: only files are imported (is something other than the MIS writing there?)")
        }
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }
}
