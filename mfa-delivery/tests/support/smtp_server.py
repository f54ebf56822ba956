"""A local SMTP server for mfa-delivery's tests, built on aiosmtpd.

Usage: python3 smtp_server.py --port PORT --out DIR [--auth USER:PASSWORD]

Every received message is written to DIR as NNNN.eml (raw) and NNNN.json
(headers decoded, MIME parts decoded, parsed by Python's `email` package),
the JSON via a temporary file and a rename, before the server answers 250,
so a client whose send succeeded finds both. With --auth the
server advertises AUTH PLAIN/LOGIN over the plain connection and accepts
only USER:PASSWORD. The server never offers STARTTLS. It prints "READY"
once listening and stops on SIGTERM/SIGINT or when stdin closes.
"""

import argparse
import email
import email.policy
import json
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class SaveToFolder:
    def __init__(self, out):
        self.out = out
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        raw = envelope.original_content or envelope.content
        with open(os.path.join(self.out, f"{n:04d}.eml"), "wb") as f:
            f.write(raw)
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        summary = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {k: str(parsed[k]) for k in set(parsed.keys())},
            "content_type": parsed.get_content_type(),
            "parts": [
                {"content_type": part.get_content_type(), "body": part.get_content()}
                for part in parsed.walk()
                if not part.is_multipart()
            ],
        }
        tmp = os.path.join(self.out, f"{n:04d}.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(summary, f)
        os.replace(tmp, os.path.join(self.out, f"{n:04d}.json"))
        return "250 OK"


def authenticator_for(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            auth_data is not None
            and getattr(auth_data, "login", None) == user.encode()
            and getattr(auth_data, "password", None) == password.encode()
        )
        # handled=False makes aiosmtpd answer 535 itself on failure.
        return AuthResult(success=ok, handled=False)

    return authenticate


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--auth")
    args = parser.parse_args()

    kwargs = {}
    if args.auth:
        user, password = args.auth.split(":", 1)
        kwargs = {
            "authenticator": authenticator_for(user, password),
            "auth_required": True,
            "auth_require_tls": False,
        }
    controller = Controller(
        SaveToFolder(args.out), hostname="127.0.0.1", port=args.port, **kwargs
    )
    controller.start()
    print("READY", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
