import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Postgres
import ProvisionStore
import ProvisionAccounts

/// Finds who is asking (a session cookie or `Authorization: Bearer`), works out the
/// client's address (a trusted proxy's `X-Forwarded-For`, else the peer), and refuses any
/// change made through a cookie session without its CSRF token (header `X-CSRF-Token`, or
/// a form's `csrf` field). Also sets the headers every response carries.
struct SignInMiddleware: RouterMiddleware {
    typealias Context = ConsoleContext
    static let cookieName = "provision_session"
    static let csrfHeader = HTTPField.Name("X-CSRF-Token")!
    let console: Console

    func handle(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        do {
            return try await signIn(request, context: context, next: next)
        } catch let error as any HTTPResponseError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch let database as PostgresError where database.code == .nulCharacter {
            // Typed or pasted into a field, a form or a path: the sender's to fix, not a fault.
            throw ConsoleError(.badRequest, "a value holds the NUL character (U+0000), which cannot be stored: remove it and try again")
        } catch {
            // Logged by route and kind only: a path or a database message may name a pupil.
            var metadata: Logger.Metadata = ["route": "\(context.endpointPath ?? request.method.rawValue)", "error": "\(type(of: error))"]
            if let database = error as? PostgresError { metadata["sqlstate"] = "\(database.sqlState ?? "connection")" }
            console.logger.error("console request failed", metadata: metadata)
            throw ConsoleError(
                isConnectionLoss(error) ? .serviceUnavailable : .internalServerError,
                "something went wrong on the server; the trust's IT staff can see it in the daemon's log")
        }
    }

    private func signIn(_ request: Request, context: ConsoleContext, next: (Request, ConsoleContext) async throws -> Response) async throws -> Response {
        var context = context
        var request = request
        context.address = clientAddress(request, peer: context.peer)
        if let authorization = request.headers[.authorization] {
            guard authorization.hasPrefix("Bearer "),
                let user = try await console.db({ try await Accounts.user($0, apiToken: String(authorization.dropFirst(7))) })
            else { throw ConsoleError(.unauthorized, "the API token is not valid (or its account is disabled)") }
            context.visitor = Visitor(user: user, sessionToken: nil, csrfToken: nil, secondFactorDone: true)
        } else if let token = request.cookies[Self.cookieName]?.value,
            let session = try await console.db({ try await Sessions.find($0, token: token, limits: console.sessionLimits) })
        {
            context.visitor = Visitor(
                user: session.user, sessionToken: token, csrfToken: session.csrfToken, secondFactorDone: session.secondFactorDone)
        }
        if ![.get, .head].contains(request.method), let visitor = context.visitor, let expected = visitor.csrfToken,
            request.uri.path != "/login"
        {
            var presented = request.headers[Self.csrfHeader]
            if presented == nil, request.headers[.contentType]?.hasPrefix("application/x-www-form-urlencoded") == true {
                let buffer = try await request.collectBody(upTo: 256 * 1024)
                presented = Form(encoded: String(buffer: buffer))["csrf"]
            }
            guard let presented, Self.constantTimeEqual(presented, expected) else {
                throw ConsoleError.forbidden("this change did not carry the session's CSRF token; reload the page and try again")
            }
        }
        var response = try await next(request, context)
        // Pages set their own policy when they need more (the reports' inline styles).
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] =
                "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "same-origin"
        if console.settings.servesTLS { response.headers[.strictTransportSecurity] = "max-age=31536000" }
        return response
    }

    /// The client's address: the last `X-Forwarded-For` hop added by a trusted proxy, else
    /// the socket's peer. A client cannot choose its own address by sending the header.
    func clientAddress(_ request: Request, peer: String?) -> String {
        let peer = peer ?? "unknown"
        let settings = console.settings
        guard settings.behindProxy, settings.trustedProxies.contains(peer),
            let forwarded = request.headers[.xForwardedFor]
        else { return peer }
        let hops = forwarded.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        return hops.last(where: { !settings.trustedProxies.contains($0) }) ?? peer
    }

    /// The cookie carrying `token`: HttpOnly, SameSite=Strict, Secure when the browser
    /// speaks HTTPS; nil token clears it.
    func cookie(_ token: String?) -> Cookie {
        Cookie(
            name: Self.cookieName, value: token ?? "", maxAge: token == nil ? 0 : nil, path: "/",
            secure: console.settings.browserUsesTLS, httpOnly: true, sameSite: .strict)
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var difference: UInt8 = 0
        for index in x.indices { difference |= x[index] ^ y[index] }
        return difference == 0
    }
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}
