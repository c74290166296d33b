import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Postgres
import ProvisionAccounts
import ProvisionConfig
@testable import ProvisionConsole
import ProvisionImport
import ProvisionModel
import ProvisionStore
import ProvisionTestSupport
import ServiceLifecycle

/// A console on a fresh, migrated database with two schools, served over real HTTP on a
/// loopback port (HummingbirdTesting's client, with more patience) for the duration of a test.
struct ConsoleHarness {
    static let north = "100001", south = "100002"
    /// A pupil of each school, UPNs with their right check letters.
    static let northPupil = UPN.withCheckLetter("100001200001") ?? "", southPupil = UPN.withCheckLetter("100002200001") ?? ""
    /// A second pupil of North on the SEN register, in no provision.
    static let northPupil2 = UPN.withCheckLetter("100001200002") ?? ""
    static let password = "correct horse battery staple"

    let url: String
    let configuration: Configuration
    let pool: ConnectionPool
    let console: Console

    static func make(_ label: String, console extra: String = "") async throws -> ConsoleHarness {
        let url = try await TestPostgres.shared.freshDatabase(label)
        let database = ProvisionDatabase.external(url)
        try await database.withConnection { db in _ = try await Migrator().migrate(db) }
        let folder = try TestProcess.temporaryDirectory("console-\(label)")
        let path = try TestProcess.writeConfig(
            in: folder, databaseURL: url,
            extra: """
                [[schools]]
                urn = "\(north)"
                name = "North School"
                sencos = ["senco@north.example"]

                [[schools]]
                urn = "\(south)"
                name = "South School"

                [console]
                listen = "127.0.0.1:0"
                \(extra)

                """)
        let configuration = try Configuration.load(from: path)
        let pool = ConnectionPool(database: database, capacity: 4, applicationName: "console-test")
        let pages = try await Pages.load()
        let console = Console(
            configuration: { configuration }, pool: pool, pages: pages,
            pipeline: ImportPipeline(database: database, scratchRoot: folder + "/scratch"), logger: Logger(label: "console-test"))
        let harness = ConsoleHarness(url: url, configuration: configuration, pool: pool, console: console)
        try await harness.seed()
        return harness
    }

    /// Two schools, a pupil each, a provision each with the pupil in it, and an open alert
    /// about each pupil.
    func seed() async throws {
        try await db { db in
            try await db.runScript(
                """
                INSERT INTO schools (urn, name) VALUES ('\(Self.north)', 'North School'), ('\(Self.south)', 'South School');
                INSERT INTO pupils (upn, school_id, surname, forename, dob, year_group, sen_provision)
                SELECT '\(Self.northPupil)', id, 'Able', 'Nora', '2016-03-01', '5', 'K' FROM schools WHERE urn = '\(Self.north)';
                INSERT INTO pupils (upn, school_id, surname, forename, dob, year_group, sen_provision)
                SELECT '\(Self.southPupil)', id, 'Baker', 'Sam', '2016-05-01', '5', 'E' FROM schools WHERE urn = '\(Self.south)';
                INSERT INTO pupils (upn, school_id, surname, forename, dob, year_group, sen_provision)
                SELECT '\(Self.northPupil2)', id, 'Owens', 'Orla', '2016-07-01', '5', 'K' FROM schools WHERE urn = '\(Self.north)';
                INSERT INTO provisions (school_id, provision_id, name, area_of_need, start_date, outcome_instrument, outcome_subject, outcome_measure)
                SELECT id, 'reading-1', 'Reading catch-up', 'CL', current_date - 30, 'NGRT', 'reading', 'standardised' FROM schools;
                INSERT INTO enrolments (provision_id, pupil_id, start_date, status, entry_value, entry_date)
                SELECT pr.id, p.id, current_date - 30, 'active', 82, current_date - 31
                  FROM provisions pr JOIN pupils p ON p.school_id = pr.school_id WHERE p.upn <> '\(Self.northPupil2)';
                INSERT INTO alerts (rule, school_id, subject_key, pupil_id, reason)
                SELECT 'stalled_progress', p.school_id, 'pupil:' || p.upn, p.id, 'No progress this term.' FROM pupils p
                 WHERE p.upn <> '\(Self.northPupil2)';
                """)
        }
    }

    /// Runs `body` on a connection of its own (the console's pool closes when `run` ends).
    func db<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await ProvisionDatabase.external(url).withConnection(body)
    }

    /// Runs one statement, returning the rows it changed.
    @discardableResult
    func execute(_ sql: String) async throws -> Int {
        try await db { try await $0.execute(sql) }
    }

    /// An account with the test password (bcrypt cost 4: the tests sign in often).
    @discardableResult
    func user(_ email: String, _ role: Role, schools: [String] = [], secondFactor: Bool = false) async throws -> User {
        try await db { db in
            try await Accounts.add(db, email: email, role: role, schools: schools, password: Self.password, secondFactor: secondFactor, cost: 4)
        }
    }

    func alertID(school: String) async throws -> Int64 {
        try await db { db in
            try await db.query("SELECT a.id FROM alerts a JOIN schools s ON s.id = a.school_id WHERE s.urn = $1", school).scalar(as: Int64.self)
        }
    }

    /// Runs `body` with the console's port, for a real browser.
    func serve(_ body: @Sendable (Int) async throws -> Void) async throws {
        try await Self.listen(console, body)
        await pool.close()
    }

    /// Runs `body` against the console listening on a free loopback port.
    func run(_ body: @Sendable (Browser) async throws -> Void) async throws {
        try await Self.run(console, body)
        await pool.close()
    }

    /// How long a request may take before the test fails. HummingbirdTesting's live client
    /// allows 20 s; with every suite running at once on a two-core CI machine a console edit
    /// (two fresh connections and a whole import transaction) has queued for longer than that.
    /// Two minutes still fails a request that never comes back.
    static let patience: Duration = .seconds(120)

    /// Runs `body` with a client of `console` served over real HTTP on a free loopback port.
    static func run(_ console: Console, _ body: @Sendable (Browser) async throws -> Void) async throws {
        try await listen(console) { port in
            let client = TestClient(host: "127.0.0.1", port: port, configuration: .init(timeout: patience))
            client.connect()
            do {
                try await body(Browser(client: client))
            } catch {
                try? await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }

    /// Serves `console` on a free loopback port for as long as `body` runs.
    static func listen(_ console: Console, _ body: @Sendable (Int) async throws -> Void) async throws {
        let (addresses, listening) = AsyncStream.makeStream(of: String.self)
        let app = try ConsoleServer.application(console, host: "127.0.0.1", port: 0) { listening.yield($0) }
        let services = ServiceGroup(configuration: .init(services: [app], logger: console.logger))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { listening.finish() }
                try await services.run()
            }
            var next = addresses.makeAsyncIterator()
            guard let address = await next.next(), let port = URLComponents(string: address)?.port else {
                try await group.next()
                throw HarnessFailure("the console stopped before it listened")
            }
            do {
                try await body(port)
            } catch {
                await services.triggerGracefulShutdown()
                throw error
            }
            await services.triggerGracefulShutdown()
            try await group.waitForAll()
        }
    }
}

struct HarnessFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A client that keeps its session cookie and the CSRF token, like a browser tab.
final class Browser: @unchecked Sendable {
    let client: TestClient
    private(set) var cookie: String?
    private(set) var csrf: String?

    init(client: TestClient) { self.client = client }

    struct Page {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let body: String
        var location: String? { headers[.location] }
        var json: JSONValue? { try? JSONValue.parse(Array(body.utf8)) }
    }

    @discardableResult
    func request(
        _ method: HTTPRequest.Method, _ uri: String, form: [String: String]? = nil, json: JSONValue? = nil,
        rawJSON: String? = nil, headers extra: HTTPFields = [:], sendCSRF: Bool = true
    ) async throws -> Page {
        var headers = extra
        if let cookie { headers[.cookie] = "\(SignInMiddleware.cookieName)=\(cookie)" }
        var body: ByteBuffer?
        if let form {
            headers[.contentType] = "application/x-www-form-urlencoded"
            var fields = form
            if sendCSRF, let csrf, fields["csrf"] == nil { fields["csrf"] = csrf }
            let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))
            body = ByteBuffer(string: fields.map { "\($0.key)=\($0.value.addingPercentEncoding(withAllowedCharacters: allowed) ?? "")" }
                .joined(separator: "&"))
        }
        if let text = json?.serialized ?? rawJSON {
            headers[.contentType] = "application/json"
            if sendCSRF, let csrf, headers[SignInMiddleware.csrfHeader] == nil, headers[.authorization] == nil {
                headers[SignInMiddleware.csrfHeader] = csrf
            }
            body = ByteBuffer(string: text)
        }
        headers[.connection] = "keep-alive"
        let response = try await client.execute(TestClient.Request(uri, method: method, authority: "localhost", headers: headers, body: body))
        for field in response.headers[values: .setCookie] where field.hasPrefix(SignInMiddleware.cookieName + "=") {
            let value = field.dropFirst(SignInMiddleware.cookieName.count + 1).prefix { $0 != ";" }
            cookie = value.isEmpty ? nil : String(value)
        }
        return Page(status: response.status, headers: response.headers, body: String(buffer: response.body ?? ByteBuffer()))
    }

    /// Signs in through the form and, with a session, learns its CSRF token.
    @discardableResult
    func signIn(_ email: String, password: String = ConsoleHarness.password, address: String? = nil) async throws -> Page {
        var headers: HTTPFields = [:]
        if let address { headers[.init("X-Forwarded-For")!] = address }
        let page = try await request(.post, "/login", form: ["email": email, "password": password], headers: headers)
        if page.status == .seeOther, page.location == "/" { try await learnCSRF() }
        return page
    }

    func learnCSRF() async throws {
        let session = try await request(.get, "/api/v1/session")
        if case .object(let fields) = session.json, case .string(let token) = fields["csrf_token"] { csrf = token }
    }

    func forget() {
        cookie = nil
        csrf = nil
    }

    func setCookie(_ value: String?) { cookie = value }
}
