import Foundation
import Postgres
import ProvisionConfig
import ProvisionModel
import Subprocess

#if canImport(System)
    import System
#else
    @preconcurrency import SystemPackage
#endif

/// Why a transport did not accept a message. Temporary failures are retried with backoff.
public struct TransportFailure: Error, Sendable, CustomStringConvertible {
    /// True when trying again later may work (the message stays pending).
    public let temporary: Bool
    /// What went wrong, for `mail_outbox.last_error` and the log; never a password.
    public let message: String
    public var description: String { message }
}

/// Hands a message to the mail system.
public protocol MailTransport: Sendable {
    func deliver(_ message: [UInt8], recipients: [String], id: Int64) async throws(TransportFailure)
}

/// Writes each message as a file in a maildir (the embedded default): into `tmp/`, then
/// renamed into `new/`, so a reader never sees half a message.
public struct MaildirTransport: MailTransport {
    /// The maildir; `tmp/`, `new/` and `cur/` are made inside it when missing.
    public let folder: String

    /// A transport writing into `folder`.
    public init(folder: String) { self.folder = folder }

    public func deliver(_ message: [UInt8], recipients: [String], id: Int64) async throws(TransportFailure) {
        do {
            // The messages name pupils: the folders and files are the product user's alone.
            try PrivateFiles.createFolder(folder)
            for sub in ["tmp", "new", "cur"] { try PrivateFiles.createFolder("\(folder)/\(sub)") }
            let name = "\(Int(Date().timeIntervalSince1970)).M\(id)P\(getpid()).send-provision"
            // Written (and synced) whole under tmp/, then renamed into new/.
            try PrivateFiles.write(message, to: "\(folder)/tmp/\(name)")
            guard rename("\(folder)/tmp/\(name)", "\(folder)/new/\(name)") == 0 else {
                throw PrivateFiles.Failure(path: "\(folder)/new/\(name)", reason: String(cString: strerror(errno)))
            }
        } catch {
            throw TransportFailure(temporary: true, message: "cannot write to the maildir \(folder): \(error)")
        }
    }
}

/// Pipes each message to `sendmail -t -oi` (Postfix, Exim, …): exit 0 means queued by the
/// MTA, exit 75 (EX_TEMPFAIL) means try again later, anything else is a permanent failure.
public struct SendmailTransport: MailTransport {
    /// The sendmail program (Postfix's and Exim's take the same options).
    public let program: String

    /// A transport running `program`.
    public init(program: String) { self.program = program }

    public func deliver(_ message: [UInt8], recipients: [String], id: Int64) async throws(TransportFailure) {
        do {
            // sendmail reads the message from an unlinked temporary file, not a pipe: a
            // sendmail that exits before reading would otherwise break the pipe under us.
            let input = try Self.unlinkedFile(holding: message)
            let result = try await Subprocess.run(
                .path(FilePath(program)), arguments: ["-t", "-oi"],
                input: .fileDescriptor(input, closeAfterSpawningProcess: true),
                output: .discarded, error: .string(limit: 64 * 1024))
            switch result.terminationStatus {
            case .exited(0): return
            case .exited(75): throw TransportFailure(temporary: true, message: "sendmail: try again later (exit 75)")
            case .exited(let code):
                throw TransportFailure(temporary: false, message: "sendmail exited with status \(code): \(result.standardError.prefix(300))")
            case .signaled(let signal):
                throw TransportFailure(temporary: true, message: "sendmail was killed by signal \(signal)")
            }
        } catch let failure as TransportFailure {
            throw failure
        } catch {
            throw TransportFailure(temporary: true, message: "cannot run \(program): \(error)")
        }
    }

    /// A file descriptor, positioned at the start, of a file that no longer has a name.
    static func unlinkedFile(holding bytes: [UInt8]) throws -> FileDescriptor {
        var template = Array((NSTemporaryDirectory() + "/send-provision-mail-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw TransportFailure(temporary: true, message: "cannot create a temporary file: errno \(errno)") }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard count > 0 else {
                close(fd)
                throw TransportFailure(temporary: true, message: "cannot write a temporary file: errno \(errno)")
            }
            written += count
        }
        lseek(fd, 0, SEEK_SET)
        return FileDescriptor(rawValue: fd)
    }
}

/// What a flush did.
public struct FlushResult: Sendable, Equatable {
    /// Messages the transport accepted.
    public var sent = 0
    /// Messages that failed for now and wait for a retry.
    public var deferred = 0
    /// Messages given up on.
    public var failed = 0
    /// Nothing done yet.
    public init() {}
}

/// Delivers the outbox. Each message is claimed with FOR UPDATE SKIP LOCKED (several
/// mailers never send one message twice at once) and marked sent only after the transport
/// accepted it; a crash in between leaves it pending, so at worst it is handed over again
/// with the same Message-ID — never lost.
public struct Mailer: Sendable {
    /// Where messages are handed over.
    public let transport: any MailTransport
    /// After this many temporary failures a message is marked failed.
    public var maxAttempts = 10

    /// A mailer delivering through `transport`.
    public init(transport: any MailTransport) { self.transport = transport }

    /// The transport the configuration names.
    public static func transport(for config: ProvisionConfig.Configuration) -> any MailTransport {
        switch config.mail.transport {
        case .maildir: MaildirTransport(folder: config.mail.maildir)
        case .sendmail: SendmailTransport(program: config.mail.sendmailPath)
        case .smtp: SMTPTransport(config.mail)
        }
    }

    /// Delivers every message that was due when the flush began, one transaction each, and
    /// counts what happened. Each is handed over at most once: a message deferred early in a
    /// long flush (an MTA that is down, hundreds of messages) whose retry time comes before the
    /// flush ends waits for the next flush rather than being tried again at once.
    public func flush(_ db: PostgresConnection) async throws -> FlushResult {
        var result = FlushResult()
        let began = try await db.query("SELECT now()::text AS began").scalar(as: String.self)
        // One message per transaction: its row stays locked while the transport has it, and
        // a throw (a lost connection, say) rolls back, leaving the message pending.
        while let outcome = try await db.transaction({ db in try await deliverOne(db, dueBy: began) }) {
            switch outcome {
            case .sent: result.sent += 1
            case .deferred: result.deferred += 1
            case .failed: result.failed += 1
            }
        }
        return result
    }

    /// What became of one message.
    private enum Outcome: Sendable { case sent, deferred, failed }

    /// Delivers the next message due by `dueBy` (a timestamp), inside the caller's
    /// transaction; nil when there is none.
    private func deliverOne(_ db: isolated PostgresConnection, dueBy: String) async throws -> Outcome? {
        guard let row = try db.query(
            """
            SELECT id, array_to_json(recipients)::text AS recipients, convert_from(message, 'UTF8') AS message, attempts
              FROM mail_outbox WHERE state = 'pending' AND next_attempt_at <= $1::timestamptz
             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
            """, dueBy).singleRow()
        else { return nil }
        let id: Int64 = try row.decode("id")
        let attempts: Int = try row.decode("attempts")
        let message: String = try row.decode("message")
        // A JSON array, so an address whose display name holds a comma stays one address.
        let recipients = (try? JSONValue.parse(Array(try row.decode("recipients", as: String.self).utf8)))?
            .arrayValue?.compactMap(\.stringValue) ?? []
        do {
            try await transport.deliver(Array(message.utf8), recipients: recipients, id: id)
        } catch {
            let permanent = !error.temporary || attempts + 1 >= maxAttempts
            // Backoff: (attempt⁴ + 15) seconds, capped at six hours, with jitter (Backoff).
            let delay = Backoff.jittered(Double(min(21_600, (attempts + 1) * (attempts + 1) * (attempts + 1) * (attempts + 1) + 15)))
            try db.execute(
                """
                UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2, state = $3,
                       next_attempt_at = now() + make_interval(secs => $4)
                 WHERE id = $1
                """, id, error.message, permanent ? "failed" : "pending", delay)
            return permanent ? .failed : .deferred
        }
        try db.execute(
            "UPDATE mail_outbox SET state = 'sent', sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1", id)
        return .sent
    }
}
