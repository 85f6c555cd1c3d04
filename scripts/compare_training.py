"""Validation loss per training time: separate patches against crops (``train.crop``).

    .venv/bin/python scripts/compare_training.py --cache runs/stills480_101.npz \\
        8,512,5000 8,2048,800 16,2048,1600 0,512,170

Each SPEC is ``crop,batch_size,steps`` (crop 0 = separate patches). Every run trains the
default recipe's network (configs/default.yaml) through a full schedule of its steps
(warmup 5%) on the first 200 stills of the cache (``scripts/train_default.py
--render-only --cache ...``) and is scored on the next 24 (balanced, unaugmented
patches, one shared PCA). Prints one JSON line per run: seconds and best validation
loss. Choose the steps so that the runs take about the same time.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from fishseg.config import load_config, override
from fishseg.model.dictionary import fit_pca
from fishseg.model.fit import fit
from fishseg.model.patches import batches, build_source, sample_centres


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="+", metavar="CROP,BATCH,STEPS")
    ap.add_argument("--cache", required=True, help="an .npz of rendered stills (train_default.py)")
    ap.add_argument("--config", default="configs/default.yaml")
    a = ap.parse_args()
    cfg0 = load_config(a.config)
    with np.load(a.cache) as z:
        images, labels = list(z["images"][:224]), list(z["labels"][:224])
    balance = tuple(cfg0.train.balance)
    src = build_source(images, labels, cfg0.model.processing_width, cfg0.targets.edge_width,
                       cfg0.model.std_floor, hard=False)
    rng = np.random.default_rng(1)
    train = sample_centres(src, np.arange(200), 2000, balance, rng)
    val = sample_centres(src, np.arange(200, 224), 170, balance, rng)
    pick = train[rng.choice(len(train), 50000, replace=False)]
    tg = np.concatenate([np.asarray(t) for _, t in batches(src, pick, 512, jax.random.key(0), True)])
    pca = fit_pca(tg.reshape(len(pick), -1), cfg0.model.code_dim, 0)
    for spec in a.specs:
        g, b, steps = map(int, spec.split(","))
        cfg = override(cfg0, [f"train.crop={g}", f"train.batch_size={b}", f"train.steps={steps}",
                              f"train.warmup_steps={max(10, steps // 20)}",
                              f"train.eval_every={steps}"])
        t0 = time.perf_counter()
        _, hist = fit(src, train, val, pca, cfg, progress=False)
        print(json.dumps({"crop": g, "batch": b, "steps": steps,
                          "s": round(time.perf_counter() - t0), "val": round(hist.best_val, 4)}),
              flush=True)


if __name__ == "__main__":
    main()
