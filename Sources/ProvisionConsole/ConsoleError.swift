import Foundation
import Hummingbird
import ProvisionModel

/// A refusal with its HTTP status and a message a person can act on. API requests get
/// `{"error": message}`; pages get a small HTML page, and a browser that is not signed in is
/// sent to the sign-in page.
struct ConsoleError: HTTPResponseError, Sendable {
    let status: HTTPResponse.Status
    let message: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    static let signInNeeded = ConsoleError(.unauthorized, "sign in first")
    static let secondFactorNeeded = ConsoleError(.unauthorized, "enter the code from your authenticator app first")
    static func forbidden(_ message: String) -> ConsoleError { ConsoleError(.forbidden, message) }
    static func notFound(_ what: String) -> ConsoleError { ConsoleError(.notFound, "\(what) does not exist") }
    static func badRequest(_ message: String) -> ConsoleError { ConsoleError(.badRequest, message) }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = self.headers
        headers[.cacheControl] = "no-store"
        if request.uri.path.hasPrefix("/api/") {
            headers[.contentType] = "application/json"
            let body = JSONValue.object(["error": .string(message)]).serialized + "\n"
            return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
        }
        if status == .unauthorized {
            headers[.location] = message == Self.secondFactorNeeded.message ? "/second-factor" : "/login"
            return Response(status: .seeOther, headers: headers)
        }
        headers[.contentType] = "text/html; charset=utf-8"
        let page = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(status.code) \(HTMLText.escaped(status.reasonPhrase))</title>
            <meta name="viewport" content="width=device-width, initial-scale=1"><link rel="stylesheet" href="/assets/console.css"></head>
            <body><main><h1>\(HTMLText.escaped(status.reasonPhrase))</h1><p role="alert">\(HTMLText.escaped(message))</p>
            <p><a href="/">Back to the console</a></p></main></body></html>
            """
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: page)))
    }
}
