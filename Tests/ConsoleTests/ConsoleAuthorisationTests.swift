import Foundation
import HTTPTypes
import ProvisionAccounts
import ProvisionModel
import Testing

/// Every rule of `Access`, over HTTP: what each role may read and change, and the status it
/// gets otherwise (401 without a sign-in, 403 for what is not theirs, 404 for what is not).
@Suite struct ConsoleAuthorisationTests {
    let north = ConsoleHarness.north, south = ConsoleHarness.south

    @Test func withoutSignInAPIsAnswer401AndPagesGoToSignIn() async throws {
        let harness = try await ConsoleHarness.make("authz-anon")
        try await harness.run { browser in
            for path in ["/api/v1/session", "/api/v1/schools/\(north)/alerts", "/api/v1/pupils/\(ConsoleHarness.northPupil)",
                         "/api/v1/schools/\(north)/provisions"] {
                let page = try await browser.request(.get, path)
                #expect(page.status == .unauthorized, "\(path)")
                #expect(page.json == .object(["error": .string("sign in first")]), "\(path)")
            }
            for path in ["/", "/schools/\(north)", "/pupils/\(ConsoleHarness.northPupil)", "/trust", "/audit"] {
                let page = try await browser.request(.get, path)
                #expect(page.status == .seeOther && page.location == "/login", "\(path)")
            }
            let post = try await browser.request(.post, "/api/v1/alerts/1/acknowledge", json: .object(["note": .string("x")]))
            #expect(post.status == .unauthorized)
        }
    }

    @Test func aSENCOSeesAndChangesOnlyTheirSchools() async throws {
        let harness = try await ConsoleHarness.make("authz-senco")
        try await harness.user("senco@north.example", .senco, schools: [north])
        let southAlert = try await harness.alertID(school: south)
        let northAlert = try await harness.alertID(school: north)
        try await harness.run { browser in
            #expect(try await browser.signIn("senco@north.example").location == "/")
            #expect(try await browser.request(.get, "/api/v1/schools/\(north)/alerts").status == .ok)
            #expect(try await browser.request(.get, "/schools/\(north)").status == .ok)
            #expect(try await browser.request(.get, "/api/v1/pupils/\(ConsoleHarness.northPupil)").status == .ok)
            for path in ["/api/v1/schools/\(south)/alerts", "/api/v1/schools/\(south)/provisions", "/api/v1/pupils/\(ConsoleHarness.southPupil)",
                         "/schools/\(south)", "/pupils/\(ConsoleHarness.southPupil)", "/schools/\(south)/provisions/reading-1",
                         "/schools/\(south)/reports/impact", "/trust", "/audit", "/operations", "/trust/report"] {
                #expect(try await browser.request(.get, path).status == .forbidden, "\(path)")
            }
            // Another school's alert, reached through their own school's URL or the API.
            let viaOwnURL = try await browser.request(
                .post, "/schools/\(north)/alerts/\(southAlert)", form: ["answer": "acknowledged", "note": "not mine"])
            #expect(viaOwnURL.status == .forbidden)
            let viaAPI = try await browser.request(.post, "/api/v1/alerts/\(southAlert)/acknowledge", json: .object(["note": .string("x")]))
            #expect(viaAPI.status == .forbidden)
            let enrol = try await browser.request(
                .post, "/api/v1/schools/\(south)/provisions/reading-1/pupils", json: .object(["upn": .string(ConsoleHarness.southPupil)]))
            #expect(enrol.status == .forbidden)
            // A body that is not JSON is refused saying what is wrong and where.
            let broken = try await browser.request(.post, "/api/v1/alerts/\(northAlert)/acknowledge", rawJSON: #"{"note": "on it""#)
            #expect(broken.status == .badRequest)
            #expect(broken.json == .object(["error": .string("the body is not valid JSON: expected ',' or '}' after an object's member (at the end)")]), "\(broken.body)")
            let notObject = try await browser.request(.post, "/api/v1/alerts/\(northAlert)/acknowledge", rawJSON: "[1]")
            #expect(notObject.json == .object(["error": .string("the body must be a JSON object")]), "\(notObject.body)")
            // Their own school's alert they may answer.
            let own = try await browser.request(.post, "/api/v1/alerts/\(northAlert)/acknowledge", json: .object(["note": .string("on it")]))
            #expect(own.status == .ok)
            #expect(try await browser.request(.get, "/api/v1/schools/999999/alerts").status == .notFound)
            #expect(try await browser.request(.get, "/api/v1/pupils/Z999999999999").status == .notFound)
            #expect(try await browser.request(.get, "/api/v1/schools/\(north)/provisions/no-such").status == .notFound)
        }
        let answered = try await harness.db { db in
            try await db.query("SELECT id, answer FROM alerts WHERE answer IS NOT NULL").rows.map { try $0.decode("id", as: Int64.self) }
        }
        #expect(answered == [northAlert])
    }

    @Test func anITAdminSeesNoPupilData() async throws {
        let harness = try await ConsoleHarness.make("authz-it")
        try await harness.user("it@trust.example", .itAdmin)
        try await harness.run { browser in
            #expect(try await browser.signIn("it@trust.example").location == "/")
            #expect(try await browser.request(.get, "/").location == "/operations")
            let operations = try await browser.request(.get, "/operations")
            #expect(operations.status == .ok)
            #expect(!operations.body.contains("Nora") && !operations.body.contains(ConsoleHarness.northPupil))
            for path in ["/api/v1/schools/\(north)/alerts", "/api/v1/pupils/\(ConsoleHarness.northPupil)", "/api/v1/pupils/Z999999999999",
                         "/api/v1/schools/\(north)/provisions", "/schools/\(north)", "/pupils/\(ConsoleHarness.northPupil)",
                         "/schools/\(north)/reports/provision-map", "/trust", "/audit"] {
                let page = try await browser.request(.get, path)
                #expect(page.status == .forbidden, "\(path)")
                #expect(!page.body.contains("Nora") && !page.body.contains("Able"), "\(path)")
            }
        }
    }

    @Test func theLeadSeesEverySchoolTheTrustAndTheAuditLog() async throws {
        let harness = try await ConsoleHarness.make("authz-lead")
        try await harness.user("lead@trust.example", .sendLead)
        try await harness.run { browser in
            try await browser.signIn("lead@trust.example")
            #expect(try await browser.request(.get, "/").location == "/trust")
            for path in ["/trust", "/audit", "/schools/\(north)", "/schools/\(south)", "/pupils/\(ConsoleHarness.southPupil)",
                         "/api/v1/schools/\(south)/alerts", "/operations"] {
                #expect(try await browser.request(.get, path).status == .ok, "\(path)")
            }
            let trust = try await browser.request(.get, "/trust")
            #expect(trust.body.contains("North School") && trust.body.contains("South School"))
            #expect(try await browser.request(.get, "/api/v1/schools/999999/alerts").status == .notFound)
        }
    }

    @Test func bearerTokensActAsTheirAccountWithoutCSRFAndDieWithIt() async throws {
        let harness = try await ConsoleHarness.make("authz-token")
        try await harness.user("senco@north.example", .senco, schools: [north])
        let token = try await harness.db { try await Accounts.issueToken($0, email: "senco@north.example") }
        let stored = try await harness.db { db in
            try await db.query("SELECT token_hash FROM api_tokens").rows.map { try $0.decode("token_hash", as: String.self) }
        }
        #expect(stored == [Secrets.stored(token)], "only the token's hash is stored")
        let northAlert = try await harness.alertID(school: north)
        try await harness.run { browser in
            let bearer: HTTPFields = [.authorization: "Bearer \(token)"]
            #expect(try await browser.request(.get, "/api/v1/schools/\(north)/alerts", headers: bearer).status == .ok)
            #expect(try await browser.request(.get, "/api/v1/schools/\(south)/alerts", headers: bearer).status == .forbidden)
            let answer = try await browser.request(
                .post, "/api/v1/alerts/\(northAlert)/acknowledge", json: .object(["note": .string("by script")]), headers: bearer)
            #expect(answer.status == .ok)
            let wrong: HTTPFields = [.authorization: "Bearer spt_notatoken"]
            #expect(try await browser.request(.get, "/api/v1/session", headers: wrong).status == .unauthorized)
            try await harness.db { try await Accounts.disable($0, email: "senco@north.example") }
            #expect(try await browser.request(.get, "/api/v1/session", headers: bearer).status == .unauthorized)
        }
    }
}
