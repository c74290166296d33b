import Foundation
import Logging
import ProvisionConfig
import ProvisionModel

/// How an importer plugin is isolated from the rest of the machine (docs/security.md).
///
/// With `bwrap` the plugin runs under bubblewrap in new PID, network, IPC, UTS and mount
/// namespaces: it sees only `/usr` (with the usual `/bin`, `/lib` links), its own folder,
/// its executable, the one source file or folder (all read-only), a private tmpfs scratch
/// folder and its own `/proc`. The state folder, the database socket, the configuration and
/// every secret simply do not exist in its view, and it has no network. When the supervisor
/// is root the plugin is switched to an unprivileged account (`sandbox_user`) with no
/// capabilities before it starts; otherwise it runs in a user namespace of the supervisor's
/// own, unprivileged, user. Resource limits are set with setrlimit inside the sandbox.
/// `--die-with-parent` and the PID namespace mean that when the plugin's first process
/// ends, is killed or times out, every process it started dies with it.
public struct PluginSandbox: Sendable, Equatable {
    /// `plugins.sandbox`: bubblewrap, or none.
    public typealias Mode = Configuration.SandboxMode

    /// Whether plugins run under bubblewrap.
    public var mode: Mode
    /// The account plugins run as when the supervisor runs as root, or "dynamic": a fresh
    /// unprivileged uid and gid for each run.
    public var user: String
    /// Extra read-only paths the plugin may see.
    public var readOnlyPaths: [String]
    /// CPU time limit (RLIMIT_CPU).
    public var cpuSeconds: Int
    /// Address-space limit (RLIMIT_AS).
    public var memoryBytes: Int
    /// Largest file it may write (RLIMIT_FSIZE).
    public var fileSizeBytes: Int
    /// Processes it may have (RLIMIT_NPROC).
    public var maxProcesses: Int
    /// Files it may have open (RLIMIT_NOFILE).
    public var maxOpenFiles: Int
    /// Size of its private `/scratch` tmpfs.
    public var scratchBytes: Int
    /// Where bubblewrap is; found on the usual paths when nil.
    public var bubblewrap: String?

    /// A sandbox with every setting given.
    public init(
        mode: Mode = .bwrap, user: String = PluginSandbox.dynamicUser, readOnlyPaths: [String] = [], cpuSeconds: Int = 600,
        memoryBytes: Int = 4 << 30, fileSizeBytes: Int = 1 << 30, maxProcesses: Int = 256, maxOpenFiles: Int = 1024,
        scratchBytes: Int = 256 << 20, bubblewrap: String? = nil
    ) {
        self.mode = mode
        self.user = user
        self.readOnlyPaths = readOnlyPaths
        self.cpuSeconds = cpuSeconds
        self.memoryBytes = memoryBytes
        self.fileSizeBytes = fileSizeBytes
        self.maxProcesses = maxProcesses
        self.maxOpenFiles = maxOpenFiles
        self.scratchBytes = scratchBytes
        self.bubblewrap = bubblewrap
    }

    /// The sandbox the `[plugins]` settings describe.
    public init(_ plugins: Configuration.Plugins) {
        self.init(
            mode: plugins.sandbox, user: plugins.sandboxUser, readOnlyPaths: plugins.sandboxReadOnlyPaths,
            cpuSeconds: plugins.cpuSeconds, memoryBytes: plugins.memoryBytes, fileSizeBytes: plugins.fileSizeBytes,
            maxProcesses: plugins.maxProcesses, scratchBytes: plugins.scratchBytes)
    }

    /// `sandbox_user` meaning "a fresh unprivileged uid for each run" (the default).
    public static let dynamicUser = "dynamic"
    /// Where those uids come from: far above any account's, below the 32-bit limits.
    static let dynamicRange: ClosedRange<UInt32> = 2_100_000_000...2_140_000_000

    /// The folder plugins see as their working directory inside the sandbox.
    public static let scratchFolder = "/scratch"

    /// What to start: the program, its arguments, and the working directory to start it in.
    struct Command: Sendable, Equatable {
        let program: String
        let arguments: [String]
        /// Nil: the sandbox sets its own; the runner then needs no scratch folder on disk.
        let workingDirectory: String?
    }

    /// Builds the command that runs `executable --source source` in this sandbox.
    ///
    /// - Throws: ``PluginLaunchError`` when bubblewrap or the sandbox account is missing, or a
    ///   path the plugin needs does not exist.
    ///
    /// Besides the source, the plugin sees read-only: its folder and executable, the mapping
    /// presets shipped with the product, `plugins.sandbox_read_only`, and any value of the
    /// source's `env` that is an absolute path to an existing file or folder (a mapping file).
    func command(
        manifest: PluginManifest, source: String, environment: [String: String], scratch: String?
    ) throws(PluginLaunchError) -> Command {
        switch mode {
        case .none:
            return Command(program: manifest.executable, arguments: ["--source", source], workingDirectory: scratch)
        case .bwrap:
            let named = environment.values.filter { $0.hasPrefix("/") }.compactMap(Self.realPath)
            let shipped = InstalledFiles.folder("mappings").flatMap(Self.realPath)
            return try bubblewrapCommand(manifest: manifest, source: source, visible: named + (shipped.map { [$0] } ?? []))
        }
    }

    private func bubblewrapCommand(manifest: PluginManifest, source: String, visible: [String]) throws(PluginLaunchError) -> Command {
        let files = FileManager.default
        guard let bwrap = bubblewrap ?? Self.findProgram("bwrap") else {
            throw PluginLaunchError(
                message: "plugins.sandbox is 'bwrap' but bubblewrap is not installed: apt-get install -y bubblewrap "
                    + "(or set plugins.sandbox = \"none\" knowingly; see docs/security.md)")
        }
        guard let prlimit = Self.findProgram("prlimit") else {
            throw PluginLaunchError(message: "prlimit (util-linux) is not installed; it sets the plugin's resource limits")
        }
        guard let realSource = Self.realPath(source) else {
            throw PluginLaunchError(message: "the source \(source) does not exist")
        }
        guard let realExecutable = Self.realPath(manifest.executable), let realFolder = Self.realPath(manifest.folder) else {
            throw PluginLaunchError(message: "the plugin \(manifest.name)'s folder or executable has disappeared")
        }

        var arguments = [
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--hostname", "plugin",
        ]
        var dropToUser: (uid: UInt32, gid: UInt32)?
        if geteuid() == 0 && user == Self.dynamicUser {
            // A uid and gid of its own, in a range no account uses: the run's processes
            // count against nobody else's process limit, and it owns no file on the system.
            let id = UInt32.random(in: Self.dynamicRange)
            dropToUser = (id, id)
            arguments += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        } else if geteuid() == 0 {
            guard let entry = getpwnam(user) else {
                throw PluginLaunchError(
                    message: "plugins.sandbox_user '\(user)' is not an account on this machine; plugins run as it when "
                        + "the supervisor is root")
            }
            guard entry.pointee.pw_uid != 0 else {
                throw PluginLaunchError(message: "plugins.sandbox_user '\(user)' is root; choose an unprivileged account")
            }
            dropToUser = (entry.pointee.pw_uid, entry.pointee.pw_gid)
            // Only what switching to that account needs; it is gone once the switch is made.
            arguments += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        } else {
            arguments += ["--unshare-user", "--disable-userns"]
        }

        // The system's programs and libraries, read-only; merged-/usr links kept as links.
        var binds: [(kind: String, path: String)] = [("--ro-bind", "/usr")]
        for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            if let target = try? files.destinationOfSymbolicLink(atPath: top) {
                arguments += ["--symlink", target, top]
            } else if files.fileExists(atPath: top) {
                binds.append(("--ro-bind", top))
            }
        }
        // A few harmless system files programs expect; not passwd, not the config.
        for optional in ["/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime", "/etc/nsswitch.conf"]
        where files.fileExists(atPath: optional) {
            binds.append(("--ro-bind", optional))
        }
        if let runtime = Self.swiftRuntimeFolder, !runtime.hasPrefix("/usr/") { binds.append(("--ro-bind", runtime)) }
        for path in readOnlyPaths {
            guard let real = Self.realPath(path) else {
                throw PluginLaunchError(message: "plugins.sandbox_read_only names \(path), which does not exist")
            }
            binds.append(("--ro-bind", real))
        }
        for path in visible { binds.append(("--ro-bind", path)) }
        binds.append(("--ro-bind", realFolder))
        binds.append(("--ro-bind", realExecutable))
        binds.append(("--ro-bind", realSource))

        // The sandbox's own /proc, /dev, /tmp and scratch first: binds below /tmp (a source in
        // a temporary folder) are then mounted on top of the private /tmp, not hidden by it.
        arguments += [
            "--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--tmpfs", "/tmp",
            "--perms", "0777", "--size", String(scratchBytes), "--tmpfs", Self.scratchFolder,
        ]
        // Folders above each bound path are made world-traversable in the sandbox's own root,
        // so an unprivileged plugin reaches exactly the bound paths and nothing beside them.
        var made: Set<String> = ["/", "/tmp", "/proc", "/dev", Self.scratchFolder]
        for (_, path) in binds {
            var parents: [String] = []
            var parent = (path as NSString).deletingLastPathComponent
            while !made.contains(parent) && parent != "/" && !parent.isEmpty {
                parents.append(parent)
                parent = (parent as NSString).deletingLastPathComponent
            }
            for folder in parents.reversed() {
                arguments += ["--perms", "0755", "--dir", folder]
                made.insert(folder)
            }
        }
        // Shallower paths first, so a source inside the plugin's folder is mounted over it.
        for (kind, path) in binds.sorted(by: { $0.path.split(separator: "/").count < $1.path.split(separator: "/").count }) {
            arguments += [kind, path, path]
        }
        arguments += ["--chdir", Self.scratchFolder, "--"]
        if let (uid, gid) = dropToUser {
            guard let setpriv = Self.findProgram("setpriv") else {
                throw PluginLaunchError(message: "setpriv (util-linux) is not installed; it drops the plugin's privileges")
            }
            arguments += [
                setpriv, "--reuid=\(uid)", "--regid=\(gid)", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs", "--",
            ]
        }
        arguments += [
            prlimit, "--cpu=\(cpuSeconds)", "--as=\(memoryBytes)", "--fsize=\(fileSizeBytes)",
            "--nproc=\(maxProcesses)", "--nofile=\(maxOpenFiles)", "--core=0", "--",
            realExecutable, "--source", realSource,
        ]
        return Command(program: bwrap, arguments: arguments, workingDirectory: nil)
    }

    /// Logs a warning when plugins would run unconfined (`sandbox = "none"`) or the sandbox
    /// cannot run here; the daemon says so on every start.
    public static func warnIfWeak(_ plugins: Configuration.Plugins, logger: Logger) {
        let sandbox = PluginSandbox(plugins)
        if sandbox.mode == .none {
            logger.warning(
                "plugins.sandbox is \"none\": importer plugins run unconfined as this user and can read what it can read (docs/security.md)")
        } else if !sandbox.isAvailable {
            logger.error("plugins.sandbox is \"bwrap\" but bubblewrap is not installed: every import will fail until it is (apt-get install bubblewrap)")
        }
    }

    /// Whether bubblewrap can be found, for `provisionctl status` and start-up warnings.
    public var isAvailable: Bool { mode == .none || (bubblewrap ?? Self.findProgram("bwrap")) != nil }

    static func findProgram(_ name: String) -> String? {
        ["/usr/bin/", "/bin/", "/usr/sbin/", "/usr/local/bin/"].map { $0 + name }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The folder of the Swift runtime this program uses: the built-in importers, built by
    /// the same toolchain, load their runtime libraries from it.
    static let swiftRuntimeFolder: String? = {
        // /proc files report a size of 0, so read to the end rather than by size.
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/maps") else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() else { return nil }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let path = String(line[slash...])
            if path.hasSuffix("/libswiftCore.so") { return (path as NSString).deletingLastPathComponent }
        }
        return nil
    }()
}
