"""A small JSON-over-HTTP client for a ComfyUI server (stdlib only), for commands that queue work.

Errors come back as :class:`ServerError` (a ValueError, so ``lora-lab`` prints one line and exits 2;
:class:`Unreachable` when the server cannot be reached at all)
carrying the server's own message: LoRA Lab routes answer ``{"error": {"code", "message"}}``, ComfyUI's
``/prompt`` answers ``{"error": {...}, "node_errors": {...}}``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class ServerError(ValueError):
    """The server refused a request or could not be reached."""


class Unreachable(ServerError):
    """The server could not be reached: ``gone`` when the connection was refused or cut (the server stopped),
    not when it merely did not answer in time (a busy server)."""

    def __init__(self, message: str, gone: bool) -> None:
        super().__init__(message)
        self.gone = gone


class ComfyClient:
    def __init__(self, url: str, timeout: float = 60.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise ServerError(f"--server must be an http(s) URL, got {url!r}")
        self.url, self.timeout = url.rstrip("/"), timeout

    def request(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                return json.loads(response.read(MAX_RESPONSE_BYTES) or b"null")
        except urllib.error.HTTPError as exc:
            raise ServerError(f"{method} {path}: HTTP {exc.code}: {_message(exc.read(MAX_RESPONSE_BYTES))}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise Unreachable(f"cannot reach ComfyUI at {self.url} ({exc})", isinstance(reason, ConnectionError)) from None

    def get(self, path: str):
        return self.request("GET", path)

    def post(self, path: str, body: dict):
        return self.request("POST", path, body)


def _message(raw: bytes) -> str:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw[:500].decode("utf-8", "replace")
    error = body.get("error") if isinstance(body, dict) else None
    text = error.get("message", "") if isinstance(error, dict) else str(error or body)
    if isinstance(body, dict) and body.get("node_errors"):
        text += f" node_errors: {json.dumps(body['node_errors'])[:1000]}"
    return text
