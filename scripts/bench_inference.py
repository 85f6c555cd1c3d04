"""Benchmark N^4-Fields inference: dense (fully convolutional) vs patch-by-patch.

Prints a markdown table: time per 640x360 frame of the patch-by-patch reference and
of the dense pass, the speed-up, and the dense time split between network, dictionary
lookup and overlap-add; a second table gives the network's GFLOP per frame both ways
(XLA's cost analysis), so the speed-up can be read against the arithmetic. Checks in
the same run that both passes give the same codewords (within 1e-4) and the same
dictionary indices.

    python scripts/bench_inference.py [--model MODEL.fishseg] [--batch 4] [--reps 3]

Without --model, a randomly initialised network with the default configuration and a
random dictionary of ``dictionary.size`` entries is timed (the cost does not depend on
the weights).
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fishseg.config import Config
from fishseg.model.bundle import FishsegModel, load_model
from fishseg.model.dictionary import lookup
from fishseg.model.fields import maps_from_indices, pad_frames, prepare
from fishseg.model.network import FieldNet, get_params, patch_codewords


def random_model(cfg: Config) -> FishsegModel:
    rng = np.random.default_rng(0)
    net = FieldNet(cfg.model, rngs=nnx.Rngs(0))
    d, k = cfg.model.code_dim, cfg.dictionary.size
    pca = {"mean": np.zeros(512, np.float32),
           "components": rng.normal(size=(d, 512)).astype(np.float32), "scale": np.float32(1)}
    keys = np.asarray(net(jnp.asarray(rng.normal(size=(k, 34, 34, 3)), jnp.float32)))[:, 0, 0]
    return FishsegModel(cfg, get_params(net), pca, keys, rng.random((k, 2, 16, 16)))


def timed(fn, *args, reps: int) -> tuple[float, object]:
    out = jax.block_until_ready(fn(*args))            # compile + warm up
    t = time.perf_counter()
    for _ in range(reps):
        out = jax.block_until_ready(fn(*args))
    return (time.perf_counter() - t) / reps, out


def gflops(fn, *args) -> float:
    """GFLOP of one call of jitted ``fn`` on ``args``, as XLA's cost analysis counts it."""
    cost = fn.lower(*args).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost.get("flops", float("nan"))) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model bundle (default: random weights, default config)")
    ap.add_argument("--batch", type=int, default=4, help="frames per dense call")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions")
    args = ap.parse_args()
    model = load_model(args.model) if args.model else random_model(Config())
    nets = getattr(model, "networks", [model])
    for i, net in enumerate(nets):
        if len(nets) > 1:
            print(f"## network {i + 1} of {len(nets)} (the model's maps are the mean of "
                  f"{len(nets)} networks'; each is timed alone)\n")
        bench_network(net, args)
        print()


def bench_network(model, args: argparse.Namespace) -> None:
    """Print the tables for one network (a one-network model)."""
    cfg = model.cfg
    width, chunk = cfg.model.processing_width, cfg.dictionary.chunk
    frames = np.random.default_rng(1).integers(0, 255, (args.batch, 360, 640, 3)).astype(np.uint8)
    graphdef, state = nnx.split(model.net)
    keys, values = jnp.asarray(model.keys), jnp.asarray(model.values)

    net_fn = jax.jit(lambda s, f: nnx.merge(graphdef, s)(pad_frames(prepare(f, width))))
    look_fn = jax.jit(lambda c: lookup(c.reshape(-1, c.shape[-1]), keys, chunk).reshape(c.shape[:3]))
    oa_fn = jax.jit(lambda i: maps_from_indices(i, values, 360, 640))

    t_all, _ = timed(lambda f: model.predict_maps(f, batch_size=args.batch), frames, reps=args.reps)
    t_net, codes = timed(net_fn, state, frames, reps=args.reps)
    t_look, idx = timed(look_fn, codes, reps=args.reps)
    t_oa, _ = timed(oa_fn, idx, reps=args.reps)

    # patch-by-patch reference on one frame (the network on every 34x34 patch alone)
    x1 = pad_frames(prepare(frames[:1], width))
    t_pp_net, ref = timed(lambda x: patch_codewords(model.net, x, chunk=4096), x1, reps=1)
    t_pp = t_pp_net + (t_look + t_oa) / args.batch
    diff = float(jnp.max(jnp.abs(ref - codes[:1])))
    same_idx = bool(jnp.all(look_fn(ref) == idx[:1]))

    b = args.batch
    n_patches = codes.shape[1] * codes.shape[2]
    # arithmetic: the network's FLOPs per frame both ways (the speed-up a perfectly
    # efficient implementation of each would give is their ratio)
    f_dense = gflops(net_fn, state, frames[:1])
    one = jax.jit(lambda s, p: nnx.merge(graphdef, s)(p))
    f_patch = gflops(one, state, jax.ShapeDtypeStruct((n_patches, 34, 34, 3), jnp.float32))
    print(f"model features {list(cfg.model.features)}, code_dim {cfg.model.code_dim}, "
          f"K = {len(model.keys)}, frame 640x360 -> grid {codes.shape[1]}x{codes.shape[2]} "
          f"= {n_patches} patches; batch {b}; jax {jax.__version__} on {jax.devices()[0].platform} "
          f"({platform.processor() or platform.machine()})")
    print()
    print("| stage | ms per frame | share of dense |")
    print("|---|---:|---:|")
    print(f"| patch-by-patch (network on {n_patches} patches + lookup + overlap-add) | {t_pp * 1e3:.0f} | |")
    print(f"| dense, whole `predict_maps` | {t_all / b * 1e3:.1f} | 100% |")
    for name, t in (("network (resize, standardise, pad, convs)", t_net),
                    ("dictionary lookup (matmul + argmin, chunked)", t_look),
                    ("overlap-add + coverage", t_oa)):
        print(f"| - {name} | {t / b * 1e3:.1f} | {t / t_all * 100:.0f}% |")
    print(f"| **speed-up, whole pipeline** | **{t_pp / (t_all / b):.0f}x** | |")
    print(f"| **speed-up, network only** (patch-by-patch {t_pp_net * 1e3:.0f} ms) "
          f"| **{t_pp_net / (t_net / b):.0f}x** | |")
    print()
    print("| network arithmetic (XLA cost analysis) | GFLOP per frame | GFLOP/s achieved |")
    print("|---|---:|---:|")
    print(f"| dense | {f_dense:.1f} | {f_dense / (t_net / b):.0f} |")
    print(f"| patch-by-patch | {f_patch:.1f} | {f_patch / t_pp_net:.0f} |")
    print(f"| **ratio (the speed-up at equal efficiency)** | **{f_patch / f_dense:.1f}x** | |")
    print()
    print(f"check: max |codeword difference| = {diff:.2e} (must be <= 1e-4), "
          f"identical dictionary indices: {same_idx}")
    if diff > 1e-4 or not same_idx:
        raise SystemExit("dense and patch-by-patch passes disagree")


if __name__ == "__main__":
    main()
