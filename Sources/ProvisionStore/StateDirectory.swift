import Foundation
import ProvisionModel

/// `state.dir`: the embedded cluster, the maildir, reports and scratch space, all of it
/// pupil data. It is the product user's alone (0700). When the embedded cluster runs as the
/// `postgres` user (the product runs as root), that user's group may pass through it (0710,
/// no listing) to reach its own data folder, and nothing else.
public enum StateDirectory {
    /// Creates (or tightens) the state folder.
    ///
    /// - Parameter serverUser: the system user the embedded cluster runs as, if any.
    public static func prepare(_ path: String, serverUser: String?) throws {
        let group = serverUser.flatMap { getpwnam($0)?.pointee.pw_gid }
        do {
            try PrivateFiles.createFolder(path, mode: group == nil ? 0o700 : 0o710)
        } catch {
            throw EmbeddedCluster.Failure(message: "cannot prepare state.dir: \(error)")
        }
        if let group, lchown(path, geteuid(), group) != 0 {
            throw EmbeddedCluster.Failure(
                message: "cannot give the postgres group passage through state.dir \(path): \(String(cString: strerror(errno)))")
        }
    }
}
