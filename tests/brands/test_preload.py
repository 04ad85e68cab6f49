"""LORA_PRELOAD_BRANDS: parsed and validated, loaded in the background, first request a hit."""

from __future__ import annotations

import threading

import pytest

from brand_library import make_brand
from comfyui_lora_lab.engines.brands import BrandService
from comfyui_lora_lab.engines.brands.cache import LoraCache
from comfyui_lora_lab.engines.brands.config import preload_refs
from comfyui_lora_lab.engines.brands.ids import BrandRef
from comfyui_lora_lab.engines.brands.scan import BrandRoot
from comfyui_lora_lab.engines.common.errors import ConfigError
from comfyui_lora_lab.engines.lora_format import load_tensors


@pytest.mark.parametrize("value,expected", [
    ("", []),
    ("acme", ["acme"]),
    (" acme , beta/product,acme, gamma@v2 ,", ["acme", "beta/product", "gamma@v2"]),
])
def test_preload_list(value, expected):
    assert [ref.label for ref in preload_refs({"LORA_PRELOAD_BRANDS": value})] == expected


@pytest.mark.parametrize("value,message", [
    ("acme,../etc", "LORA_PRELOAD_BRANDS: brand id '..' may only hold"),
    ("a\x00", "NUL byte"),
    (",".join(f"b{i}" for i in range(1001)), "names 1001 brands; the limit is 1000"),
])
def test_bad_preload_lists_name_the_variable(value, message):
    with pytest.raises(ConfigError, match=message):
        preload_refs({"LORA_PRELOAD_BRANDS": value})


@pytest.fixture
def library_root(tmp_path):
    root = tmp_path / "brands"
    for index in range(50):
        make_brand(root, f"brand{index:02d}", {"style.safetensors": index})
    return root


def test_preload_returns_before_any_file_is_read_and_the_first_request_is_a_hit(library_root):
    release, loads = threading.Event(), []

    def gated_loader(path):
        release.wait(30)
        loads.append(path)
        return load_tensors(path)

    service = BrandService(lambda: [BrandRoot(library_root, "brands")], LoraCache(loader=gated_loader))
    refs = [BrandRef(f"brand{i:02d}") for i in range(50)] + [BrandRef("ghost")]
    thread = service.start_preload(refs)
    assert thread.is_alive() and loads == []  # start-up went on while nothing had been read yet
    assert service.stats()["preload"]["done"] is False
    release.set()
    assert service.wait_preload(60)
    status = service.stats()["preload"]
    assert len(status["loaded"]) == 50 and status["failed"][0]["brand"] == "ghost"
    assert "brand 'ghost' not found" in status["failed"][0]["reason"]
    path = service.library.resolve(BrandRef("brand49")).file.path
    assert service.cache.get(path).hit
    snap = service.cache.snapshot()
    assert (snap["preloaded"], snap["hits"], snap["misses"], snap["entries"]) == (50, 1, 0, 5)


def test_nothing_to_preload_starts_no_thread(library_root):
    service = BrandService(lambda: [BrandRoot(library_root, "brands")])
    assert service.start_preload([]) is None and service.wait_preload(0)
