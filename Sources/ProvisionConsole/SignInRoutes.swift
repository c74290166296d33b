import Foundation
import Hummingbird
import ProvisionAccounts

/// Signing in and out, and the second factor: `/login`, `/logout`, `/second-factor`.
struct SignInRoutes {
    let console: Console
    var middleware: SignInMiddleware { SignInMiddleware(console: console) }

    func add(to router: Router<ConsoleContext>) {
        router.get("login") { _, context -> Response in
            if let visitor = context.visitor, visitor.secondFactorDone { return Reply.redirect("/") }
            return console.pages.render("login", title: "Sign in", visitor: nil, console: console, values: [:])
        }
        router.post("login") { request, context in try await signIn(request, context) }
        router.post("logout") { _, context -> Response in
            if let visitor = context.visitor, let token = visitor.sessionToken {
                let audit = console.auditing(visitor, context, "signed_out")
                try await console.db { try await Sessions.end($0, token: token, within: audit) }
            }
            var response = Reply.redirect("/login")
            response.setCookie(middleware.cookie(nil))
            return response
        }
        router.get("second-factor") { _, context in try await secondFactorPage(context) }
        router.post("second-factor") { request, context in try await checkSecondFactor(request, context) }
        router.post("second-factor/enrol") { request, context in try await confirmEnrolment(request, context) }
    }

    private func signIn(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let form = try await Form.read(request)
        let email = (form["email"] ?? "").lowercased()
        let password = form.fields["password"] ?? ""
        let throttle = console.throttle
        if let wait = try await console.db({ try await throttle.retryAfter($0, email: email, address: context.address) }) {
            console.logger.notice("sign-in throttled", metadata: ["address": "\(context.address)"])
            throw ConsoleError(
                .tooManyRequests, "too many failed sign-ins; try again in \(wait / 60 + 1) minute(s)",
                headers: [.retryAfter: String(wait)])
        }
        let user = try await console.db { try await Accounts.checkPassword($0, email: email, password: password) }
        try await console.db { try await throttle.record($0, email: email, address: context.address, succeeded: user != nil) }
        guard let user else {
            return console.pages.render(
                "login", title: "Sign in", visitor: nil, console: console,
                values: ["error": "That email address and password do not match an account.", "email": email], status: .unauthorized)
        }
        // The trust's policy for SENCOs applies to accounts made before it was switched on too.
        let done = !(user.secondFactorRequired || (user.role == .senco && console.settings.requireSecondFactor))
        let audit = console.auditing(user, context, done ? "signed_in" : "password_accepted")
        let token = try await console.db {
            try await Sessions.start($0, userID: user.id, secondFactorDone: done, address: context.address, within: audit)
        }
        var response = Reply.redirect(done ? "/" : "/second-factor")
        response.setCookie(middleware.cookie(token))
        return response
    }

    private func pending(_ context: ConsoleContext) throws -> Visitor {
        guard let visitor = context.visitor, visitor.sessionToken != nil else { throw ConsoleError.signInNeeded }
        return visitor
    }

    private func secondFactorPage(_ context: ConsoleContext) async throws -> Response {
        let visitor = try pending(context)
        if visitor.secondFactorDone { return Reply.redirect("/") }
        let csrf = visitor.csrfToken ?? ""
        if visitor.user.secondFactorEnrolled {
            return console.pages.render("second-factor", title: "Second factor", visitor: visitor, console: console, values: ["csrf": csrf])
        }
        let issuer = console.configuration().trust.name
        let enrolment = try await console.db {
            try await SecondFactor.beginEnrolment($0, userID: visitor.user.id, email: visitor.user.email, issuer: issuer)
        }
        var values: [String: Any] = ["csrf": csrf, "secret": enrolment.secretBase32.chunked(4), "url": enrolment.url]
        values["qr"] = QRCode.svg(for: enrolment.url)
        return console.pages.render("enrol", title: "Set up your second factor", visitor: visitor, console: console, values: values)
    }

    private func checkSecondFactor(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let visitor = try pending(context)
        let code = try await Form.read(request)["code"] ?? ""
        let throttle = console.throttle
        if let wait = try await console.db({ try await throttle.retryAfter($0, email: visitor.user.email, address: context.address) }) {
            throw ConsoleError(.tooManyRequests, "too many failed attempts; try again later", headers: [.retryAfter: String(wait)])
        }
        let passed = try await console.db { try await SecondFactor.verify($0, userID: visitor.user.id, code: code) }
        try await console.db { try await throttle.record($0, email: visitor.user.email, address: context.address, succeeded: passed) }
        guard passed else {
            return console.pages.render(
                "second-factor", title: "Second factor", visitor: visitor, console: console,
                values: ["csrf": visitor.csrfToken ?? "", "error": "That code was not right (or was used already)."], status: .unauthorized)
        }
        return try await completeSignIn(visitor, context, then: Reply.redirect("/"))
    }

    private func confirmEnrolment(_ request: Request, _ context: ConsoleContext) async throws -> Response {
        let visitor = try pending(context)
        guard !visitor.user.secondFactorEnrolled || !visitor.secondFactorDone else { return Reply.redirect("/") }
        let code = try await Form.read(request)["code"] ?? ""
        let audit = console.auditing(visitor, context, "second_factor_enrolled")
        guard let codes = try await console.db({
            try await SecondFactor.confirmEnrolment($0, userID: visitor.user.id, code: code, within: audit)
        }) else {
            throw ConsoleError.badRequest("that code did not match the new secret; check the phone's clock and try the next code")
        }
        let page = console.pages.render(
            "recovery-codes", title: "Recovery codes", visitor: nil, console: console, values: ["codes": codes])
        return try await completeSignIn(visitor, context, then: page)
    }

    /// Replaces the half-signed-in session with a new one (a new token, so a token seen
    /// before the second factor is worth nothing after it).
    private func completeSignIn(_ visitor: Visitor, _ context: ConsoleContext, then response: Response) async throws -> Response {
        let audit = console.auditing(visitor, context, "signed_in")
        let token = try await console.db { db in
            try await Sessions.start(
                db, userID: visitor.user.id, secondFactorDone: true, address: context.address, replacing: visitor.sessionToken, within: audit)
        }
        var response = response
        response.setCookie(middleware.cookie(token))
        return response
    }
}

extension String {
    /// The text in groups of `size` separated by spaces, for reading aloud or typing.
    func chunked(_ size: Int) -> String {
        var groups: [String] = []
        var rest = Substring(self)
        while !rest.isEmpty {
            groups.append(String(rest.prefix(size)))
            rest = rest.dropFirst(size)
        }
        return groups.joined(separator: " ")
    }
}
