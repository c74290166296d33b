"""A real SMTP relay for the SMTP transport's tests: aiosmtpd (PyPI), with STARTTLS or
implicit TLS and AUTH, writing each accepted message as a JSON file into --out.

Prints "ready PORT" once it listens on 127.0.0.1. --mode injection is a hostile relay that
answers STARTTLS with a second, clear-text reply queued behind its 220; --mode garbage
greets with something that is not SMTP; --mode silent accepts and never says a word.
"""
import argparse
import asyncio
import json
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

parser = argparse.ArgumentParser()
parser.add_argument("--mode", choices=["plain", "starttls", "tls", "injection", "garbage", "silent"], required=True)
parser.add_argument("--cert")
parser.add_argument("--key")
parser.add_argument("--user", default="")
parser.add_argument("--password", default="")
parser.add_argument("--out", required=True)
args = parser.parse_args()


class Keep:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "login": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
        }
        path = os.path.join(args.out, f"{self.count:04d}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 Kept"


def authenticator(server, session, envelope, mechanism, auth_data):
    good = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == args.user
        and auth_data.password.decode() == args.password
    )
    return AuthResult(success=good, handled=False, auth_data=auth_data)


class Injecting(asyncio.Protocol):
    """Greets, offers STARTTLS, and answers it with 220 plus a forged 250 in clear text."""

    def connection_made(self, transport):
        self.transport = transport
        transport.write(b"220 relay.test ESMTP\r\n")

    def data_received(self, data):
        for line in data.split(b"\r\n"):
            if line.upper().startswith(b"EHLO"):
                self.transport.write(b"250-relay.test\r\n250 STARTTLS\r\n")
            elif line.upper() == b"STARTTLS":
                self.transport.write(b"220 Go ahead\r\n250 forged\r\n")


class Garbage(asyncio.Protocol):
    def connection_made(self, transport):
        transport.write(b"HTTP/1.1 400 Bad Request\r\n\r\n")


class Silent(asyncio.Protocol):
    pass


async def main():
    loop = asyncio.get_running_loop()
    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
    if args.mode in ("injection", "garbage", "silent"):
        factory = {"injection": Injecting, "garbage": Garbage, "silent": Silent}[args.mode]
    else:
        def factory():
            return SMTP(
                Keep(),
                hostname="relay.test",
                tls_context=context if args.mode == "starttls" else None,
                require_starttls=args.mode == "starttls",
                authenticator=authenticator if args.user else None,
                auth_required=bool(args.user),
                # Implicit TLS is invisible to aiosmtpd's STARTTLS bookkeeping.
                auth_require_tls=args.mode == "starttls",
            )
    server = await loop.create_server(
        factory, "127.0.0.1", 0, ssl=context if args.mode == "tls" else None)
    print("ready", server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


asyncio.run(main())
