"""The /lora routes on a bare aiohttp app: listing, metadata with ETags, cache stats/clear, A/B, bad ids."""

from __future__ import annotations

import json
import threading

import pytest

from brand_library import make_brand, write_lora
from comfyui_lora_lab.engines.brands.ids import BrandRef
from comfyui_lora_lab.server_routes.app import build_app
from comfyui_lora_lab.engines.lab import Lab

LORA_ENV = ("LORA_BASE_DIR", "LORA_CACHE_ENABLED", "LORA_CACHE_MAX_SIZE", "LORA_CACHE_MAX_BYTES", "LORA_PRELOAD_BRANDS")


@pytest.fixture
def services(tmp_path, monkeypatch):
    for name in LORA_ENV:
        monkeypatch.delenv(name, raising=False)
    loras = tmp_path / "loras"
    make_brand(loras / "brands", "acme", {"style.safetensors": 0, "v2/style.safetensors": 1, "product.safetensors": 2},
               metadata={"description": "Acme house style", "base_model": "sd15", "default_version": "v2",
                         "training": {"steps": 1200, "learning_rate": 0.0001, "dataset_size": 40},
                         "versions": {"v2": {"notes": "more product shots"}}, "ab_arms": [0.5, 0.9]})
    make_brand(loras / "brands", "beta")
    return Lab(data_dir=tmp_path / "data", lora_dirs=lambda: [loras])


@pytest.fixture
async def client(aiohttp_client, services):
    return await aiohttp_client(build_app(services))


async def test_list_under_both_prefixes(client):
    for path in ("/lora/list", "/api/lora/list"):
        response = await client.get(path)
        body = await response.json()
        assert response.status == 200 and body["count"] == 2
    acme = body["brands"][0]
    assert acme == {"brand_id": "acme", "roles": ["style", "product"], "versions": ["v2"], "files": 3,
                    "has_metadata": True, "refused_files": [], "truncated_listing": False}


async def test_metadata_reads_headers_and_sidecar_with_an_etag(client, services):
    response = await client.get("/api/lora/acme/metadata")
    body = await response.json()
    assert response.status == 200 and response.headers["ETag"] == body["etag"]
    assert body["description"] == "Acme house style" and body["training"]["steps"] == 1200
    assert [v["version"] for v in body["versions"]] == ["v2", None]
    v2 = body["versions"][0]
    assert v2["notes"] == {"notes": "more product shots"}
    assert v2["files"][0] | {"family": "sd15", "default": True, "lora_name": "brands/acme/v2/style.safetensors"} == \
        v2["files"][0]
    assert v2["files"][0]["rank"] == 4 and v2["files"][0]["alpha"] == 2.0
    unchanged = await client.get("/api/lora/acme/metadata", headers={"If-None-Match": body["etag"]})
    assert unchanged.status == 304 and unchanged.headers["ETag"] == body["etag"]
    write_lora(services.lora_dirs()[0] / "brands" / "acme" / "product.safetensors", seed=5, rank=8)
    changed = await client.get("/api/lora/acme/metadata", headers={"If-None-Match": body["etag"]})
    assert changed.status == 200 and changed.headers["ETag"] != body["etag"]


async def test_metadata_of_a_brand_with_a_corrupt_file_and_sidecar_still_answers(client, services):
    folder = services.lora_dirs()[0] / "brands" / "beta"
    (folder / "style.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{}")
    (folder / "metadata.json").write_text("{broken")
    body = await (await client.get("/lora/beta/metadata")).json()
    assert "runs past the end of the file" in body["versions"][0]["files"][0]["error"]
    assert "not valid UTF-8 JSON" in body["metadata_error"]


@pytest.mark.parametrize("path,status,message", [
    ("/lora/..%2Fx/metadata", 400, "is a path"),
    ("/lora/%2Fetc%2Fpasswd/metadata", 400, "is a path"),
    ("/lora/acme%00/metadata", 400, "NUL byte"),
    ("/lora/" + "a" * 5000 + "/metadata", 400, "longer than 128"),
    ("/lora/..%2F..%2Fdata/ab", 400, "is a path"),
    ("/lora/nobody/metadata", 404, "brand 'nobody' not found"),
    ("/lora/acme/ab?arms=0.5,9", 400, "outside the allowed range"),
])
async def test_bad_brand_ids_in_urls(client, path, status, message):
    response = await client.get(path)
    assert response.status == status
    assert message in (await response.json())["error"]["message"]


async def test_a_10_kb_id_is_refused_before_any_handler(client):
    response = await client.get("/lora/" + "a" * 10_240 + "/metadata")
    assert response.status in (400, 414)


async def test_stats_and_clear_share_the_node_cache(client, services):
    cache = services.brands.cache
    path = services.brands.library.resolve(BrandRef("acme")).file.path
    cache.get(path)
    cache.get(path)
    stats = await (await client.get("/api/lora/cache/stats")).json()
    assert (stats["hits"], stats["misses"], stats["entries"], stats["hit_rate"]) == (1, 1, 1, 0.5)
    assert stats["max_entries"] == 5 and stats["resident"][0]["path"].endswith("v2/style.safetensors")
    assert stats["preload"]["done"] is True and stats["fallbacks"] == {}
    cleared = await (await client.post("/api/lora/cache/clear")).json()
    assert cleared["entries_cleared"] == 1 and cleared["stats"]["entries"] == 0 and cache.snapshot()["entries"] == 0


def test_services_create_one_brand_service_for_every_thread(services):
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(services.brands)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(item) for item in seen}) == 1


async def test_env_settings_reach_the_shared_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LORA_CACHE_MAX_SIZE", "9")
    monkeypatch.setenv("LORA_CACHE_MAX_BYTES", "64MB")
    base = tmp_path / "base"
    make_brand(base, "seedbrand")
    monkeypatch.setenv("LORA_BASE_DIR", str(base))
    services = Lab(data_dir=tmp_path, lora_dirs=lambda: [tmp_path / "loras"])
    assert services.brands.cache.config.max_entries == 9 and services.brands.cache.config.max_bytes == 64 * 1024**2
    assert services.brands.library.brand_ids() == ["seedbrand"]


async def test_ab_route_reports_arms_from_the_sidecar(client):
    body = await (await client.get("/lora/acme/ab")).json()
    assert [arm["arm"] for arm in body["arms"]] == ["acme=0.5", "acme=0.9"]
    assert body["arms"][0]["loras"] == [{"name": "brands/acme/v2/style.safetensors", "strength": 0.5}]
    assert body["arms"][0]["drafts"] == 0 and body["experiment"]
    custom = await (await client.get("/lora/acme/ab", params={"arms": json.dumps({"x": {"acme/product": 0.3}})})).json()
    assert custom["arms"][0]["loras"][0]["name"] == "brands/acme/product.safetensors"
