"""The brand step of ``lora-lab demo`` runs offline and shows the cache working."""

from comfyui_lora_lab.cli import demo_brands


def test_demo_step(tmp_path):
    result = demo_brands.run(tmp_path)
    assert result["brands"] == ["acme", "studio_photo"]
    assert [r.split()[0] for r in result["second_pass"]] == ["hit", "hit", "hit"]
    assert result["cache"]["hits"] == 3 and result["acme_versions"] == ["v2", "v1", "unversioned"]
    assert result["arm_results"] == [("subtle", "1/2 picked"), ("bold", "2/2 picked")]
