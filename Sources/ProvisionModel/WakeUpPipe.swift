import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A pipe whose write end wakes a `poll` on a descriptor: how another thread (a task's
/// cancellation handler, a `stop()`) interrupts a thread asleep waiting for input. Both
/// ends are closed when the pipe is released, so `signal()` never writes to a closed one.
public final class WakeUpPipe: Sendable {
    /// Why a wait ended.
    public enum Wake: Sendable, Equatable {
        /// The descriptor has input (or its end of stream).
        case readable
        /// ``signal()`` was called.
        case signalled
        /// The timeout passed, or a signal interrupted the wait: look again.
        case timedOut
        /// `poll` failed with this errno.
        case failed(errno: Int32)
    }

    /// The pipe could not be made (out of descriptors, say).
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    private let readEnd: Int32
    private let writeEnd: Int32

    /// A new pipe.
    public init() throws(Failure) {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw Failure(description: "cannot make a wake-up pipe: errno \(errno)") }
        readEnd = ends[0]
        writeEnd = ends[1]
    }

    deinit {
        close(readEnd)
        close(writeEnd)
    }

    /// Wakes the wait, now or the next time one starts (the byte stays in the pipe).
    public func signal() {
        var byte: UInt8 = 1
        _ = write(writeEnd, &byte, 1)
    }

    /// Sleeps until `descriptor` is readable, the pipe is signalled (which wins when both
    /// are), or `timeout` passes; a timeout of zero or less only looks.
    public func wait(untilReadable descriptor: Int32, timeout: Duration) -> Wake {
        var descriptors = [
            pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0),
        ]
        let milliseconds = Int32(clamping: Int64(max(0, (timeout.seconds * 1000).rounded(.up))))
        let ready = poll(&descriptors, 2, milliseconds)
        if ready < 0 { return errno == EINTR ? .timedOut : .failed(errno: errno) }
        if descriptors[1].revents != 0 { return .signalled }
        if descriptors[0].revents != 0 { return .readable }
        return .timedOut
    }
}
