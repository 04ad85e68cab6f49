"""Stacks: lora_configs parsing, applying through the cache, fallbacks with structured warnings, strict mode."""

from __future__ import annotations

import pytest
import torch

from brand_library import make_brand, sd15_model, torch_applier, write_sdxl_lora
from comfyui_lora_lab.engines.brands import BrandService
from comfyui_lora_lab.engines.brands.entries import StackConfigError, StackEntry, parse_lora_configs
from comfyui_lora_lab.engines.brands.ids import BrandRef
from comfyui_lora_lab.engines.brands.scan import BrandRoot
from comfyui_lora_lab.engines.brands.stack import StackError, apply_items, resolve_items
from comfyui_lora_lab.engines.brands.run import StackRequest, incoming_items, run_stack
from comfyui_lora_lab.engines.lora_inspect import Target

SD15 = Target("sd15", "sd15")


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "loras" / "brands"
    make_brand(root, "acme", {"style.safetensors": 0, "product.safetensors": 1, "v2/style.safetensors": 2})
    make_brand(root, "photo_studio", {"lora.safetensors": 3})
    return root


@pytest.fixture
def service(root):
    return BrandService(lambda: [BrandRoot(root, "brands")])


@pytest.mark.parametrize("text,expected", [
    ("", []),
    ('[{"brand_id": "acme", "weight": 0.7, "type": "style"}]', [("acme", "style", None, 0.7, 0.7)]),
    ('[{"brand_id": "acme", "type": "product", "version": "v2", "clip_weight": 0.25}]',
     [("acme", "product", "v2", 0.8, 0.25)]),
    ("acme: 0.5\n# a comment\nacme/product@v1: 0.6, 0.3\nphoto_studio", [
        ("acme", "style", None, 0.5, 0.5), ("acme", "product", "v1", 0.6, 0.3),
        ("photo_studio", "style", None, 0.8, 0.8)]),
])
def test_lora_configs_forms(text, expected):
    got = [(e.ref.brand_id, e.ref.role, e.ref.version, e.weight, e.clip_strength) for e in parse_lora_configs(text)]
    assert got == expected


@pytest.mark.parametrize("text,message", [
    ("[{brand_id: acme}]", "lora_configs is not valid JSON"),
    ('{"brand_id": "acme"}', "must be a JSON list of objects"),
    ('["acme"]', r"lora_configs\[0\] must be an object"),
    ('[{"brand_id": "acme", "weight": 1.5}]', r"lora_configs\[0\].weight is 1.5, outside the allowed range 0.0 to 1.0"),
    ('[{"brand_id": "acme", "weight": -0.1}]', "outside the allowed range"),
    ('[{"brand_id": "acme", "weight": "high"}]', "must be a number"),
    ('[{"brand_id": "acme", "weight": NaN}]', "must be a number"),
    ('[{"brand_id": "acme", "wieght": 0.5}]', r"unknown key\(s\) \['wieght'\]"),
    ('[{"weight": 0.5}]', "has no 'brand_id'"),
    ('[{"brand_id": "../../etc"}]', r"lora_configs\[0\]: brand id '../../etc' is a path"),
    ('[{"brand_id": "acme", "version": "latest"}]', "not a version label"),
    ("acme: lots", "weights must be numbers"),
    ("acme: 2", "outside the allowed range"),
    ("acme: 0.1, 0.2, 0.3", "expected 'brand"),
    ("a\x00b: 0.5", "NUL byte"),
    ("x" * 70_000, "the limit is 65,536"),
    ("\n".join(f"acme: 0.{i % 9}" for i in range(40)), "holds 40 LoRAs; the limit is 32"),
])
def test_bad_lora_configs_say_where_and_why(text, message):
    with pytest.raises(StackConfigError, match=message):
        parse_lora_configs(text)


def _items(service, *refs, weight=0.8):
    return resolve_items(service.library, [StackEntry(BrandRef.parse(r), weight) for r in refs])


def test_stack_applies_in_order_with_weights_and_reports_keys(service):
    base = sd15_model()
    model, clip, report = apply_items(base, "clip", _items(service, "acme", "acme/product"), service.cache,
                                      torch_applier, SD15, strict=False)
    assert [e.status for e in report.entries] == ["applied", "applied"]
    assert report.entries[0].version == "v2" and report.entries[0].cache == "miss"
    assert report.entries[0].keys == {"file_keys": 18, "matched_keys": 18, "unmatched_keys": 0,
                                      "unmatched_examples": []}
    assert all(torch.equal(t, torch.zeros_like(t)) for t in base.values())  # inputs never modified
    assert any(not torch.equal(model[k], base[k]) for k in base) and clip == "clip"
    _, _, again = apply_items(base, None, _items(service, "acme"), service.cache, torch_applier, SD15, False)
    assert again.entries[0].cache == "hit"


def _break(service, root, how):
    path = root / "acme" / "v2" / "style.safetensors"
    if how == "deleted_while_cached":
        service.cache.get(path)
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    elif how == "header_longer_than_file":
        raw = path.read_bytes()
        path.write_bytes((len(raw) * 2).to_bytes(8, "little") + raw[8:])
    elif how == "wrong_family":
        write_sdxl_lora(path)


@pytest.mark.parametrize("how,reason", [
    ("deleted_while_cached", "unreadable_file"),
    ("truncated", "truncated_file"),
    ("header_longer_than_file", "bad_header"),
    ("wrong_family", "family_mismatch"),
])
def test_bad_files_fall_back_to_the_unchanged_model_with_a_warning(service, root, how, reason):
    items = _items(service, "acme")  # resolved first: the file goes bad between queueing and loading
    _break(service, root, how)
    base = sd15_model()
    model, _, report = apply_items(base, None, items, service.cache, torch_applier, SD15, False)
    assert model is base
    fallback = report.fallbacks[0]
    assert (fallback.brand, fallback.file, fallback.reason) == ("acme", "brands/acme/v2/style.safetensors", reason)
    assert report.entries[0].status == "fallback" and "WARNING: acme / brands/acme/v2/style.safetensors" in report.text()
    assert how != "truncated" or "The file is truncated" in fallback.message
    with pytest.raises(StackError, match="brand 'acme', file 'brands/acme/v2/style.safetensors'"):
        apply_items(base, None, items, service.cache, torch_applier, SD15, strict=True)


def test_missing_brand_falls_back_and_the_rest_of_the_stack_still_applies(service):
    items = _items(service, "ghost", "photo_studio")
    model, _, report = apply_items(sd15_model(), None, items, service.cache, torch_applier, SD15, False)
    assert [e.status for e in report.entries] == ["fallback", "applied"]
    assert report.fallbacks[0].reason == "not_found" and "brand 'ghost' not found" in report.fallbacks[0].message


def test_service_counts_fallbacks_by_reason(service, root):
    request = StackRequest("ghost", 0.8, "acme/product: 0.5")
    out = run_stack(service, request, sd15_model(), None, [], torch_applier, SD15)
    assert out.stacks == [[("brands/acme/product.safetensors", 0.5, 0.5)]]
    assert service.stats()["fallbacks"] == {"not_found": 1}


def test_incoming_lora_stack_is_applied_first_and_passed_on(service, root):
    incoming = incoming_items([("brands/photo_studio/lora.safetensors", 0.4, 0.2), ("None", 1.0, 1.0)],
                              lambda name: root.parent / name)
    out = run_stack(service, StackRequest("acme", 0.6), sd15_model(), None, incoming, torch_applier, SD15)
    assert out.stacks[0] == [("brands/photo_studio/lora.safetensors", 0.4, 0.2), ("brands/acme/v2/style.safetensors",
                                                                                0.6, 0.6)]


@pytest.mark.parametrize("stack,message", [
    ("not a list", "LORA_STACK must be a list"),
    ([("a.safetensors", 1.0)], r"LORA_STACK\[0\] must be \(name, model weight, clip weight\)"),
    ([(3, 1.0, 1.0)], r"LORA_STACK\[0\]"),
])
def test_malformed_incoming_stacks_are_refused(stack, message):
    with pytest.raises(StackConfigError, match=message):
        incoming_items(stack, lambda name: name)


def test_unresolvable_incoming_name_is_a_fallback(service):
    def resolve(name):
        raise FileNotFoundError(f"'{name}' is not in ComfyUI's 'loras' folders")

    incoming = incoming_items([("gone.safetensors", 1.0, 1.0)], resolve)
    out = run_stack(service, StackRequest("acme"), sd15_model(), None, incoming, torch_applier, SD15)
    assert out.reports[0].fallbacks[0].reason == "not_found" and out.stacks[0][0][0].endswith("style.safetensors")


def test_queue_time_check_in_strict_mode_reads_headers(service, root):
    StackRequest("acme", 0.8, "photo_studio: 0.5", strict=True).check(service)
    StackRequest("ghost", 0.8).check(service)  # not strict: a missing brand falls back at run time
    with pytest.raises(StackError, match="brand 'ghost' not found"):
        StackRequest("ghost", 0.8, strict=True).check(service)
    (root / "photo_studio" / "lora.safetensors").write_bytes(b"\x00" * 4)
    with pytest.raises(ValueError, match="too short to hold a safetensors header"):
        StackRequest("acme", 0.8, "photo_studio: 0.5", strict=True).check(service)
    with pytest.raises(StackConfigError, match="not valid JSON"):
        StackRequest("acme", 0.8, "[oops").check(service)


def test_fingerprint_changes_when_a_new_version_arrives(service, root):
    request = StackRequest("acme", 0.8)
    before = request.fingerprint(service)
    assert request.fingerprint(service) == before
    make_brand(root, "acme", {"v3/style.safetensors": 7})
    assert request.fingerprint(service) != before


@pytest.mark.parametrize("brand,message", [("../x", "brand id '../x' is a path"), ("acme@v1", "may only hold"),
                                           ("q" * 10_240, "longer than 128")])
def test_the_brand_widget_takes_a_plain_brand_id(service, brand, message):
    with pytest.raises(ValueError, match=message):
        StackRequest(brand).check(service)
