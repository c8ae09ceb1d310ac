"""The pinned environment: mmdet/mmcv ops import, a registry-built RetinaNet trains one step on CPU,
and environment.yml stays in step with the lock files."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _pins(path: Path) -> set[str]:
    return {line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")}


def test_mmdet_and_mmcv_ops_import():
    import mmcv
    import mmcv.ops  # compiled ops: fails if mmcv was installed without MMCV_WITH_OPS
    import mmdet

    assert mmdet.__version__ == "3.5.1"
    assert mmcv.__version__ == "2.3.6"
    assert hasattr(mmcv.ops, "nms") and hasattr(mmcv.ops, "RoIAlign")


def test_retinanet_from_registry_forward_backward_cpu():
    import torch
    from mmdet.registry import MODELS
    from mmdet.structures import DetDataSample
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    from mmengine.structures import InstanceData

    register_all_modules()
    cfg = Config.fromfile(str(REPO / "benchmarks/detectors/retinanet_tiny.py"))
    cfg.model.bbox_head.num_classes = 3
    model = MODELS.build(cfg.model)
    model.train()
    torch.manual_seed(0)
    imgs = [torch.randint(0, 255, (3, 96, 128), dtype=torch.uint8) for _ in range(2)]
    samples = []
    for _ in imgs:
        s = DetDataSample(metainfo=dict(img_shape=(96, 128), ori_shape=(96, 128), scale_factor=(1.0, 1.0)))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[10.0, 12.0, 50.0, 60.0], [60.0, 20.0, 110.0, 80.0]]), labels=torch.tensor([0, 2])
        )
        samples.append(s)
    data = model.data_preprocessor({"inputs": imgs, "data_samples": samples}, training=True)
    losses = model.loss(data["inputs"], data["data_samples"])
    total = sum(v.sum() if isinstance(v, torch.Tensor) else sum(x.sum() for x in v) for v in losses.values())
    assert torch.isfinite(total) and total.item() > 0
    total.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("lock", ["requirements.lock", "requirements-test.lock"])
def test_environment_yml_mirrors_the_locks(lock):
    env_pins = set()
    for line in (REPO / "environment.yml").read_text().splitlines():
        line = line.strip()
        if line.startswith("- ") and "==" in line:
            env_pins.add(line[2:].strip())
    missing = _pins(REPO / "envs" / lock) - env_pins
    assert not missing, f"environment.yml lacks pins of envs/{lock}: {sorted(missing)}"


def test_every_lock_line_is_an_exact_pin():
    for lock in ("requirements.lock", "requirements-test.lock"):
        for pin in _pins(REPO / "envs" / lock):
            assert "==" in pin and not any(op in pin for op in (">", "<", "~")), f"{lock}: '{pin}' is not exact"


def _import_through_envs_run(tmp_path: Path, module: str, **env_overrides: str) -> tuple[str, str]:
    """Write ``module`` into ``tmp_path``, import it with ``bash envs/run python`` while the caller has
    PYTHONDONTWRITEBYTECODE=1 set, and return the child's (``dont_write_bytecode`` flag, pycache prefix)."""
    import os
    import subprocess

    (tmp_path / f"{module}.py").write_text("VALUE = 41 + 1\n")
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import {module}; "
    code += "print(sys.flags.dont_write_bytecode, sys.pycache_prefix)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPYCACHEPREFIX"}
    env.update(PYTHONDONTWRITEBYTECODE="1", **env_overrides)
    out = subprocess.run(
        ["bash", "envs/run", "python", "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    flag, prefix = out.stdout.strip().splitlines()[-1].split(" ", 1)
    return flag, prefix


def test_envs_run_keeps_a_bytecode_cache_in_the_venv_even_where_bytecode_writing_is_off(tmp_path):
    """Without it every job of `all` recompiled torch/mmdet from source (~10 s CPU each)."""
    import sys

    flag, prefix = _import_through_envs_run(tmp_path, "ndr_cache_probe_mod")
    assert flag == "0"
    assert Path(prefix) == Path(sys.prefix) / "pycache"  # the tests themselves run under envs/run's venv
    tag = sys.implementation.cache_tag
    mirrored = Path(prefix + str(tmp_path)) / f"ndr_cache_probe_mod.{tag}.pyc"
    assert mirrored.is_file()
    assert not (tmp_path / "__pycache__").exists()  # nothing written beside the source


def test_envs_run_leaves_bytecode_settings_alone_when_asked(tmp_path):
    assert _import_through_envs_run(tmp_path, "ndr_cache_probe_off", NDR_BYTECODE_CACHE="0") == ("1", "None")
    assert not (tmp_path / "__pycache__").exists()
