"""Time of the tiny ResNet with its stem max-pool as PyTorch's plain NCHW kernel / as the suite's channels-last one.

    python -m benchmarks.speed.max_pool [--batch B] [--size S] [--threads T] [--repeats R]

``benchmarks.train`` swaps every ``nn.MaxPool2d`` for ``benchmarks.training.inference_pool``'s
channels-last twin (bit-identical, see its docstring). This script builds the tiny detectors'
backbone (``benchmarks/detectors/_tiny_common.py``) once and times, alternating the two pools
``--repeats`` times in one process: a no-grad forward of a probe-sized batch (the default grid's
probe batch: what probes, evaluation and teachers run) and a training forward + backward of a
training batch (where the module keeps the plain kernel, so that ratio stays ~1). It prints the
median milliseconds of each, checks the two give identical outputs, and prints the no-grad ratio
(plain / channels-last) last. Meaningful only on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

from benchmarks.speed.regime import default_regime


def _tiny_backbone():
    from mmdet.registry import MODELS
    from mmengine.config import Config
    from mmengine.utils import import_modules_from_strings

    from benchmarks.detectors import __file__ as detectors_init

    import_modules_from_strings(["mmdet.models"])
    cfg = Config.fromfile(detectors_init.replace("__init__.py", "_tiny_common.py"))
    spec = {k: v for k, v in copy.deepcopy(cfg.tiny_backbone).items() if k != "_delete_"}
    model = MODELS.build(spec)
    model.init_weights()
    return model


def _median_ms(fn, n: int) -> float:
    fn()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main(argv=None) -> int:
    d = default_regime()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=8, help="training batch (default grid: 8)")
    p.add_argument(
        "--probe-batch", type=int, default=d["probe_batch_size"] or d["subset"], help="no-grad batch (default: probe's)"
    )
    p.add_argument("--size", type=int, default=d["size"], help=f"image side (default grid: {d['size']})")
    p.add_argument("--threads", type=int, default=d["threads"], help=f"threads (default grid: {d['threads']})")
    p.add_argument("--repeats", type=int, default=5, help="alternations of the two pools (default 5)")
    args = p.parse_args(argv)

    import torch

    from benchmarks.training import inference_pool

    torch.set_num_threads(args.threads)
    model = _tiny_backbone()
    plain_pool = model.maxpool
    fast_pool = copy.copy(plain_pool)
    if inference_pool.install(fast_pool) != 1:  # the swap benchmarks.train makes, on a copy
        raise RuntimeError(f"the tiny backbone's stem pool is a {type(plain_pool).__name__}, not an nn.MaxPool2d")
    g = torch.Generator().manual_seed(0)
    x_probe = torch.randn(args.probe_batch, 3, args.size, args.size, generator=g)
    x_train = torch.randn(args.batch, 3, args.size, args.size, generator=g)

    def nograd():
        with torch.no_grad():
            return model(x_probe)

    def train_step():
        model.zero_grad(set_to_none=True)
        sum(o.float().sum() for o in model(x_train)).backward()

    res = {k: {"nograd": [], "train": []} for k in ("plain", "channels-last")}
    for _ in range(args.repeats):
        for name, pool in (("plain", plain_pool), ("channels-last", fast_pool)):
            model.maxpool = pool
            model.eval()
            res[name]["nograd"].append(_median_ms(nograd, 5))
            model.train()
            res[name]["train"].append(_median_ms(train_step, 5))
    model.eval()
    outs = {}
    for name, pool in (("plain", plain_pool), ("channels-last", fast_pool)):
        model.maxpool = pool
        outs[name] = nograd()
    same = all(torch.equal(a, b) for a, b in zip(outs["plain"], outs["channels-last"]))
    med = {k: {m: statistics.median(v) for m, v in r.items()} for k, r in res.items()}
    print(
        f"tiny ResNet backbone, {args.size} px, {args.threads} thread(s), {args.repeats} alternations; "
        f"no-grad batch {args.probe_batch}, training batch {args.batch}"
    )
    for name in res:
        print(
            f"  {name:13s} no-grad forward {med[name]['nograd']:7.1f} ms   forward+backward {med[name]['train']:7.1f} ms"
        )
    print(f"  outputs identical: {same}")
    ratio = med["plain"]["nograd"] / med["channels-last"]["nograd"]
    train_ratio = med["plain"]["train"] / med["channels-last"]["train"]
    print(f"  training step ratio (plain / channels-last): {train_ratio:.3f}x")
    print(f"no-grad forward ratio (plain / channels-last): {ratio:.3f}x")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
