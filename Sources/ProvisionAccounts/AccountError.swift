/// A request about accounts that cannot be met as asked: the message says what to change.
/// It never contains a password or a token.
public struct AccountError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What is wrong, in words for the person at the command line or the console.
    public let description: String

    /// An error saying `description`.
    public init(_ description: String) { self.description = description }
}
