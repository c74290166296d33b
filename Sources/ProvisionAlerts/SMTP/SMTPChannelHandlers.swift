import NIOCore

/// Closes the connection when nothing has been read or written for the idle timeout, so a
/// relay that stops answering ends the conversation instead of holding a mailer forever.
final class CloseWhenIdle: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.fireErrorCaught(SMTPProtocolError(description: "the relay did not answer in time"))
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// Before STARTTLS the relay says exactly three things: its greeting, its EHLO reply and
/// its "220" to STARTTLS. Bytes after the third reply were sent in clear text but would be
/// read as if they came over TLS (the command-injection flaw of CVE-2011-0411's class), so
/// they end the conversation. Removed from the pipeline when TLS is installed.
final class PlaintextReplyLimit: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let allowedReplies: Int
    private var repliesSeen = 0
    private var column = 0
    private var continues = false

    init(allowedReplies: Int = 3) { self.allowedReplies = allowedReplies }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        for (offset, byte) in buffer.readableBytesView.enumerated() {
            guard repliesSeen < allowedReplies else {
                context.fireErrorCaught(SMTPProtocolError(
                    description: "the relay sent \(buffer.readableBytes - offset) bytes after its STARTTLS reply, before TLS began"))
                context.close(promise: nil)
                return
            }
            if column == 3 { continues = byte == UInt8(ascii: "-") }
            if byte == UInt8(ascii: "\n") {
                if !continues { repliesSeen += 1 }
                column = 0
                continues = false
            } else {
                column += 1
            }
        }
        context.fireChannelRead(data)
    }
}
