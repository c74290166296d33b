import Hummingbird
import NIOCore
import ProvisionAccounts

/// Who is asking: set by ``SignInMiddleware`` for every request that carries a live session
/// cookie or an API token.
struct Visitor: Sendable {
    /// The account.
    let user: User
    /// The session's cookie token; nil for an API token.
    let sessionToken: String?
    /// The token a cookie session's changes must carry; nil for an API token.
    let csrfToken: String?
    /// False between a right password and the second factor.
    let secondFactorDone: Bool
}

/// The request context of every console route: Hummingbird's core storage, the client's
/// address and who is signed in.
struct ConsoleContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    /// The peer's IP address as the socket gives it.
    let peer: String?
    /// The client's address: the peer's, or the one a trusted proxy forwarded.
    var address = "unknown"
    /// Set by ``SignInMiddleware``.
    var visitor: Visitor?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peer = source.channel.remoteAddress?.ipAddress
    }

    /// The signed-in visitor who has passed every factor, or 401.
    func signedIn() throws -> Visitor {
        guard let visitor else { throw ConsoleError.signInNeeded }
        guard visitor.secondFactorDone else { throw ConsoleError.secondFactorNeeded }
        return visitor
    }
}
