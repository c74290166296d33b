import Foundation

/// Finds files shipped with the program: `share/provision/NAME` (installed) or
/// `config/NAME` (built from source), looked for upwards from the running executable.
public enum InstalledFiles {
    /// The installed folder called `name` (`templates`, `mappings`), or nil when there is none.
    public static func folder(_ name: String) -> String? {
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            for candidate in ["share/provision/\(name)", "config/\(name)"] {
                let path = folder.appendingPathComponent(candidate).path
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                    return path
                }
            }
            folder = folder.deletingLastPathComponent()
        }
        return nil
    }
}
