import Foundation
import ProvisionImport
import ProvisionStore
import ProvisionTestSupport
import Testing

/// Attacks on the import boundary from a hostile plugin, each run for real in the sandbox.
@Suite("plugin sandbox against hostile plugins")
struct PluginSandboxTests {
    @Test func aHostilePluginReachesNoDatabaseSecretConfigNetworkOrFolder() async throws {
        let h = try await ImportHarness.make("sandbox-attack")
        defer { h.cleanUp() }
        let cluster = try await TestPostgres.shared.server()
        let password = try #require(cluster.storedPassword)
        let config = try TestProcess.writeConfig(in: h.folder, databaseURL: h.url)
        let listener = try LoopbackListener()
        defer { listener.close() }
        let source = try h.source(ProtocolFixture.run(pupils: 4))
        let plugin = try TestPlugin.make(
            in: h.folder, interpreter: "/usr/bin/python3", program: "run.py",
            body: """
                import os, socket, sys
                def attempt(name, action):
                    try:
                        found = action()
                        print(("LEAK " if found else "safe ") + name, file=sys.stderr)
                    except Exception as error:
                        print("safe " + name + " (" + type(error).__name__ + ")", file=sys.stderr)
                def database():
                    s = socket.socket(socket.AF_UNIX)
                    s.connect("\(cluster.socketDirectory)/.s.PGSQL.5432")
                    return True
                def parent_environment():
                    text = open("/proc/%d/environ" % os.getppid(), "rb").read().decode("utf-8", "replace")
                    return "\(password)" in text or "postgresql" in text or "PGPASSWORD" in text
                def password_file():
                    return len(open("\(cluster.passwordFile)").read()) > 0
                def configuration():
                    return len(open("\(config)").read()) > 0
                def network():
                    socket.create_connection(("127.0.0.1", \(listener.port)), timeout=2)
                    return True
                def write_beside_source():
                    open("\(h.folder)/planted", "w").write("x")
                    return True
                def state_of_other_processes():
                    return any(name.isdigit() and int(name) > 3 and os.path.exists("/proc/%s/cmdline" % name)
                               and b"postgres" in open("/proc/%s/cmdline" % name, "rb").read() for name in os.listdir("/proc"))
                for name, action in [("database", database), ("parent-environment", parent_environment),
                                     ("password-file", password_file), ("configuration", configuration),
                                     ("network", network), ("write-beside-source", write_beside_source),
                                     ("other-processes", state_of_other_processes)]:
                    attempt(name, action)
                sys.stdout.write(open(sys.argv[2]).read())
                """)
        let before = try await h.fingerprint()
        let summary = try await h.pipeline.run(h.request(plugin, source: source))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "") \(summary.stderr)")
        for attack in ["database", "parent-environment", "password-file", "configuration", "network", "write-beside-source", "other-processes"] {
            #expect(summary.stderr.contains("safe \(attack)"), "\(attack): \(summary.stderr)")
        }
        #expect(!summary.stderr.contains("LEAK"), "\(summary.stderr)")
        #expect(!listener.wasContacted, "the plugin reached a loopback listener outside its sandbox")
        #expect(!FileManager.default.fileExists(atPath: h.folder + "/planted"))
        // Only the four valid pupils (and their assessments) were written.
        #expect(before["pupils"]?.hasPrefix("0:") == true)
        #expect(try await h.query("SELECT count(*) FROM pupils").scalar(as: Int.self) == 4)
    }

    @Test func childrenOfAPluginThatExitsNormallyDieWithIt() async throws {
        let h = try await ImportHarness.make("sandbox-children")
        defer { h.cleanUp() }
        let marker = Int.random(in: 100_000...999_999)
        let plugin = try TestPlugin.make(in: h.folder, body: """
            sleep \(marker)1 &
            setsid sleep \(marker)2 &
            nohup sh -c 'sleep \(marker)3' >/dev/null 2>&1 &
            cat "$2"
            """)
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 3))))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        #expect(await LiveProcesses.noneMatch("sleep \(marker)"), "survivors: \(LiveProcesses.matching("sleep \(marker)"))")
    }

    @Test func resourceLimitsApplyInsideTheSandbox() async throws {
        let h = try await ImportHarness.make("sandbox-limits")
        defer { h.cleanUp() }
        // A fork bomb stops at max_processes; a huge file stops at file_size_bytes.
        // Once the limit is reached nothing can fork, so the count and the output use only
        // the shell's built-ins.
        let plugin = try TestPlugin.make(in: h.folder, body: """
            head -c 3000000 /dev/zero > big 2>/dev/null; echo "file: $(wc -c < big)" >&2
            ( n=0; while [ $n -lt 40 ]; do sleep 3 & n=$((n+1)); done ) 2>/dev/null
            set -- /proc/[0-9]*; echo "processes: $#" >&2
            while IFS= read -r line; do printf '%s\n' "$line"; done < "$SOURCE_FILE"
            """)
        let source = try h.source(ProtocolFixture.run(pupils: 2))
        var request = h.request(plugin, source: source)
        request.environment = ["SOURCE_FILE": source]
        request.limits.sandbox.maxProcesses = 12
        request.limits.sandbox.fileSizeBytes = 1 << 20
        let summary = try await h.pipeline.run(request)
        #expect(summary.status == .succeeded, "\(summary.failure ?? "") \(summary.stderr)")
        let processes = try #require(summary.stderr.split(separator: "\n").first { $0.hasPrefix("processes: ") })
        let count = try #require(Int(processes.dropFirst("processes: ".count)))
        #expect(count <= 12, "\(summary.stderr)")
        #expect(summary.stderr.contains("file: 1048576"), "\(summary.stderr)")
    }

    @Test func aNulOrAnEscapeSequenceInStderrIsStoredEscapedAndTheRunRecorded() async throws {
        let h = try await ImportHarness.make("sandbox-stderr")
        defer { h.cleanUp() }
        let plugin = try TestPlugin.make(in: h.folder, body: #"printf 'before\000after \033[31mred\n' >&2; cat "$2""#)
        let summary = try await h.pipeline.run(h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 2))))
        #expect(summary.status == .succeeded, "\(summary.failure ?? "")")
        let stored = try await h.query("SELECT status, stderr_tail FROM import_runs WHERE id = $1", summary.runID).singleRow()
        #expect(try stored?.decode("status", as: String.self) == "succeeded")
        #expect(try stored?.decode("stderr_tail", as: String.self) == "before\\u{0}after \\u{1b}[31mred\n")
    }

    @Test func twoImportsOfOneSourceNeverRunAtOnce() async throws {
        let h = try await ImportHarness.make("sandbox-lock")
        defer { h.cleanUp() }
        let gate = try TestProcess.temporaryDirectory("sandbox-lock-gate")
        defer { try? FileManager.default.removeItem(atPath: gate) }
        let plugin = try TestPlugin.make(in: h.folder, body: """
            while [ ! -f "$GATE/open" ]; do sleep 0.1; done
            cat "$2"
            """)
        var request = h.request(plugin, source: try h.source(ProtocolFixture.run(pupils: 3)))
        request.environment = ["GATE": gate]
        let first = Task { try await h.pipeline.run(request) }
        // The first holds the source's lock while its plugin waits at the gate.
        let running = await eventually(seconds: 30, every: .milliseconds(50)) {
            (try? await h.query("SELECT count(*) FROM import_runs WHERE status = 'running'").scalar(as: Int.self)) == 1
        }
        #expect(running)
        let second = try await h.pipeline.run(request)
        #expect(second.status == .failed)
        #expect(second.failure?.contains("another import of source 'test-source' is running") == true)
        _ = FileManager.default.createFile(atPath: gate + "/open", contents: nil)
        let done = try await first.value
        #expect(done.status == .succeeded, "\(done.failure ?? "")")
        #expect(try await h.query("SELECT count(*) FROM pupils").scalar(as: Int.self) == 3)
    }
}

/// A TCP listener on 127.0.0.1 that records whether anyone connected.
final class LoopbackListener {
    let descriptor: Int32
    let port: Int

    init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0, listen(descriptor, 8) == 0 else { throw POSIXError(.EADDRINUSE) }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
        _ = fcntl(descriptor, F_SETFL, O_NONBLOCK)
    }

    /// Whether a connection is waiting to be accepted.
    var wasContacted: Bool {
        let client = accept(descriptor, nil, nil)
        if client >= 0 { Glibc.close(client) }
        return client >= 0
    }

    func close() { Glibc.close(descriptor) }
}
