"""A frozen teacher detector built from a teacher *cell*: its ``config.py`` and ``weights.pth``.

Distillation methods with an explicit teacher (BCKD) take the teacher from another cell of the same
grid: the DAG trains it once, exports its final weights to ``runs/<teacher cell>/weights.pth`` and
hands the student ``ctx.teacher = {"cell", "weights", "config"}``. :class:`FrozenTeacher` is the
student-side holder of that model:

* the model is built from the teacher cell's resolved ``config.py`` (exactly what was trained),
  and the weights are loaded *strictly* (a teacher that does not match its config is an error, not
  a silently half-random teacher);
* every parameter has ``requires_grad=False``, the model stays in ``eval()`` whatever ``train()``
  the runner calls on the student (BN statistics and FCOS/GFL test-time behaviour are the
  teacher's), and its forward passes run under ``torch.no_grad()``;
* it is **not** a submodule of the student: it does not appear in ``parameters()`` (so not in the
  optimiser), nor in ``state_dict()`` (checkpoints stay student-sized; a resumed student rebuilds
  the same teacher from the same ``weights.pth``). It follows the student's device lazily.

The teacher sees the student's preprocessed batch, so both must normalise images identically; this
is checked when the teacher is built.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from benchmarks.errors import InputError

_PREPROC_KEYS = ("mean", "std", "bgr_to_rgb", "pad_size_divisor")


def _model_cfg(config_path: Path):
    from mmengine.config import Config

    if not config_path.is_file():
        raise InputError("teacher config not found (has the teacher cell been trained?)", path=config_path)
    cfg = Config.fromfile(str(config_path))
    return cfg.model


def build_frozen_teacher(
    config: str | Path, weights: str | Path, student_preprocessor: dict | None = None
) -> nn.Module:
    """The teacher detector of ``config`` with ``weights`` loaded strictly, frozen and in eval mode."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.runner import load_checkpoint

    register_all_modules(init_default_scope=False)
    config, weights = Path(config), Path(weights)
    model_cfg = _model_cfg(config)
    if student_preprocessor is not None:
        t_pre = model_cfg.get("data_preprocessor") or {}
        diff = [k for k in _PREPROC_KEYS if t_pre.get(k) != student_preprocessor.get(k)]
        if diff:
            raise InputError(
                f"teacher and student preprocess images differently ({', '.join(diff)}); the teacher runs on "
                "the student's batch, so both configs must normalise alike",
                path=config,
            )
    if not weights.is_file():
        raise InputError("teacher weights not found (has the teacher cell been trained and exported?)", path=weights)
    model = MODELS.build(model_cfg)
    load_checkpoint(model, str(weights), map_location="cpu", strict=True, logger="silent")
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


class TeacherHolder:
    """Mixin for an mmdet detector that distils from a :func:`build_frozen_teacher` model.

    The teacher is kept in ``self.__dict__`` (not ``_modules``), see the module docstring.
    """

    def _set_teacher(self, teacher: nn.Module) -> None:
        object.__setattr__(self, "kd_teacher", teacher)

    def train(self, mode: bool = True):
        super().train(mode)
        teacher = self.__dict__.get("kd_teacher")
        if teacher is not None:
            teacher.eval()
        return self

    def _teacher_on(self, device: torch.device) -> nn.Module:
        teacher = self.kd_teacher
        if next(teacher.parameters()).device != device:
            teacher.to(device)
        teacher.eval()
        return teacher
