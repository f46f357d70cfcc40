"""The HTTPS JSON-RPC server: FreeIPA's three session endpoints, on 127.0.0.1 only.

Run as `python -m sandbox.freeipa.server --state-dir DIR/freeipa`.
"""

from __future__ import annotations

import argparse
import json
import logging
import ssl
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import commands, errors, passwords
from .commands import SERVER_VERSION
from .sessions import Sessions, clear_cookie, set_cookie
from .store import Directory
from .tree import Tree

log = logging.getLogger("sandbox.freeipa")

UNAUTHORIZED_PAGE = (
    b"<html><head><title>401 Unauthorized</title></head><body><h1>Unauthorized</h1></body></html>"
)
LOGIN_FAILED_PAGE = (
    "<html><head><title>401 Unauthorized</title></head><body><h1>Invalid Authentication</h1>"
    "<p><strong>kinit: {reason}</strong></p></body></html>"
)
PWCHANGE_PAGE = (
    "<html><head><title>200 Success</title></head><body><h1>{title}</h1>"
    "<p><strong>{message}</strong></p></body></html>"
)


class FreeIPAServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.host_name = config["host"]
        self.tree = Tree(
            Directory(
                config["ldap_uri"], config["bind_dn"], config["bind_password"], config["base_dn"]
            ),
            config["realm"],
        )
        self.sessions = Sessions()
        super().__init__(("127.0.0.1", int(config["port"])), Handler)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FreeIPAServer

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._send(404, b"", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        routes = {
            "/ipa/session/json": self._json,
            "/ipa/session/login_password": self._login,
            "/ipa/session/change_password": self._change_password,
        }
        route = routes.get(urllib.parse.urlsplit(self.path).path)
        if route is None:
            self._send(404, b"", "text/plain")
            return
        route(body)

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _form(self, body: bytes) -> dict[str, str] | None:
        if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            self._send(415, b"Unsupported Media Type", "text/plain")
            return None
        if not self._form_referer_ok():
            self._send(400, b"denied", "text/plain")
            return None
        return {
            k: v[0] for k, v in urllib.parse.parse_qs(body.decode(), keep_blank_values=True).items()
        }

    def _form_referer_ok(self) -> bool:
        referer = self.headers.get("Referer") or ""
        parts = urllib.parse.urlsplit(referer)
        return (
            referer.count("://") == 1
            and parts.scheme == "https"
            and parts.hostname == self.server.host_name
            and (parts.path == "/ipa" or parts.path.startswith("/ipa/"))
        )

    def _json_referer_ok(self) -> bool:
        referer = self.headers.get("Referer") or ""
        host = self.server.host_name
        port = self.server.config["port"]
        return referer.startswith((f"https://{host}/ipa", f"https://{host}:{port}/ipa"))

    def _login(self, body: bytes) -> None:
        form = self._form(body)
        if form is None:
            return
        tree = self.server.tree
        uid = (form.get("user") or "").lower()
        user = tree.user(uid) if uid and "," not in uid else None
        if user is None or not passwords.check_login(tree, user, form.get("password", "")):
            reason = "invalid-password"
            if user is not None and user.first("nsaccountlock", "FALSE").upper() == "TRUE":
                reason = "user-locked"
            self._reject(reason, "Password incorrect while getting initial credentials")
            return
        if passwords.password_expired(user):
            self._reject(
                "password-expired", "Cannot read password while getting initial credentials"
            )
            return
        cookie = self.server.sessions.open(uid)
        self._send(200, b"", "text/plain; charset=UTF-8", {"Set-Cookie": set_cookie(cookie)})

    def _reject(self, reason: str, text: str) -> None:
        page = LOGIN_FAILED_PAGE.format(reason=text).encode()
        self._send(401, page, "text/html; charset=utf-8", {"X-IPA-Rejection-Reason": reason})

    def _change_password(self, body: bytes) -> None:
        form = self._form(body)
        if form is None:
            return
        tree = self.server.tree
        uid = (form.get("user") or "").lower()
        user = tree.user(uid) if uid and "," not in uid else None
        old = form.get("old_password", "") + form.get("otp", "")
        if user is None or not passwords.bind_as_user(tree, user, old):
            self._pwchange(
                "invalid-password",
                "Password change rejected",
                "The old password or username is not correct.",
            )
            return
        try:
            passwords.set_by_self(tree, user, form.get("new_password", ""))
        except passwords.PolicyError as error:
            self._pwchange(
                "policy-error",
                "Password change rejected",
                f"Password change was rejected: {error}",
                str(error),
            )
            return
        self._pwchange("ok", "Password change successful", "Password was changed.")

    def _pwchange(self, result: str, title: str, message: str, policy: str | None = None) -> None:
        headers = {"X-IPA-Pwchange-Result": result}
        if policy:
            headers["X-IPA-Pwchange-Policy-Error"] = policy
        page = PWCHANGE_PAGE.format(title=title, message=message).encode()
        self._send(200, page, "text/html; charset=utf-8", headers)

    def _json(self, body: bytes) -> None:
        tree = self.server.tree
        session = self.server.sessions.lookup(self.headers.get("Cookie"))
        caller = tree.user(session[1]) if session else None
        if session is None or caller is None:
            self._send(
                401,
                UNAUTHORIZED_PAGE,
                "text/html; charset=UTF-8",
                {"WWW-Authenticate": "Negotiate"},
            )
            return
        principal = tree.principal(session[1])
        request_id = None
        extra_headers: dict[str, str] = {}
        try:
            if not self._json_referer_ok():
                raise errors.RefererError(referer=self.headers.get("Referer") or "missing")
            method, args, options, request_id = _parse_request(body)
            server_url = f"https://{self.server.host_name}/ipa/xml"
            result = commands.execute(tree, caller, method, args, options, server_url)
            if method == "session_logout":
                # As with FreeIPA's bearer tokens, the cookie is dropped, not revoked.
                extra_headers["Set-Cookie"] = clear_cookie()
            envelope = {"result": result, "error": None}
        except errors.PublicError as error:
            envelope = {"result": None, "error": error.as_json()}
        except Exception:
            log.exception("command failed")
            envelope = {"result": None, "error": errors.InternalError().as_json()}
        envelope.update(id=request_id, principal=principal, version=SERVER_VERSION)
        self._send(
            200, json.dumps(envelope).encode(), "application/json; charset=utf-8", extra_headers
        )


def _parse_request(body: bytes) -> tuple[str, list, dict, Any]:
    try:
        request = json.loads(body)
    except ValueError as error:
        raise errors.JSONError(error=str(error)) from error
    if not isinstance(request, dict) or "method" not in request:
        raise errors.JSONError(error='Request is missing "method"')
    params = request.get("params", [[], {}])
    if not isinstance(params, list) or len(params) != 2:
        raise errors.JSONError(error="params must contain [args, options]")
    args, options = params
    if not isinstance(args, list):
        raise errors.JSONError(error="params[0] (aka args) must be a list")
    if not isinstance(options, dict):
        raise errors.JSONError(error="params[1] (aka options) must be a dict")
    return str(request["method"]), args, options, request.get("id")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    folder = parser.parse_args().state_dir
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    config = json.loads((folder / "config.json").read_text())
    commands.load_all()
    server = FreeIPAServer(config)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    log.info("FreeIPA stand-in on https://%s:%s", config["host"], config["port"])
    server.serve_forever()


if __name__ == "__main__":
    main()
