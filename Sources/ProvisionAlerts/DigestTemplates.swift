import Foundation
import Mustache
import ProvisionConfig
import ProvisionModel

/// The Mustache templates of the digest emails, so a trust can word them its own way
/// (`mail.templates_dir`; the shipped ones are in config/templates).
public struct DigestTemplates: Sendable {
    static let names = ["senco-digest.txt", "senco-digest.html", "trust-digest.txt", "trust-digest.html"]
    let library: MustacheLibrary

    /// Loads and checks the templates `config` names, or the shipped ones.
    /// - Throws: ``ConfigError`` naming the folder and the missing or broken template.
    public static func load(_ config: Configuration) async throws -> DigestTemplates {
        guard let folder = config.mail.templatesDirectory ?? InstalledFiles.folder("templates") else {
            throw ConfigError(file: config.file, key: "mail.templates_dir", message: "no digest templates found; set it to a folder like config/templates")
        }
        let library: MustacheLibrary
        do {
            library = try await MustacheLibrary(directory: folder)
        } catch {
            throw ConfigError(file: folder, message: "a digest template cannot be read: \(error)")
        }
        for name in names where library.getTemplate(named: name) == nil {
            throw ConfigError(file: folder, key: "mail.templates_dir", message: "the template \(name).mustache is missing")
        }
        return DigestTemplates(library: library)
    }

    func render(_ name: String, _ context: [String: Any]) -> String {
        library.render(context, withTemplate: name) ?? ""
    }
}
