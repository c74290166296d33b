import Postgres
import ProvisionTestSupport
import Testing

/// Rows in COPY's binary format (``CopyBinary``) arrive as the server reads the same values
/// written as text: each is checked against the server's own reading of the text.
@Suite("COPY binary format")
struct CopyBinaryTests {
    /// Scores as plugins and Swift write them, with the server's reading of each as text.
    static let numbers = [
        "0", "-0", "0.0", "-0.00", "7", "-7", "42", "110", "9999", "10000", "10001", "123456789", "98.5", "-98.5", "1.50",
        "0.05", "0.0001", "0.00001", "100.0001", "12345.678901", "1e-05", "1E5", "1.5e2", "150e-2", "2.5e+3", "-3.25e-7",
        "0.30000000000000004", "9999999999999999999", "1e300", "1e-300", "000123.4500", ".5", "5.",
    ]
    /// Text the server may read but that the binary writer leaves to it.
    static let leftToText = ["", "-", ".", "1e", "1e+", "abc", "1.2.3", " 1", "1 ", "NaN", "Infinity", "1_000", "0x1F",
                             "12345678901234567890", "1e1001", "1--2", "+-1"]

    @Test func numericsAreStoredAsTheServerReadsTheirText() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("copy-binary-numeric")
        try await db.execute("CREATE TABLE scores (n int, value numeric)")
        var bytes = CopyBinary.header
        for (index, text) in Self.numbers.enumerated() {
            CopyBinary.startRow(fields: 2, to: &bytes)
            CopyBinary.appendInt32(Int32(index), to: &bytes)
            #expect(CopyBinary.appendNumeric(text, to: &bytes), "\(text) was not written")
        }
        bytes += CopyBinary.trailer
        try await db.startCopy("COPY scores (n, value) FROM STDIN WITH (FORMAT binary)")
        try await db.copyEncodedRows(bytes)
        #expect(try await db.finishCopy() == Self.numbers.count)
        let stored = try await db.query("SELECT value::text AS value FROM scores ORDER BY n").rows.map { try $0.decode("value", as: String.self) }
        let read = try await db.query("SELECT t::numeric::text AS value FROM unnest($1::text[]) WITH ORDINALITY AS u (t, n) ORDER BY n", Self.numbers)
            .rows.map { try $0.decode("value", as: String.self) }
        #expect(stored.count == Self.numbers.count)
        for (text, (binary, server)) in zip(Self.numbers, zip(stored, read)) {
            #expect(binary == server, "\(text): binary \(binary), text \(server)")
        }
        await db.close()
    }

    @Test func textThatIsNotAPlainDecimalIsLeftToTheServer() {
        for text in Self.leftToText {
            var bytes: [UInt8] = [1, 2]
            #expect(!CopyBinary.appendNumeric(text, to: &bytes), "\(text) was written")
            #expect(bytes == [1, 2], "\(text) left bytes behind")
        }
    }

    @Test func everyFieldTypeAndNullArrives() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("copy-binary-types")
        try await db.execute("CREATE TABLE kinds (id bigint, name text, born date, flag boolean, rank integer)")
        var bytes = CopyBinary.header
        let rows: [(Int64, String?, Int, Bool?, Int32)] = [
            (-9_000_000_000, "Zoë Ōtsuka 🙂", 0, true, -3), (1, "tab\there\\", -10_958, false, 2_000_000_000),
            (Int64.max, nil, 47_482, nil, 0),
        ]
        for (id, name, day, flag, rank) in rows {
            CopyBinary.startRow(fields: 5, to: &bytes)
            CopyBinary.appendInt64(id, to: &bytes)
            CopyBinary.appendText(name, to: &bytes)
            CopyBinary.appendDate(daysSince1970: day, to: &bytes)
            CopyBinary.appendBool(flag, to: &bytes)
            CopyBinary.appendInt32(rank, to: &bytes)
        }
        bytes += CopyBinary.trailer
        try await db.startCopy("COPY kinds FROM STDIN WITH (FORMAT binary)")
        try await db.copyEncodedRows(bytes)
        #expect(try await db.finishCopy() == 3)
        let stored = try await db.query(
            """
            SELECT id || '|' || coalesce(name, '<null>') || '|' || born || '|' || coalesce(flag::text, '<null>') || '|' || rank AS row
              FROM kinds ORDER BY id
            """
        ).rows.map { try $0.decode("row", as: String.self) }
        #expect(stored == [
            "-9000000000|Zoë Ōtsuka 🙂|1970-01-01|true|-3", "1|tab\there\\|1940-01-01|false|2000000000",
            "9223372036854775807|<null>|2100-01-01|<null>|0",
        ])
        await db.close()
    }

    @Test func aRowOfTheWrongShapeFailsTheCopyAndKeepsNothing() async throws {
        let (db, _) = try await TestPostgres.shared.freshConnection("copy-binary-shape")
        try await db.execute("CREATE TABLE kinds (id bigint, born date)")
        var bytes = CopyBinary.header
        CopyBinary.startRow(fields: 2, to: &bytes)
        CopyBinary.appendInt64(1, to: &bytes)
        CopyBinary.appendDate(daysSince1970: 0, to: &bytes)
        // A text where the date belongs.
        CopyBinary.startRow(fields: 2, to: &bytes)
        CopyBinary.appendInt64(2, to: &bytes)
        CopyBinary.appendText("2025-09-01", to: &bytes)
        bytes += CopyBinary.trailer
        try await db.startCopy("COPY kinds FROM STDIN WITH (FORMAT binary)")
        try await db.copyEncodedRows(bytes)
        let error = await #expect(throws: PostgresError.self) { _ = try await db.finishCopy() }
        #expect(error?.sqlState == "22P03")
        #expect(try await db.query("SELECT count(*) AS n FROM kinds").scalar(as: Int.self) == 0)
        await db.close()
    }
}
