#!/usr/bin/env python3
"""A real SMTP server on loopback for OrgVault's e-mail tests (aiosmtpd).

Usage: smtp_sink.py --port PORT --dir DIR [--auth USER:PASSWORD]

Each message it accepts is written to DIR as N.eml (the raw bytes as received) and N.json
(envelope sender and recipients, Subject, From, To, and the decoded text/plain and text/html
parts), so a test can check both what went over the wire and what a reader sees. With --auth the
server requires that login (AUTH PLAIN/LOGIN, allowed without TLS on loopback) and refuses any
other with 535. Prints "ready" on stdout once it accepts connections; stops on SIGTERM/SIGINT.
"""
import argparse
import email
import email.policy
import json
import os
import signal
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            n = self.count
        raw = envelope.original_content or envelope.content
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        parts = {}
        for part in msg.walk():
            ctype = part.get_content_type()
            if ctype in ("text/plain", "text/html") and ctype not in parts:
                parts[ctype] = part.get_content()
        doc = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(msg["Subject"]),
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "text": parts.get("text/plain", ""),
            "html": parts.get("text/html", ""),
            "login": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
        }
        tmp = os.path.join(self.folder, f".{n}.tmp")
        with open(os.path.join(self.folder, f"{n}.eml"), "wb") as f:
            f.write(raw)
        with open(tmp, "w") as f:
            json.dump(doc, f)
        # The .json appears whole: a test polls for it.
        os.rename(tmp, os.path.join(self.folder, f"{n}.json"))
        return "250 Message accepted for delivery"


def authenticator_for(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    return authenticate


def main():
    # Loopback only: AUTH without TLS is what the tests exercise.
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--auth")
    args = ap.parse_args()
    kwargs = {}
    if args.auth:
        user, password = args.auth.split(":", 1)
        kwargs = dict(
            authenticator=authenticator_for(user, password), auth_required=True, auth_require_tls=False
        )
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port, **kwargs)
    controller.start()
    print("ready", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
