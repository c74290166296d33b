import Foundation
import Postgres
import ProvisionAlerts
import ProvisionStore
import ProvisionTestSupport
import Synchronization
import Testing

/// The outbox's delivery loop, with a transport that records what it was given.
@Suite("mail outbox delivery")
struct MailerOutboxTests {
    final class RecordingTransport: MailTransport {
        let handed = Mutex<[[String]]>([])
        func deliver(_ message: [UInt8], recipients: [String], id: Int64) async throws(TransportFailure) {
            handed.withLock { $0.append(recipients) }
        }
    }

    func outbox(_ label: String) async throws -> PostgresConnection {
        let (db, _) = try await TestPostgres.shared.freshConnection(label)
        try await Migrator().migrate(db)
        return db
    }

    @Test func anAddressWhoseNameHoldsACommaStaysOneRecipient() async throws {
        let db = try await outbox("outbox-recipients")
        try await db.execute(
            """
            INSERT INTO mail_outbox (message_id, recipients, subject, message)
            VALUES ('<t1@test>', ARRAY['"Smith, Jo" <jo@school.test>', 'lead@trust.test'], 's', convert_to('body', 'UTF8'))
            """)
        let transport = RecordingTransport()
        #expect(try await Mailer(transport: transport).flush(db).sent == 1)
        #expect(transport.handed.withLock { $0 } == [["\"Smith, Jo\" <jo@school.test>", "lead@trust.test"]])
        await db.close()
    }

    @Test func aFailureInsideTheTransactionRollsItBackAndTheConnectionCarriesOn() async throws {
        let db = try await outbox("outbox-rollback")
        // A message whose bytes are not UTF-8 cannot be read: the flush fails…
        try await db.execute(
            "INSERT INTO mail_outbox (message_id, recipients, subject, message) VALUES ('<bad@test>', ARRAY['a@b.test'], 's', '\\xff'::bytea)")
        await #expect(throws: PostgresError.self) { _ = try await Mailer(transport: RecordingTransport()).flush(db) }
        // …and the connection is not left inside an aborted transaction.
        #expect(try await db.query("SELECT count(*) FROM mail_outbox WHERE state = 'pending'").scalar(as: Int.self) == 1)
        await db.close()
    }
}
