import Foundation
import Postgres
import ProvisionStore
import ProvisionTestSupport
import Testing

@Suite("ProvisionDatabase connections")
struct DatabaseConnectionTests {
    struct Refused: Error {}

    @Test func withConnectionHasClosedTheSessionWhenItReturnsOrThrows() async throws {
        let database = ProvisionDatabase.external(try await TestPostgres.shared.freshDatabase("with-connection"))
        let (used, one) = try await database.withConnection(applicationName: "test-returns") { db in
            (db, try await db.query("SELECT 1").scalar(as: Int.self))
        }
        #expect(one == 1)
        #expect(await used.isOpen == false)

        nonisolated(unsafe) var thrown: PostgresConnection?
        await #expect(throws: Refused.self) {
            try await database.withConnection(applicationName: "test-throws") { db in
                thrown = db
                throw Refused()
            }
        }
        let failed = try #require(thrown)
        #expect(await failed.isOpen == false)
    }
}
