"""Route declarations as data, JSON helpers, and the one place errors become HTTP statuses.

Handlers are small async functions over engines. They raise; :func:`json_handler` turns exceptions into
``{"error": {"code", "message"}}`` with the real status, so no handler builds error responses itself and
no error is ever returned with HTTP 200. What aiohttp answers before a handler runs (no such path, wrong
method, a body over the server's limit) and what other middlewares answer on our paths is made JSON by
:func:`json_errors`, which also refuses dot segments on our paths.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import web

from ..engines.lora_format import LoraFileError, OutputExistsError
from ..engines.prompt_refiner.errors import (BusyError, GenerationTimeout, ModelUnavailableError, NotConfiguredError,
                                     SettingsError)

log = logging.getLogger("lora_lab.routes")

DEFAULT_MAX_BODY = 64 * 1024
# aiohttp's own limit on a request line; longer ones reach us only because the parser's is widened (see
# server_routes.install_json_errors) and are answered here: JSON on our paths, the host's plain 400 elsewhere.
MAX_REQUEST_LINE = 8190
# Our paths (also under ComfyUI's /api mirror): the namespace, and the prefixes and paths of the seed's aliases.
OUR_PREFIXES = ("/lora_lab/", "/lora/", "/prompt_refiner/")
OUR_PATHS = ("/checkpoints/stats",)
HTTP_ERROR_CODES = {400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                    413: "too_large", 414: "uri_too_long", 415: "unsupported_media_type", 429: "too_many_requests"}

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
    path: str  # under /lora_lab/
    handler: Handler
    max_body: int = DEFAULT_MAX_BODY
    aliases: tuple[str, ...] = ()  # the seed's paths for the same handler, kept so old clients keep working


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


def is_our_path(path: str) -> bool:
    path = path.removeprefix("/api")
    return path.startswith(OUR_PREFIXES) or path in OUR_PATHS


def _has_dot_segment(raw_path: str) -> bool:
    return any(unquote(segment) in (".", "..") for segment in raw_path.split("/"))


def _json_error_for(request: web.Request, status: int, text: str | None, headers) -> web.Response:
    """The JSON form of an error aiohttp or another middleware answered with (``text`` is its body)."""
    code = HTTP_ERROR_CODES.get(status, "internal" if status >= 500 else f"http_{status}")
    message = (text or "").removeprefix(f"{status}: ") or web.Response(status=status).reason
    if status == 404:
        message = f"no LoRA Lab route at {request.path}"
    elif status == 405:
        message = f"{request.method} is not allowed on {request.path}; use {headers.get('Allow', 'another method')}"
    response = error_response(status, code, message)
    if "Allow" in headers:
        response.headers["Allow"] = headers["Allow"]
    return response


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """On our paths every error is ``{"error": {"code", "message"}}``: also aiohttp's own 404/405/413 (a long
    path that matches no route included), errors other middlewares return, and ``.``/``..`` segments (plain or
    %-encoded), which are refused. Other paths pass through untouched.

    A target over aiohttp's request-line limit (:data:`MAX_REQUEST_LINE`) gets 414 here on our paths and
    aiohttp's plain-text 400 elsewhere, as before the parser's limit was widened.
    """
    raw_path = request.rel_url.raw_path
    if len(request.raw_path) > MAX_REQUEST_LINE:
        return _over_long_target(request, raw_path)
    if not is_our_path(raw_path):
        return await handler(request)
    if _has_dot_segment(raw_path):
        return error_response(400, "bad_path", "'.' and '..' segments are not allowed in LoRA Lab paths")
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _json_error_for(request, exc.status, exc.text, exc.headers)
    except Exception:  # noqa: BLE001 - a host handler failed on our path (e.g. a static lookup of a long name)
        log.exception("LoRA Lab: %s %s failed outside the pack's handlers", request.method, request.path)
        return error_response(500, "internal", f"the server failed on {request.path}")
    if response.status >= 400 and not response.prepared and response.content_type != "application/json":
        text = response.text if isinstance(response, web.Response) else None
        return _json_error_for(request, response.status, text, response.headers)
    return response


def _over_long_target(request: web.Request, raw_path: str) -> web.Response:
    length = len(request.raw_path)
    if not is_our_path(raw_path):
        return web.Response(status=400, text=f"Got more than {MAX_REQUEST_LINE} bytes when reading the request line")
    return error_response(414, "uri_too_long", f"the request target is {length} bytes; LoRA Lab paths take at most "
                                               f"{MAX_REQUEST_LINE}")


def method_not_allowed(methods: list[str]) -> Handler:
    """The handler for the other methods on one of our paths: 405 naming ``methods`` (a host's catch-all
    route, such as ComfyUI's static files at ``/``, would otherwise answer them with 404)."""
    allow = ", ".join(methods)

    async def other_method(request: web.Request) -> web.Response:
        raise web.HTTPMethodNotAllowed(request.method, methods)

    other_method.__name__ = f"not_{allow.replace(', ', '_').lower()}"
    return other_method


async def no_such_route(request: web.Request) -> web.Response:
    """Everything else under ``/lora_lab/``: our 404, before a host's catch-all route sees the path."""
    raise web.HTTPNotFound()


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
