import Foundation
import Postgres
import ProvisionTestSupport
import Testing

@Suite("libpq layer")
struct PostgresConnectionTests {
    @Test func roundTripsTypesAndNulls() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("types")
        let instant = Date(timeIntervalSince1970: 1_790_000_000.25)
        let id = UUID()
        let row = try await db.query(
            "SELECT $1::int AS i, $2::bigint AS b, $3::float8 AS d, $4::bool AS t, $5::text AS s,"
                + " $6::timestamptz AS at, $7::uuid AS id, $8::text AS missing, $9::text AS accents",
            42, Int64(9_000_000_000), 2.5, true, "tab\there", instant, id, String?.none, "Zoë Ōtsuka 🙂"
        ).singleRow()
        let values = try #require(row)
        #expect(try values.decode("i", as: Int.self) == 42)
        #expect(try values.decode("b", as: Int64.self) == 9_000_000_000)
        #expect(try values.decode("d", as: Double.self) == 2.5)
        #expect(try values.decode("t", as: Bool.self) == true)
        #expect(try values.decode("s", as: String.self) == "tab\there")
        #expect(try values.decode("at", as: Date.self) == instant)
        #expect(try values.decode("id", as: UUID.self) == id)
        #expect(try values.decode("missing", as: String?.self) == nil)
        #expect(try values.decode("accents", as: String.self) == "Zoë Ōtsuka 🙂")
        // The session's settings, whatever the server's defaults.
        let settings = try #require(try await db.query(
            "SELECT current_setting('TimeZone') AS zone, current_setting('DateStyle') AS style, current_setting('jit') AS jit"
        ).singleRow())
        #expect(try settings.decode("zone", as: String.self) == "UTC")
        #expect(try settings.decode("style", as: String.self).hasPrefix("ISO,"))
        #expect(try settings.decode("jit", as: String.self) == "off")
        await db.close()
    }

    @Test func decodingErrorsNameTheColumn() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("decode")
        let row = try #require(try await db.query("SELECT NULL::int AS score, 'abc' AS year_group").singleRow())
        let nullError = #expect(throws: PostgresError.self) { try row.decode("score", as: Int.self) }
        #expect(nullError?.column == "score")
        #expect(nullError?.code == .decoding)
        let typeError = #expect(throws: PostgresError.self) { try row.decode("year_group", as: Int.self) }
        #expect(typeError?.column == "year_group")
        let missing = #expect(throws: PostgresError.self) { try row.decode("nope", as: Int.self) }
        #expect(missing?.column == "nope")
        await db.close()
    }

    @Test func cellsAreReadInPlaceAndCheckedLikeDecodedRows() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("cells")
        let cells = try await db.queryCells(
            """
            SELECT * FROM (VALUES (1, '-9223372036854775808'::bigint, 12.25::numeric, 'NGRT'::text, NULL::text),
                                  (2, 9223372036854775807, -0.5, 'NGRT', 'x'),
                                  (3, 0, 1e-3, 'NGRTs', NULL)) AS v (n, big, score, test, note)
            ORDER BY n
            """)
        #expect(cells.rowCount == 3 && cells.columnCount == 5)
        #expect(try cells.int(2, 0) == 3)
        #expect(try cells.int64(0, 1) == Int64.min)
        #expect(try cells.int64(1, 1) == Int64.max)
        #expect(try cells.double(0, 2) == 12.25)
        #expect(try cells.double(1, 2) == -0.5)
        #expect(try cells.double(2, 2) == 0.001)
        #expect(try cells.text(1, 4) == "x")
        #expect(try cells.isNull(0, 4) && !cells.isNull(1, 4))
        // Equal text, different text of another length, NULL against NULL and against text.
        #expect(try cells.same(3, 0, 1))
        #expect(try !cells.same(3, 1, 2))
        #expect(try cells.same(4, 0, 2))
        #expect(try !cells.same(4, 0, 1))
        // A NULL, a word, a number too big, a position outside: errors naming the column.
        let null = #expect(throws: PostgresError.self) { try cells.int(0, 4) }
        #expect(null?.column == "note" && null?.code == .decoding)
        let word = #expect(throws: PostgresError.self) { try cells.int64(0, 3) }
        #expect(word?.column == "test")
        let fraction = #expect(throws: PostgresError.self) { try cells.int64(0, 2) }
        #expect(fraction?.column == "score")
        let outside = #expect(throws: PostgresError.self) { try cells.text(3, 0) }
        #expect(outside?.code == .decoding)
        let tooBig = try await db.queryCells("SELECT '9223372036854775808'::numeric AS over")
        #expect(throws: PostgresError.self) { try tooBig.int64(0, 0) }
        #expect(try tooBig.double(0, 0) == 9_223_372_036_854_775_808)
        await db.close()
    }

    @Test func numbersReadInPlaceAreThoseStrtodGives() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("cellnumbers")
        // Whole numbers and decimals of every scale up to 9 places, of either sign, as the
        // server prints them; then longer ones, which take strtod's own path.
        let cells = try await db.queryCells(
            """
            SELECT v::text AS shown, v FROM (
                SELECT round((i::numeric * 7919 % 1000003) / 10::numeric ^ (i % 10), i % 10) * (CASE WHEN i % 3 = 0 THEN -1 ELSE 1 END) AS v
                  FROM generate_series(1, 20000) AS i
                UNION ALL SELECT unnest('{0, -0, 0.1, 0.3, 2.675, 102, 999999999999999, 9007199254740993, 123456789.0123456789,
                                          0.000000000000000000000000001, 1.7976931348623157, 1e300}'::numeric[])) AS numbers
            """)
        #expect(cells.rowCount == 20012)
        var differing = 0
        for row in 0..<cells.rowCount {
            let expected = try #require(Double(try cells.text(row, 0)))
            if try cells.double(row, 1).bitPattern != expected.bitPattern { differing += 1 }
        }
        #expect(differing == 0)
        #expect(try cells.double(20011, 1) == 1e300)
        await db.close()
    }

    @Test func uniqueViolationCarriesSQLStateAndDetail() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("unique")
        try await db.execute("CREATE TABLE school (urn text PRIMARY KEY)")
        try await db.execute("INSERT INTO school VALUES ($1)", "139001")
        let error = await #expect(throws: PostgresError.self) {
            try await db.execute("INSERT INTO school VALUES ($1)", "139001")
        }
        #expect(error?.sqlState == SQLState.uniqueViolation)
        #expect(error?.code == .server)
        #expect(error?.detail?.contains("already exists") == true)
        #expect(error?.statement == "INSERT INTO school VALUES ($1)")
        // What reaches logs and tables names the table and constraint, never the row's values.
        let text = try #require(error?.description)
        #expect(text.contains(#"table "school""#) && text.contains(#"constraint "school_pkey""#), "\(text)")
        #expect(!text.contains("139001"), "\(text)")
        #expect(error?.debugDescription.contains("Key (urn)=(139001)") == true)
        // The connection is still usable after a statement error.
        #expect(try await db.query("SELECT count(*) AS n FROM school").scalar(as: Int.self) == 1)
        await db.close()
    }

    @Test func parametersAreNeverSpliced() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("inject")
        try await db.execute("CREATE TABLE pupil (surname text)")
        let hostile = "O'Brien'); DROP TABLE pupil; --"
        try await db.execute("INSERT INTO pupil VALUES ($1)", hostile)
        #expect(try await db.query("SELECT surname FROM pupil").scalar(as: String.self) == hostile)
        // A NUL byte cannot be sent as a C string: refused, not truncated.
        let error = await #expect(throws: PostgresError.self) {
            try await db.execute("INSERT INTO pupil VALUES ($1)", "A\u{0}B")
        }
        #expect(error?.code == .nulCharacter)
        #expect(try await db.query("SELECT count(*) FROM pupil").scalar(as: Int.self) == 1)
        await db.close()
    }

    @Test func transactionRollsBackOnThrow() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("rollback")
        try await db.execute("CREATE TABLE t (n int)")
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await db.transaction { db in
                try db.execute("INSERT INTO t VALUES (1)")
                throw Boom()
            }
        }
        #expect(try await db.query("SELECT count(*) FROM t").scalar(as: Int.self) == 0)
        try await db.transaction { db in try db.execute("INSERT INTO t VALUES (2)") }
        #expect(try await db.query("SELECT count(*) FROM t").scalar(as: Int.self) == 1)
        await db.close()
    }

    @Test func swallowedErrorInsideTransactionIsNotReportedAsCommitted() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("swallow")
        try await db.execute("CREATE TABLE t (n int PRIMARY KEY)")
        await #expect(throws: PostgresError.self) {
            try await db.transaction { db in
                try db.execute("INSERT INTO t VALUES (1)")
                _ = try? db.execute("INSERT INTO t VALUES (1)")  // fails; the transaction is now aborted
            }
        }
        #expect(try await db.query("SELECT count(*) FROM t").scalar(as: Int.self) == 0)
        await db.close()
    }

    /// A `[String]` parameter reaches the server element for element, whatever it holds.
    @Test func textArraysKeepQuotesBackslashesAndSeparators() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("arrays")
        let elements = ["plain", "", "Siân \"Sid\" O'Neil", "back\\slash", "\\\"", "a,b{c}d", " spaced ", "NULL", "line\nbreak"]
        let rows = try await db.query("SELECT v FROM unnest($1::text[]) WITH ORDINALITY AS u (v, n) ORDER BY n", [elements]).rows
        #expect(try rows.map { try $0.decode("v", as: String.self) } == elements)
        await db.close()
    }

    @Test func copyInStoresEscapedMultibyteRows() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("copy")
        try await db.execute("CREATE TABLE staged (n int, name text, note text)")
        var batches: [[[String?]]] = [
            [["1", "Siân", "line\nbreak"], ["2", "Zoë\\back", nil]],
            (3...5000).map { [String($0), "Łukasz \($0)", "tab\tin"] },
        ]
        let stored = try await db.copyIn("COPY staged (n, name, note) FROM STDIN") {
            batches.isEmpty ? nil : batches.removeFirst()
        }
        #expect(stored == 5000)
        let rows = try await db.query("SELECT name, note FROM staged WHERE n <= 2 ORDER BY n").rows
        #expect(try rows[0].decode("name", as: String.self) == "Siân")
        #expect(try rows[0].decode("note", as: String.self) == "line\nbreak")
        #expect(try rows[1].decode("name", as: String.self) == "Zoë\\back")
        #expect(try rows[1].decode("note", as: String?.self) == nil)
        await db.close()
    }

    /// Rows written field by field (as the import stages records) arrive as the same values,
    /// escapes and NULLs included, as rows given as lists.
    @Test func rowsEncodedFieldByFieldArriveAsWritten() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("copy-fields")
        try await db.execute("CREATE TABLE staged (n int, name text, note text, extra text)")
        try await db.startCopy("COPY staged (n, name, note, extra) FROM STDIN")
        var bytes: [UInt8] = []
        CopyText.appendField("1", to: &bytes, first: true)
        CopyText.appendField("Zoë\\back\ttab", to: &bytes)
        CopyText.appendNulls(2, to: &bytes)
        CopyText.endRow(&bytes)
        CopyText.appendField("2", to: &bytes, first: true)
        CopyText.appendField(nil, to: &bytes)
        CopyText.appendField("line\r\nbreak", to: &bytes)
        CopyText.appendField("", to: &bytes)
        CopyText.endRow(&bytes)
        try await db.copyEncodedRows(bytes)
        #expect(try await db.finishCopy() == 2)
        let rows = try await db.query(
            "SELECT coalesce(name, '<null>') || '|' || coalesce(note, '<null>') || '|' || coalesce(extra, '<null>') AS row FROM staged ORDER BY n"
        ).rows.map { try $0.decode("row", as: String.self) }
        #expect(rows == ["Zoë\\back\ttab|<null>|<null>", "<null>|line\r\nbreak|"])
        await db.close()
    }

    @Test func failedCopyReportsServerErrorAndLeavesConnectionUsable() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("copyfail")
        try await db.execute("CREATE TABLE staged (n int NOT NULL)")
        var sent = false
        let error = await #expect(throws: PostgresError.self) {
            _ = try await db.copyIn("COPY staged (n) FROM STDIN") {
                if sent { return nil }
                sent = true
                return [["1"], ["not a number"]]
            }
        }
        #expect(error?.sqlState == "22P02")
        #expect(try await db.query("SELECT count(*) FROM staged").scalar(as: Int.self) == 0)
        // A producer that throws aborts the COPY.
        struct Stop: Error {}
        await #expect(throws: Stop.self) {
            _ = try await db.copyIn("COPY staged (n) FROM STDIN") { throw Stop() }
        }
        #expect(try await db.query("SELECT 1").scalar(as: Int.self) == 1)
        // COPY through query() is refused without wedging the connection.
        await #expect(throws: PostgresError.self) { try await db.query("COPY staged FROM STDIN") }
        #expect(try await db.query("SELECT 1").scalar(as: Int.self) == 1)
        await db.close()
    }

    @Test func copyOutStreamsEscapedLinesAndSurvivesAFailure() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("copyout")
        try await db.execute("CREATE TABLE rows (n int, note text)")
        try await db.execute("INSERT INTO rows SELECT n, CASE WHEN n = 1 THEN 'tab\there' END FROM generate_series(1, 3000) AS n")
        var lines: [String] = []
        let count = try await db.copyOut("COPY (SELECT n, note FROM rows ORDER BY n) TO STDOUT") { line in
            lines.append(String(decoding: line, as: UTF8.self))
        }
        #expect(count == 3000)
        #expect(lines.count == 3000)
        #expect(lines.first == "1\ttab\\there")
        #expect(lines.last == "3000\t\\N")
        // A reader that throws stops taking rows; the rest are drained and the connection works.
        struct Stop: Error {}
        var taken = 0
        await #expect(throws: Stop.self) {
            _ = try await db.copyOut("COPY rows TO STDOUT") { _ in
                taken += 1
                if taken == 10 { throw Stop() }
            }
        }
        #expect(taken == 10)
        #expect(try await db.query("SELECT count(*) FROM rows").scalar(as: Int.self) == 3000)
        let error = await #expect(throws: PostgresError.self) {
            _ = try await db.copyOut("COPY (SELECT 1 / 0) TO STDOUT") { _ in }
        }
        #expect(error?.sqlState == "22012")
        #expect(try await db.query("SELECT 1").scalar(as: Int.self) == 1)
        await db.close()
    }

    @Test func notificationsArriveOnTheSocket() async throws {
        let url = try await TestPostgres.shared.freshDatabase("notify")
        let listener = try await PostgresConnection.connect(url)
        let sender = try await PostgresConnection.connect(url)
        try await listener.listen("jobs ready")
        #expect(try await listener.nextNotification(timeout: .milliseconds(50)) == nil)
        try await sender.notify("jobs ready", payload: "import:fenland")
        let note = try await listener.nextNotification(timeout: .seconds(10))
        #expect(note?.channel == "jobs ready")
        #expect(note?.payload == "import:fenland")
        #expect(note?.senderPID == (await sender.backendPID))
        await listener.close()
        await sender.close()
    }

    @Test func cancellingTheTaskWakesANotificationWait() async throws {
        let url = try await TestPostgres.shared.freshDatabase("notify-cancel")
        let listener = try await PostgresConnection.connect(url)
        try await listener.listen("work")
        // The waiting task says when it goes back to waiting (for ten minutes: had
        // cancellation not woken the wait, the result would be nil, ten minutes late).
        let (started, startedWriter) = AsyncStream.makeStream(of: Void.self)
        let waiting = Task {
            _ = try await listener.nextNotification(timeout: .seconds(60))
            startedWriter.yield()
            return try await listener.nextNotification(timeout: .seconds(600))
        }
        let sender = try await PostgresConnection.connect(url)
        try await sender.notify("work", payload: "first")
        for await _ in started { break }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { _ = try await waiting.value }
        // The connection still listens.
        try await sender.notify("work", payload: "after")
        #expect(try await listener.nextNotification(timeout: .seconds(10))?.payload == "after")
        await listener.close()
        await sender.close()
    }

    @Test func failedConnectIsAClearError() async throws {
        let error = await #expect(throws: PostgresError.self) {
            _ = try await PostgresConnection.connect("postgresql:///nowhere?host=/nonexistent-socket-dir")
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isConnectionProblem == true)
    }

    @Test func lostConnectionIsReportedAsLost() async throws {
        let url = try await TestPostgres.shared.freshDatabase("lost")
        let victim = try await PostgresConnection.connect(url)
        let admin = try await PostgresConnection.connect(url)
        let pid = await victim.backendPID
        try await admin.query("SELECT pg_terminate_backend($1)", pid)
        let error = await #expect(throws: PostgresError.self) { try await victim.query("SELECT 1") }
        #expect(error?.isConnectionProblem == true)
        await victim.close()
        await victim.close()  // finishing twice is harmless
        let closed = await #expect(throws: PostgresError.self) { try await victim.query("SELECT 1") }
        #expect(closed?.code == .connectionClosed)
        await admin.close()
    }

    @Test func cancellingTheTaskCancelsTheStatementAndKeepsTheConnection() async throws {
        let url = try await TestPostgres.shared.freshDatabase("cancel")
        let db = try await PostgresConnection.connect(url)
        let watcher = try await PostgresConnection.connect(url)
        let pid = await db.backendPID
        // Long enough that only a cancellation ends it early; a statement that is not cancelled
        // returns normally, which the expectations below catch.
        let sleeper = Task { try await db.query("SELECT pg_sleep(30)") }
        // Cancel only once the server is running the statement.
        let running = try await eventually(every: .milliseconds(20)) {
            try await watcher.query(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query LIKE '%pg_sleep%'",
                pid
            ).scalar(as: Int.self) == 1
        }
        #expect(running)
        sleeper.cancel()
        let outcome = await sleeper.result
        #expect(throws: PostgresError.self) { try outcome.get() }
        if case .failure(let error as PostgresError) = outcome {
            #expect(error.sqlState == "57014", "\(error)")  // query_canceled, not thirty seconds of sleep
        }
        #expect(try await db.query("SELECT 7").scalar(as: Int.self) == 7)
        // A statement begun after the cancellation is clean-up, and runs to its end.
        let cleanUp = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await db.query("SELECT 8 FROM pg_sleep(0.3)").scalar(as: Int.self)
        }
        #expect(try await cleanUp.value == 8)
        await db.close()
        await watcher.close()
    }
}

@Suite("libpq connection strings")
struct ConnectionStringTests {
    @Test func keywordValueStringsWorkAsWellAsURIs() async throws {
        let cluster = try await TestPostgres.shared.server()
        let db = try await PostgresConnection.connect(
            "host=\(cluster.socketDirectory) dbname=postgres user=\(cluster.roleName) sslmode=disable "
                + "password=\(cluster.storedPassword ?? "")")
        #expect(try await db.query("SELECT current_database()").scalar(as: String.self) == "postgres")
        await db.close()
        // sslmode reaches libpq (which ignores it on unix sockets, so a bad value is the test).
        let error = await #expect(throws: PostgresError.self) {
            _ = try await PostgresConnection.connect(
                "postgresql:///postgres?host=\(cluster.socketDirectory)&sslmode=sometimes")
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("sslmode") == true)
    }
}
