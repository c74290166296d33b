import Foundation
import Hummingbird
import Mustache
import ProvisionConfig
import ProvisionModel

/// The console's pages: Mustache templates (config/console, installed as
/// share/provision/console) inside one layout, and its stylesheet. Mustache escapes every
/// `{{value}}`, so names and notes cannot inject markup.
struct Pages: Sendable {
    static let names = [
        "layout", "login", "second-factor", "enrol", "recovery-codes", "school", "provisions", "pupil", "intervention",
        "trust", "audit", "operations", "plan",
    ]
    let library: MustacheLibrary
    let stylesheet: String

    /// Loads the templates from `folder` (default: the installed ones) and checks each exists.
    static func load(folder: String? = nil) async throws -> Pages {
        guard let folder = folder ?? InstalledFiles.folder("console") else {
            throw ConfigError(file: "console", message: "the console's templates were not found (config/console or share/provision/console)")
        }
        let library = try await MustacheLibrary(directory: folder)
        for name in names where library.getTemplate(named: name) == nil {
            throw ConfigError(file: folder, message: "the console template \(name).mustache is missing")
        }
        let stylesheet = try String(contentsOfFile: folder + "/console.css", encoding: .utf8)
        return Pages(library: library, stylesheet: stylesheet)
    }

    /// `template` rendered with `values` inside the layout.
    func render(
        _ template: String, title: String, visitor: Visitor?, console: Console, values: [String: Any], status: HTTPResponse.Status = .ok
    ) -> Response {
        let content = library.render(values, withTemplate: template) ?? ""
        var layout: [String: Any] = ["title": title, "content": content, "trust": console.configuration().trust.name]
        if let visitor, visitor.secondFactorDone {
            let user = visitor.user
            layout["user"] = ["email": user.email, "role": Self.roleName(user.role.rawValue), "csrf": visitor.csrfToken ?? ""]
            layout["schools"] = Access.schools(of: user, among: console.schoolURNs).map { urn in
                ["urn": urn, "name": console.schoolName(urn)]
            }
            layout["lead"] = Access.allows(user, .wholeTrust)
            layout["operations"] = Access.allows(user, .operations)
        }
        let html = library.render(layout, withTemplate: "layout") ?? content
        return Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static func roleName(_ role: String) -> String {
        ["senco": "SENCO", "send_lead": "SEND lead", "it_admin": "IT admin"][role] ?? role
    }
}

/// Responses that are not pages.
enum Reply {
    /// 303 to `location` (after a form's POST, so a reload does not post again).
    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// A printable document (a report, a plan for parents) that carries its own stylesheet:
    /// its page allows inline styles and nothing else.
    static func document(_ bytes: [UInt8]) -> Response {
        Response(
            status: .ok,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `value` as JSON.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.serialized + "\n")))
    }
}
