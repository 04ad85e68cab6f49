"""Brand ids that try to leave the root, and how a brand folder resolves to one file (roles, versions, pins)."""

from __future__ import annotations

import json
import os

import pytest

from brand_library import make_brand, write_lora
from comfyui_lora_lab.engines.brands.ids import BrandIdError, BrandRef, child_path, validate_brand_id
from comfyui_lora_lab.engines.brands.library import BrandLibrary, BrandNotFoundError
from comfyui_lora_lab.engines.brands.scan import BrandRoot
from comfyui_lora_lab.engines.brands.sidecar import read_sidecar


@pytest.fixture
def root(tmp_path):
    return tmp_path / "brands"


@pytest.fixture
def library(root):
    root.mkdir()
    return BrandLibrary(lambda: [BrandRoot(root, "brands")])


@pytest.mark.parametrize("bad,message", [
    ("../x", "is a path"),
    ("..", "may only hold"),
    (".", "may only hold"),
    ("/etc/passwd", "is a path"),
    ("C:\\Windows", "is a path"),
    ("acme\x00.safetensors", "NUL byte"),
    ("x" * 10_240, "longer than 128"),
    ("", "is empty"),
    ("~root", "is a path"),
    (".hidden", "must start with a letter or digit"),
    ("a b", "may only hold"),
    (42, "must be text"),
])
def test_bad_brand_ids_are_refused_with_the_reason(bad, message):
    with pytest.raises(BrandIdError, match=message) as info:
        validate_brand_id(bad)
    assert len(str(info.value)) < 300  # a 10 KB id is never echoed back whole


@pytest.mark.parametrize("bad", ["../x", "/etc", "a\x00b", "y" * 10_240, "a/b/c", "acme@latest"])
def test_bad_references_never_reach_the_file_system(library, root, bad, monkeypatch):
    opened = []
    monkeypatch.setattr(os, "scandir", lambda *a: opened.append(a) or (_ for _ in ()).throw(AssertionError))
    with pytest.raises(BrandIdError):
        library.resolve(BrandRef.parse(bad))
    assert opened == []


def test_a_symlink_out_of_the_root_is_refused(library, root, tmp_path):
    outside = make_brand(tmp_path / "elsewhere", "secret")
    (root / "leak").symlink_to(outside, target_is_directory=True)
    with pytest.raises(BrandIdError, match="outside the brand root"):
        library.get("leak")
    assert "leak" not in library.brand_ids()
    with pytest.raises(BrandIdError, match="outside"):
        child_path(root, "leak")


@pytest.mark.parametrize("files,expected", [
    ({"style.safetensors": 0, "lora.safetensors": 1, "acme.safetensors": 2}, "style.safetensors"),
    ({"lora.safetensors": 1, "acme.safetensors": 2}, "lora.safetensors"),
    ({"acme.safetensors": 2}, "acme.safetensors"),
    ({"style.safetensors": 0, "v2/style.safetensors": 1, "v1/style.safetensors": 2}, "v2/style.safetensors"),
    ({"style_v1.safetensors": 0, "style-v3.safetensors": 1, "v2/style.safetensors": 2}, "style-v3.safetensors"),
    ({"v1.10/lora.safetensors": 0, "v1.9/style.safetensors": 1}, "v1.10/lora.safetensors"),
])
def test_primary_file_follows_seed_order_and_newest_version(library, root, files, expected):
    make_brand(root, "acme", files)
    resolved = library.resolve(BrandRef("acme"))
    assert resolved.file.relative == expected
    assert resolved.file.lora_name == f"brands/acme/{expected}"


def test_roles_versions_and_pinning(library, root):
    make_brand(root, "acme", {"style.safetensors": 0, "v2/style.safetensors": 1, "product.safetensors": 2,
                              "photography_v1.safetensors": 3}, metadata={"default_version": "v1"})
    brand = library.get("acme")
    assert brand.roles == ["style", "photography", "product"]
    assert library.resolve(BrandRef.parse("acme/product")).file.relative == "product.safetensors"
    assert library.resolve(BrandRef.parse("acme@v2")).file.relative == "v2/style.safetensors"
    pinned = library.resolve(BrandRef.parse("acme/photography"))
    assert pinned.file.version == "v1" and pinned.notes == ()
    unpinned = library.resolve(BrandRef("acme"))  # the style role has no v1: newest, with a note
    assert unpinned.file.relative == "v2/style.safetensors" and "pins version 'v1'" in unpinned.notes[0]


@pytest.mark.parametrize("ref,message", [
    ("nobody", "brand 'nobody' not found"),
    ("acme/product", r"has no .product. LoRA \(roles: style\)"),
    ("acme@v9", "no version 'v9'"),
])
def test_missing_brand_role_and_version_name_what_exists(library, root, ref, message):
    make_brand(root, "acme")
    with pytest.raises(BrandNotFoundError, match=message):
        library.resolve(BrandRef.parse(ref))


def test_seed_type_falls_back_to_the_primary_file_with_a_note(library, root):
    make_brand(root, "iphone_16_product")
    resolved = library.resolve(BrandRef("iphone_16_product", "product"), role_fallback=True)
    assert resolved.file.relative == "style.safetensors"
    assert "no 'product' file" in resolved.notes[0]


def test_pickles_are_refused_and_odd_names_ignored(library, root):
    folder = make_brand(root, "acme")
    (folder / "old.ckpt").write_bytes(b"pickle")
    (folder / "notes.txt").write_text("hi")
    write_lora(folder / "bad name!.safetensors")
    brand = library.get("acme")
    assert brand.refused == ("old.ckpt",) and brand.ignored == ("bad name!.safetensors",)
    assert [f.relative for f in brand.files] == ["style.safetensors"]
    (root / "empty").mkdir()
    with pytest.raises(BrandNotFoundError, match="no .safetensors LoRA file"):
        library.resolve(BrandRef("empty"))


def test_listing_is_kept_until_a_folder_changes(library, root):
    make_brand(root, "acme")
    make_brand(root, "beta", {"v1/style.safetensors": 0})
    (root / "not a brand").mkdir()
    (root / "file.txt").write_text("x")
    first = library.list()
    assert [b.brand_id for b in first] == ["acme", "beta"]
    assert library.list()[0] is first[0]  # unchanged folders are not scanned again
    write_lora(root / "beta" / "v1" / "product.safetensors")  # only the version folder's time changes
    beta = library.get("beta")
    assert beta is not first[1] and beta.roles == ["style", "product"]
    write_lora(root / "acme" / "v3" / "style.safetensors")
    assert library.resolve(BrandRef("acme")).file.version == "v3"


def test_first_root_wins_and_names_outside_loras_are_absolute(tmp_path):
    base, loras = tmp_path / "base", tmp_path / "loras" / "brands"
    make_brand(base, "acme", {"style.safetensors": 0})
    make_brand(loras, "acme", {"lora.safetensors": 1})
    make_brand(loras, "beta")
    library = BrandLibrary(lambda: [BrandRoot(base, None), BrandRoot(loras, "brands")])
    assert library.brand_ids() == ["acme", "beta"]
    assert library.resolve(BrandRef("acme")).file.lora_name == str(base / "acme" / "style.safetensors")
    assert library.resolve(BrandRef("beta")).file.lora_name == "brands/beta/style.safetensors"


@pytest.mark.parametrize("content,error", [
    (b"{not json", "not valid UTF-8 JSON"),
    (b"[1, 2]", "must hold a JSON object"),
    (b'{"training": 5}', "'training' must be an object"),
    (b'{"trigger_words": ["a", 3]}', "list of strings"),
    (b'{"default_version": "latest"}', "not a version label"),
    (b'{"versions": {"../x": {}}}', "not a version label"),
    (b"\xff\xfe", "not valid UTF-8"),
    (b" " * (1024 * 1024 + 1), "larger than"),
])
def test_a_broken_sidecar_is_reported_not_raised(tmp_path, content, error):
    path = tmp_path / "metadata.json"
    path.write_bytes(content)
    sidecar = read_sidecar(path)
    assert error in sidecar.error and sidecar.data == {}


def test_a_broken_sidecar_does_not_stop_resolution(library, root):
    folder = make_brand(root, "acme")
    (folder / "metadata.json").write_text("{oops")
    resolved = library.resolve(BrandRef("acme"))
    assert resolved.file.relative == "style.safetensors"
    assert "metadata.json ignored" in resolved.notes[0]
    (folder / "metadata.json").write_text(json.dumps({"description": "ok"}))
    assert library.resolve(BrandRef("acme")).notes == ()


def test_a_file_link_out_of_the_root_is_ignored_and_one_inside_is_kept(library, root, tmp_path):
    folder = make_brand(root, "acme")
    outside = write_lora(tmp_path / "private" / "secret.safetensors")
    (folder / "product.safetensors").symlink_to(outside)
    make_brand(root, "beta", {"lora.safetensors": 1})
    (folder / "photography.safetensors").symlink_to(root / "beta" / "lora.safetensors")
    brand = library.get("acme")
    assert brand.ignored == ("product.safetensors",)
    assert brand.roles == ["style", "photography"]
