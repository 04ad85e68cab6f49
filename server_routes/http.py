"""Route declarations as data, JSON helpers, and the one place errors become HTTP statuses.

Handlers are small async functions over engines. They raise; :func:`json_handler` turns exceptions into
``{"error": {"code", "message"}}`` with the real status, so no handler builds error responses itself and
no error is ever returned with HTTP 200.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from ..engines.lora_format import LoraFileError, OutputExistsError
from ..engines.refiner.errors import (BusyError, GenerationTimeout, ModelUnavailableError, NotConfiguredError,
                                     SettingsError)

log = logging.getLogger("lora_lab.routes")

DEFAULT_MAX_BODY = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An error with an HTTP status and a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


# Engine exceptions -> (status, code), most specific first. Everything else is a 500 with a logged trace.
ERROR_STATUS: tuple[tuple[type[BaseException], int, str], ...] = (
    (OutputExistsError, 409, "exists"),
    (LoraFileError, 422, "bad_lora_file"),
    (FileNotFoundError, 404, "not_found"),
    (KeyError, 404, "not_found"),
    (PermissionError, 403, "forbidden"),
    (ValueError, 400, "bad_request"),
    (NotConfiguredError, 503, "no_model"),
    (SettingsError, 503, "bad_settings"),
    (ModelUnavailableError, 503, "model_unavailable"),
    (BusyError, 503, "busy"),
    (GenerationTimeout, 504, "timeout"),
)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    max_body: int = DEFAULT_MAX_BODY


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def _status_for(exc: BaseException) -> tuple[int, str]:
    for kind, status, code in ERROR_STATUS:
        if isinstance(exc, kind):
            return status, code
    return 500, "internal"


def json_handler(handler: Handler) -> Handler:
    """Wrap a handler so every failure is a JSON error with the right status."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - the single place errors are mapped
            status, code = _status_for(exc)
            if status == 500:
                log.exception("LoRA Lab route %s %s failed", request.method, request.path)
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return error_response(status, code, str(message) or type(exc).__name__)

    wrapped.__name__ = getattr(handler, "__name__", "handler")
    return wrapped


async def read_json(request: web.Request, max_bytes: int = DEFAULT_MAX_BODY) -> dict:
    """The request body as a JSON object, refusing bodies over ``max_bytes`` before reading them whole."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, "too_large", f"request body is {request.content_length} bytes; the limit is {max_bytes}")
    raw = await request.content.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ApiError(413, "too_large", f"request body is over the {max_bytes}-byte limit")
    try:
        body = json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "bad_json", f"request body is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", f"request body must be a JSON object, got {type(body).__name__}")
    return body
