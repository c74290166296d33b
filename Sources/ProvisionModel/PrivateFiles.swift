import Foundation

/// Creates the files and folders that hold pupil data (state, mail, reports) readable by the
/// product's user alone, whatever the process's umask: they are created with their final
/// mode, never chmodded afterwards, and links planted in their place are refused.
public enum PrivateFiles {
    /// A file or folder could not be created privately; says which and why.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        /// The file or folder.
        public let path: String
        /// Why it could not be made privately.
        public let reason: String
        public var description: String { "\(path): \(reason)" }

        /// A failure at `path` for `reason`.
        public init(path: String, reason: String) {
            self.path = path
            self.reason = reason
        }
    }

    /// Creates `path` (and missing parents, with the system's defaults) as a folder of mode
    /// `mode`. An existing folder we own (or a link to one) is tightened to `mode`; a file,
    /// a link to anything else, or a folder owned by another user is refused.
    public static func createFolder(_ path: String, mode: mode_t = 0o700) throws(Failure) {
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path && !FileManager.default.fileExists(atPath: parent) {
            do {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            } catch {
                throw Failure(path: parent, reason: "cannot create the folder: \(error.localizedDescription)")
            }
        }
        if mkdir(path, mode) == 0 {
            if chmod(path, mode) != 0 { throw Failure(path: path, reason: String(cString: strerror(errno))) }
            return
        }
        let made = errno
        guard made == EEXIST else { throw Failure(path: path, reason: "cannot create the folder: \(String(cString: strerror(made)))") }
        var status = stat()
        guard lstat(path, &status) == 0 else { throw Failure(path: path, reason: String(cString: strerror(errno))) }
        // A link is followed only to a folder of our own (an operator's /var/lib/provision
        // pointing at a data disk); a link to anyone else's folder or to a file is refused.
        if status.st_mode & S_IFMT == S_IFLNK {
            guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFDIR, status.st_uid == geteuid() else {
                throw Failure(path: path, reason: "is a symbolic link to something that is not a folder of this user's; refusing to use it")
            }
        }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw Failure(path: path, reason: "exists and is not a folder; refusing to use it")
        }
        guard status.st_uid == geteuid() else {
            throw Failure(path: path, reason: "belongs to user \(status.st_uid), not to this process's user; refusing to use it")
        }
        if status.st_mode & 0o7777 != mode && chmod(path, mode) != 0 {
            throw Failure(path: path, reason: "cannot restrict its permissions: \(String(cString: strerror(errno)))")
        }
    }

    /// Writes `bytes` to `path` atomically as a new file of mode `mode`: a temporary file in
    /// the same folder, opened with `O_EXCL | O_NOFOLLOW`, synced, then renamed over `path`.
    /// A symbolic link at `path` is refused rather than followed or replaced.
    public static func write(_ bytes: some Collection<UInt8>, to path: String, mode: mode_t = 0o600) throws(Failure) {
        let contiguous = Array(bytes)
        try write(to: path, mode: mode) { write in contiguous.withUnsafeBytes { write($0) } }
    }

    /// As ``write(_:to:mode:)``, with the bytes handed over in pieces by `produce`, which
    /// calls the function it is given once per piece: a large file need not be whole in
    /// memory. A piece that cannot be written makes the later calls do nothing. Without
    /// `sync`, the file is renamed into place unsynced: for a cache, which a crash may leave
    /// empty or cut short but never half-replaced by another's bytes under its name.
    public static func write(
        to path: String, mode: mode_t = 0o600, sync: Bool = true, _ produce: ((UnsafeRawBufferPointer) -> Void) -> Void
    ) throws(Failure) {
        var status = stat()
        if lstat(path, &status) == 0 && status.st_mode & S_IFMT == S_IFLNK {
            throw Failure(path: path, reason: "is a symbolic link; refusing to write through it")
        }
        let folder = (path as NSString).deletingLastPathComponent
        let temporary = (folder.isEmpty ? "." : folder) + "/.\((path as NSString).lastPathComponent).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard descriptor >= 0 else {
            throw Failure(path: path, reason: "cannot create the file: \(String(cString: strerror(errno)))")
        }
        var failure: String?
        produce { buffer in
            guard failure == nil, let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(descriptor, base + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = String(cString: strerror(errno))
                    return
                }
                offset += written
            }
        }
        if failure == nil && fchmod(descriptor, mode) != 0 { failure = String(cString: strerror(errno)) }
        if failure == nil && sync && fsync(descriptor) != 0 { failure = String(cString: strerror(errno)) }
        close(descriptor)
        if failure == nil && rename(temporary, path) != 0 { failure = String(cString: strerror(errno)) }
        if let failure {
            unlink(temporary)
            throw Failure(path: path, reason: "cannot write the file: \(failure)")
        }
    }
}
