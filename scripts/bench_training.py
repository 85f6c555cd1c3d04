"""Benchmark training steps: separate patches (the reference) vs crops (``train.crop``).

Prints a markdown table, in one run: milliseconds per optimisation step and training
patches per second for separate 34x34 patches and for crops of g x g overlapping
patches, at the same number of patches per step, and the speed-up against separate
patches. Before timing it checks that a crop's codewords equal those of its patches cut
out one by one (within 1e-4) and that the crop loss equals the balanced patch loss.

    python scripts/bench_training.py [--features 32 64 256] [--batch 512] [--grids 8 12 16]
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fishseg.config import from_dict
from fishseg.model.crops import class_weights, crop_corners, make_crop_batch
from fishseg.model.dictionary import encode, fit_pca
from fishseg.model.fit import _crop_loss, _crop_train_step, _train_step, make_optimizer
from fishseg.model.network import FieldNet
from fishseg.model.patches import build_source, make_batch, sample_centres
from fishseg.synth import render_frames

BALANCE = (0.3, 0.3, 0.4)


def check(cfg, src, pca, frames, targets):
    """Crop codewords and loss against patches cut out one by one."""
    g = 8
    rng = np.random.default_rng(1)
    corners = crop_corners(src, sample_centres(src, np.arange(len(src.sizes)), 2, BALANCE, rng), g)
    inp, pat = make_crop_batch(frames, targets, jnp.asarray(corners), jax.random.key(0), g, False)
    cc = np.array([(f, y + 4 * i, x + 4 * j) for f, y, x in corners
                   for i in range(g) for j in range(g)], np.int32)
    pinp, ppat = make_batch(frames, targets, jnp.asarray(cc), jax.random.key(0), False)
    net = FieldNet(cfg.model, rngs=nnx.Rngs(params=0))
    dense = np.asarray(net(inp)).reshape(-1, cfg.model.code_dim)
    single = np.asarray(net(pinp))[:, 0, 0]
    err = float(np.abs(dense - single).max())
    pca_j = {k: jnp.asarray(v) for k, v in pca.items()}
    loss_crop = float(_crop_loss(net, pca_j, inp, pat, None, BALANCE))  # dropout is 0 here
    se = np.sum((single - np.asarray(encode(pca_j, ppat))) ** 2, -1)
    loss_patch = float((np.asarray(class_weights(ppat, BALANCE)) * se).sum())
    return err, loss_crop, loss_patch


def time_steps(cfg, src, pca, frames, targets, g, batch, reps):
    net = FieldNet(cfg.model, rngs=nnx.Rngs(params=0))
    opt = nnx.Optimizer(net, make_optimizer(cfg.train), wrt=nnx.Param)
    pca_j = {k: jnp.asarray(v) for k, v in pca.items()}
    rng = np.random.default_rng(0)
    pool = sample_centres(src, np.arange(len(src.sizes)), 4000, BALANCE, rng)
    per = max(1, batch // (g * g)) if g else batch

    def step(i):
        pick = pool[rng.integers(0, len(pool), per)]
        key = jax.random.key(i)
        if g:
            inp, pat = make_crop_batch(frames, targets, jnp.asarray(crop_corners(src, pick, g)),
                                       key, g, True)
            return _crop_train_step(net, opt, pca_j, inp, pat, key, BALANCE)
        inp, pat = make_batch(frames, targets, jnp.asarray(pick), key, True)
        return _train_step(net, opt, pca_j, inp, pat, key)

    float(step(0))  # compile
    t0 = time.perf_counter()
    for i in range(reps):
        float(step(i + 1))
    ms = (time.perf_counter() - t0) / reps * 1e3
    return ms, per * (g * g if g else 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--features", type=int, nargs=3, default=[32, 64, 256])
    ap.add_argument("--batch", type=int, default=512, help="patches per step")
    ap.add_argument("--grids", type=int, nargs="+", default=[8, 12, 16])
    ap.add_argument("--reps", type=int, default=10)
    a = ap.parse_args()
    cfg = from_dict({"model": {"features": a.features, "dropout": 0.0}})
    images, labels = render_frames(4, 3, cfg.synth, stills=True)
    src = build_source(list(images), list(labels), 640, 2, hard=False)
    rng = np.random.default_rng(0)
    c = sample_centres(src, np.arange(4), 500, BALANCE, rng)
    frames, targets = jnp.asarray(src.frames), jnp.asarray(src.targets)
    _, ppat = make_batch(frames, targets, jnp.asarray(c), jax.random.key(0), False)
    pca = fit_pca(np.asarray(ppat).reshape(len(c), -1), cfg.model.code_dim)
    err, lc, lp = check(cfg, src, pca, frames, targets)
    print(f"{platform.node()} {jax.devices()[0].device_kind}, features {a.features}, "
          f"{a.batch} patches per step")
    print(f"check: crop vs patch codewords max |diff| {err:.2e}; loss {lc:.6f} vs {lp:.6f}")
    assert err < 1e-4 and abs(lc - lp) <= 1e-4 * max(1.0, abs(lp)), "crops differ from patches"
    print()
    print("| mode | patches per step | ms per step | patches/s | speed-up |")
    print("|---|---:|---:|---:|---:|")
    base = None
    for g in [0, *a.grids]:
        ms, n = time_steps(cfg, src, pca, frames, targets, g, a.batch, a.reps)
        rate = n / ms * 1e3
        base = base or rate
        name = "separate patches (reference)" if not g else f"crops {g}x{g} ({30 + 4 * g} px)"
        print(f"| {name} | {n} | {ms:.0f} | {rate:.0f} | {rate / base:.1f}x |")


if __name__ == "__main__":
    main()
