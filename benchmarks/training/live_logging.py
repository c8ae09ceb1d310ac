"""The grid's live training view: which mmengine visualisation backend a cell logs to.

``logging.backend`` adds TensorBoard or MLflow beside the local ``scalars.json`` backend; mmengine's
LoggerHook then sends every logged loss and the learning rate there, and the probe hook sends its
row (benchmarks/training/hooks.py). The backends' packages are not in the lock, so a grid asking
for one that is not installed fails when it is validated (``snakemake -n``), not hours into a run.
No import of mmengine here: the grid validator calls this at plan time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

BACKENDS = {"tensorboard": "TensorboardVisBackend", "mlflow": "MLflowVisBackend"}
#: The package each backend imports (torch.utils.tensorboard needs ``tensorboard``).
PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow"}


def package_available(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def missing_package(backend: str) -> str | None:
    """The message for a backend whose package is missing, or None when it can be used."""
    package = PACKAGES.get(backend)
    if package is None or package_available(package):
        return None
    return (
        f"logging.backend '{backend}' needs the Python package '{package}', which is not installed in this "
        f"environment: `pip install {package}` into it (it is not in envs/*.lock), or set logging.backend: none"
    )


def vis_backends(grid: dict, cell_id: str, results_root: Path) -> list[dict]:
    """The ``vis_backends`` of a cell's visualizer: the local one always, then the grid's choice."""
    out = [dict(type="LocalVisBackend")]
    backend = (grid.get("logging") or {}).get("backend", "none")
    if backend == "tensorboard":
        out.append(dict(type=BACKENDS[backend]))  # save_dir: mmengine's <log_dir>/vis_data
    elif backend == "mlflow":
        uri = grid["logging"].get("tracking_uri") or (Path(results_root) / "mlruns").resolve().as_uri()
        out.append(
            dict(type=BACKENDS[backend], exp_name=grid["name"], run_name=cell_id, tracking_uri=uri,
                 tags={"cell": cell_id})
        )  # fmt: skip
    return out
