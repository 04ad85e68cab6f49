"""The ten broken datasets of the issue, each reported before any model loads; plus the layouts that work."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from comfyui_lora_lab.engines.training.dataset import scan_folder
from comfyui_lora_lab.engines.training.preflight import ERROR, WARNING, preflight, write_missing_captions


def image(path, size=(64, 64), color=(200, 30, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def caption(path, text: str | bytes):
    data = text if isinstance(text, bytes) else text.encode()
    path.with_suffix(".txt").write_bytes(data)


def good(folder, count=2, trigger="ohwx"):
    for index in range(count):
        caption(image(folder / f"ok_{index}.png", color=(index * 40, 10, 10)), f"{trigger}, picture {index}")


def _missing_caption(root):
    image(root / "a.png")


def _empty_caption(root):
    caption(image(root / "a.png"), "  \n\n")


def _non_utf8_caption(root):
    caption(image(root / "a.png"), b"ohwx caf\xe9")


def _caption_without_trigger(root):
    caption(image(root / "a.png"), "a red square")


def _corrupt_image(root):
    path = root / "a.png"
    image(path, size=(128, 128))
    path.write_bytes(path.read_bytes()[:60])
    caption(path, "ohwx, broken")


def _unsupported_extension(root):
    (root / "a.gif").write_bytes(b"GIF89a")
    caption(root / "a.gif", "ohwx, a gif")


def _too_small(root):
    caption(image(root / "a.png", size=(16, 16)), "ohwx, tiny")


def _duplicates(root):
    caption(image(root / "a.png", color=(1, 2, 3)), "ohwx, one")
    caption(image(root / "b.png", color=(1, 2, 3)), "ohwx, two")


def _zero_repeats(root):
    good(root / "0_ohwx cat", 1)


def _no_images(root):
    (root / "notes.txt").write_text("nothing here")


BROKEN = {  # case -> (builder, issue code, severity)
    "missing caption": (_missing_caption, "missing_caption", ERROR),
    "empty caption": (_empty_caption, "empty_caption", ERROR),
    "non-UTF-8 caption": (_non_utf8_caption, "caption_not_utf8", ERROR),
    "caption without trigger": (_caption_without_trigger, "caption_missing_trigger", WARNING),
    "corrupt image": (_corrupt_image, "corrupt_image", ERROR),
    "unsupported extension": (_unsupported_extension, "unsupported_file", WARNING),
    "too small": (_too_small, "image_too_small", WARNING),
    "duplicates": (_duplicates, "duplicate_image", WARNING),
    "0_name folder": (_zero_repeats, "zero_repeats", ERROR),
    "no images": (_no_images, "no_images", ERROR),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_each_broken_dataset_is_reported_with_file_and_hint(tmp_path, case):
    build, code, severity = BROKEN[case]
    root = tmp_path / "data"
    root.mkdir()
    if code not in ("no_images", "zero_repeats"):
        good(root)
    build(root)
    report = preflight(root, trigger="ohwx", resolution=64)
    found = [issue for issue in report.issues if issue.code == code]
    assert found, report.text()
    assert found[0].severity == severity and found[0].path and found[0].hint
    assert (code in {i.code for i in report.errors}) == (severity == ERROR)
    if severity == ERROR:
        assert not report.ok


def test_all_ten_problems_in_one_dataset_are_reported_together(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    at_root = {"missing caption", "0_name folder"}  # kohya N_name folders would caption from their name
    for case, (build, _, _) in BROKEN.items():
        if case in at_root:
            build(root)
        elif case != "no images":
            sub = root / f"3_{case.replace(' ', '_')}"
            sub.mkdir()
            build(sub)
    report = preflight(root, trigger="ohwx", resolution=64)
    expected = {code for _, code, _ in BROKEN.values()} - {"no_images"}
    assert expected <= report.codes(), report.text()
    assert not report.ok
    assert "zero_repeats" in report.codes()


def test_kohya_folders_metadata_jsonl_and_trigger_placeholders(tmp_path):
    root = tmp_path / "data"
    caption(image(root / "10_ohwx cat" / "a.png", color=(5, 5, 5)), "[trigger] sitting")
    image(root / "10_ohwx cat" / "b.png", color=(6, 6, 6))  # no caption: the class tokens are used
    image(root / "c.png", color=(7, 7, 7))
    (root / "metadata.jsonl").write_text(json.dumps({"file_name": "c.png", "text": "ohwx from jsonl"}) + "\n")
    report = preflight(root, trigger="ohwx", resolution=64)
    assert report.ok, report.text()
    captions = {item.image.name: (item.caption, item.caption_source, item.subset.repeats) for item in report.items}
    assert captions == {"a.png": ("ohwx sitting", "txt", 10), "b.png": ("ohwx cat", "class_tokens", 10),
                        "c.png": ("ohwx from jsonl", "metadata", 1)}
    assert report.num_samples == 21
    assert report.tag_frequency()["10_ohwx cat"] == {"ohwx sitting": 1, "ohwx cat": 1}


def test_caption_template_fills_missing_captions_and_writes_them_once(tmp_path):
    root = tmp_path / "data"
    image(root / "a.png")
    report = preflight(root, trigger="ohwx", resolution=64, caption_template="a photo of [trigger]")
    assert report.ok and report.items[0].caption == "a photo of ohwx"
    assert write_missing_captions(report) == [root / "a.txt"]
    assert (root / "a.txt").read_text().strip() == "a photo of [trigger]"
    assert write_missing_captions(report) == []


@pytest.mark.parametrize("line, problem", [
    ("not json", "not a UTF-8 JSON object"),
    (json.dumps({"text": "x"}), "file_name"),
    (json.dumps({"file_name": "../x.png", "text": "x"}), "outside the folder"),
])
def test_bad_metadata_lines_are_errors_with_line_numbers(tmp_path, line, problem):
    root = tmp_path / "data"
    good(root)
    (root / "metadata.jsonl").write_text(line + "\n")
    report = preflight(root, trigger="ohwx", resolution=64)
    bad = [issue for issue in report.errors if issue.code == "bad_metadata"]
    assert bad and "line 1" in bad[0].message and problem in bad[0].message


def test_placeholder_without_trigger_word_is_an_error(tmp_path):
    root = tmp_path / "data"
    caption(image(root / "a.png"), "[trigger] style")
    assert "trigger_placeholder_without_trigger" in {i.code for i in preflight(root, resolution=64).errors}


def test_missing_folder_and_file_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        scan_folder(tmp_path / "nope")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(NotADirectoryError, match="expected a folder"):
        scan_folder(tmp_path / "file.png")


def test_oversized_caption_is_refused_without_reading_it_all(tmp_path):
    root = tmp_path / "data"
    caption(image(root / "a.png"), "ohwx " * 20000)
    assert "caption_too_long" in preflight(root, trigger="ohwx", resolution=64).codes()
