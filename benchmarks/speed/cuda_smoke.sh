#!/usr/bin/env bash
# CUDA smoke: train the cells of benchmarks/grids/cuda_smoke.yaml on one GPU and print, per cell,
# images/s and peak GPU memory (from each cell's cost.json); the last line is the total training
# seconds. Needs an NVIDIA GPU and the CUDA build of torch 2.13.0 in the project environment.
#
#   bash benchmarks/speed/cuda_smoke.sh [--keep]      # --keep: leave results/cuda_smoke in place
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "cuda_smoke: no NVIDIA GPU visible (nvidia-smi -L failed); nothing run" >&2
  exit 2
fi
bash envs/run python - <<'PY'
import sys, torch
if not torch.cuda.is_available():
    sys.exit(f"cuda_smoke: torch {torch.__version__} has no CUDA (install the CUDA build of the same version)")
print(f"cuda_smoke: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
PY
GRID=benchmarks/grids/cuda_smoke.yaml
rm -rf results/cuda_smoke
# every cell (cost.json) and the manifest; targets before --configfile (it takes what follows)
bash envs/run snakemake --cores 4 --resources gpu=1 results/cuda_smoke/tables/compute.csv --configfile "$GRID"
bash envs/run python -m benchmarks.speed.cuda_smoke_report results/cuda_smoke
[[ "${1:-}" == "--keep" ]] || rm -rf results/cuda_smoke
