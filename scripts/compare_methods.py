"""Compare fishseg with the classical and pixel-forest baselines on the same data.

Synthesises a training set and a held-out test set (a different seed), trains every
learned method on the same training set, evaluates all on the same test set and prints
one side-by-side table (also written as ``OUT/comparison.md`` and ``comparison.json``;
per-method reports with pictures go to ``OUT/reports/<method>/``).

Smoke test at tiny size (a minute on a laptop CPU, fishseg left out)::

    python scripts/compare_methods.py --quick --skip-fishseg --out runs/compare-quick

The full comparison, training all three (hours on a CPU, minutes on a GPU)::

    python scripts/compare_methods.py --train-stills 60 --test-stills 30 --out runs/compare

Evaluating an existing fishseg bundle (e.g. the bundled default) instead of training one::

    python scripts/compare_methods.py --fishseg-model fishseg/data/default.fishseg --out runs/compare
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from fishseg.config import Config, load_config, override, to_dict
from fishseg.evaluate import evaluate, summary_table

# --quick: tiny frames and small learners, so the whole script runs in about a minute
QUICK = ["synth.width=320", "synth.height=192", "synth.fish_density=5",
         "pixel_forest.n_estimators=8", "pixel_forest.samples_per_image=1500",
         "pixel_forest.processing_width=160",
         "train.steps=150", "train.batch_size=64", "train.patches_per_image=300",
         "train.eval_every=150", "dictionary.size=256", "dictionary.samples=4000",
         "model.processing_width=320"]


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/compare", help="output folder (default: %(default)s)")
    p.add_argument("--train-stills", type=int, default=None, help="training stills (default 40; quick 4)")
    p.add_argument("--test-stills", type=int, default=None, help="test stills (default 20; quick 3)")
    p.add_argument("--seed", type=int, default=0, help="training-set seed; the test set uses seed + 1000")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--fishseg-model", metavar="PATH", help="evaluate this fishseg bundle instead of training one")
    g.add_argument("--skip-fishseg", action="store_true", help="leave fishseg out (baselines only)")
    p.add_argument("--quick", action="store_true", help="tiny frames and small learners (smoke test)")
    p.add_argument("--no-tune", action="store_true",
                   help="use the classical settings of the config as they are (default: grid search on the training set)")
    p.add_argument("--config", metavar="FILE", help="YAML configuration (see configs/)")
    p.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], help="config override (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p.parse_args(argv)


def _dataset(out: Path, stills: int, seed: int, cfg: Config, progress: bool) -> Path:
    """Synthesise ``stills`` annotated frames into ``out`` unless an identical set is there."""
    from fishseg.synth import synthesize

    meta_path = out / "meta.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("stills") == stills and meta.get("seed") == seed and meta.get("config") == to_dict(cfg.synth):
            return out
    synthesize(out, stills=stills, seed=seed, cfg=cfg.synth, progress=progress)
    return out


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    cfg = load_config(a.config)
    cfg = override(cfg, (QUICK if a.quick else []) + list(a.set))
    n_train = a.train_stills if a.train_stills is not None else (4 if a.quick else 40)
    n_test = a.test_stills if a.test_stills is not None else (3 if a.quick else 20)
    out, progress = Path(a.out), not a.quiet
    out.mkdir(parents=True, exist_ok=True)

    train_dir = _dataset(out / "data" / "train", n_train, a.seed, cfg, progress)
    test_dir = _dataset(out / "data" / "test", n_test, a.seed + 1000, cfg, progress)

    from fishseg.baselines.classical import tune_classical
    from fishseg.baselines.pixel_forest import train_pixel_forest
    from fishseg.io.datasets import load_dataset

    train = load_dataset(train_dir)
    runs: dict[str, tuple[str, object]] = {"classical": ("classical", None)}
    t0 = time.perf_counter()
    if not a.no_tune:
        best, _ = tune_classical(train, cfg.classical, progress=progress)
        cfg = dataclasses.replace(cfg, classical=best)
    train_seconds: dict[str, float] = {"classical": time.perf_counter() - t0}
    t0 = time.perf_counter()
    runs["pixel-forest"] = ("pixel-forest", train_pixel_forest(train, cfg, out / "pixel_forest.npz",
                                                               progress=progress))
    train_seconds["pixel-forest"] = time.perf_counter() - t0
    if a.fishseg_model:
        runs["fishseg"] = ("fishseg", a.fishseg_model)
    elif not a.skip_fishseg:
        from fishseg.train import train_on_samples

        t0 = time.perf_counter()
        runs["fishseg"] = ("fishseg", train_on_samples(train, cfg, out / "fishseg.fishseg", progress=progress))
        train_seconds["fishseg"] = time.perf_counter() - t0

    test = load_dataset(test_dir)
    results = {}
    for name, (method, model) in runs.items():
        results[name] = evaluate(test, method=method, model=model, cfg=cfg, progress=progress,
                                 report_dir=out / "reports" / name,
                                 json_path=out / "reports" / f"{name}.json")
        results[name]["data"] = str(test_dir)

    table = summary_table(results)
    fish = results["classical"]["counts"]["true_total"]
    w, h = cfg.synth.width, cfg.synth.height
    lines = [f"# fishseg vs baselines{' (quick)' if a.quick else ''}", "",
             f"Training set: {n_train} synthetic stills (seed {a.seed}); test set: {n_test} stills "
             f"(seed {a.seed + 1000}, {fish} fish), {w}x{h} pixels.", "", table, "",
             "Training time: " + ", ".join(f"{k} {v:.0f} s" for k, v in train_seconds.items())
             + (f", fishseg: given bundle `{a.fishseg_model}`" if a.fishseg_model else "") + ".",
             "", f"Classical settings ({'config' if a.no_tune else 'tuned on the training set'}): "
             + ", ".join(f"{k}={v}" for k, v in to_dict(cfg.classical).items()) + ".",
             "", "AP = TP/(TP+FP+FN) at IoU 0.5 / 0.75; PQ at IoU 0.5; edge F1 with 2 px tolerance; "
             "relative count error = sum |pred - true| / sum true over frames.", ""]
    (out / "comparison.md").write_text("\n".join(lines))
    (out / "comparison.json").write_text(json.dumps(
        {"train_stills": n_train, "test_stills": n_test, "seed": a.seed, "train_seconds": train_seconds,
         "config": to_dict(cfg), "results": {k: r["summary"] for k, r in results.items()}}, indent=1))
    print()
    print(table)
    print(f"\nwritten: {out / 'comparison.md'}, {out / 'reports'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
