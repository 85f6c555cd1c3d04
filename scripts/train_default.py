"""Train a network of the bundled default model (``fishseg/data/default.fishseg``).

The default model is trained on synthetic discard-belt stills only (``fishseg.synth``):
every still has its own belt, lighting, camera and fish, so the model has to learn fish
and boundaries, not one belt. Everything is seeded: the same command gives the same file.

Since 2026-11-25 the bundled default is the mean of two networks' maps (docs/accuracy.md,
"The default: two networks"), each trained by this script, then combined:

    P=.venv/bin/python
    # network 1 (the default until 2026-11-25): ~6 min on an H100; ~5.5 h on a 2-core CPU
    $P scripts/train_default.py --out runs/default-1.fishseg --curve docs/default_model_curve.png
    # network 2: edge codes weighted 2x, 30000 steps, empty belts, stills at three sizes
    $P scripts/train_default.py --set targets.edge_code_weight=2 --set train.steps=30000 \
        --empty 48 --extra-size 960x540:240 --extra-size 640x360:240 --out runs/default-2.fishseg
    # the bundle: both networks, the separation settings network 2's training tuned
    .venv/bin/fishseg combine runs/default-1.fishseg runs/default-2.fishseg \
        --settings-from runs/default-2.fishseg --out fishseg/data/default.fishseg

(Network 1's stored separation settings were later changed by
``scripts/set_model_settings.py``, docs/accuracy.md; the bundle uses network 2's.)

Stopped (Ctrl-C, a reboot), the same command resumes from the state saved beside
``--out`` (``<out>.training.npz``, every 5 minutes) and writes the same model: on a CPU
the recipe can be spread over several sittings.

On a GPU, set ``XLA_FLAGS=--xla_gpu_deterministic_ops=true`` so that the same command
gives the same weights there too (XLA's fastest GPU convolutions sum in no fixed order).

Seeds: training stills use ``--seed`` (default 101). Held-out evaluation
(docs/accuracy.md) uses other seeds (stills 909, video 2026), never seen in training.
After training, the separation thresholds are tuned on the validation frames and
stored in the bundle (see ``fishseg.tune``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import time
from pathlib import Path

from fishseg.config import load_config, override
from fishseg.io.datasets import Sample
from fishseg.synth.render import cached_stills, render_frames
from fishseg.train import train_on_samples

REPO = Path(__file__).resolve().parents[1]


def _extra_size(spec: str) -> tuple[tuple[int, int], int]:
    """``"640x360:160"`` -> ((640, 360), 160); a clear error for anything else."""
    try:
        size, n = spec.split(":")
        w, h = (int(v) for v in size.lower().split("x"))
        n = int(n)
    except ValueError:
        raise SystemExit(f"--extra-size {spec!r}: expected WxH:N, e.g. 640x360:160") from None
    if w < 34 or h < 34 or n < 1:
        raise SystemExit(f"--extra-size {spec!r}: frames must be at least 34x34 and N >= 1")
    return (w, h), n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--stills", type=int, default=480, help="synthetic training stills")
    ap.add_argument("--seed", type=int, default=101, help="seed of the training stills")
    ap.add_argument("--config", default=str(REPO / "configs" / "default.yaml"))
    ap.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    ap.add_argument("--out", default=str(REPO / "runs" / "default-1.fishseg"),
                    help="the network's bundle (combine the two into the bundled default "
                         "with `fishseg combine`, above)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="processes rendering the stills (the stills do not depend on it)")
    ap.add_argument("--cache", type=Path, default=None,
                    help="an .npz of the rendered stills: read if it holds the same stills, "
                         "else written (lets several trainings share one rendering)")
    ap.add_argument("--empty", type=int, default=0,
                    help="extra stills of empty belts (no fish: rails, clock, gloves, stains "
                         "only), seed --seed + 1, so the model learns that a belt can be empty")
    ap.add_argument("--extra-size", action="append", default=[], metavar="WxH:N",
                    help="N more stills rendered natively at W x H (repeatable; the k-th "
                         "uses seed --seed + 2 + k), so the model sees belt texture at other "
                         "scales next to the fish (docs/accuracy.md, 'Frames made at another "
                         "resolution')")
    ap.add_argument("--render-only", action="store_true", help="only render the stills into --cache")
    ap.add_argument("--curve", default=None,
                    help="where to move the training curve (default: next to --out, as "
                         "<stem>.curve.png; the bundled default's recipe gives "
                         "docs/default_model_curve.png)")
    args = ap.parse_args()
    extra = [_extra_size(spec) for spec in args.extra_size]   # (checked before any work)

    cfg = override(load_config(args.config), args.set)
    t0 = time.perf_counter()
    print(f"rendering {args.stills} stills ({cfg.synth.width}x{cfg.synth.height}, seed {args.seed})")
    images, labels = cached_stills(args.stills, args.seed, cfg.synth, args.cache, args.workers)
    if args.render_only:
        print(f"rendered into {args.cache} in {time.perf_counter() - t0:.0f} s")
        return
    samples = [Sample(f"still_{i:04d}", im, lab, f"synth:{args.seed}:{i}")
               for i, (im, lab) in enumerate(zip(images, labels))]
    if args.empty:
        empty_cfg = dataclasses.replace(cfg.synth, fish_density=0.0)
        print(f"rendering {args.empty} empty-belt stills (seed {args.seed + 1})")
        e_images, e_labels = render_frames(args.empty, args.seed + 1, empty_cfg, stills=True,
                                           workers=args.workers)
        samples += [Sample(f"empty_{i:04d}", im, lab, f"synth-empty:{args.seed + 1}:{i}")
                    for i, (im, lab) in enumerate(zip(e_images, e_labels))]
    for k, ((w, h), n) in enumerate(extra):
        seed = args.seed + 2 + k
        print(f"rendering {n} stills at {w}x{h} (seed {seed})")
        x_images, x_labels = render_frames(n, seed, dataclasses.replace(cfg.synth, width=w,
                                                                        height=h),
                                           stills=True, workers=args.workers)
        samples += [Sample(f"s{w}x{h}_{i:04d}", im, lab, f"synth:{seed}:{i}@{w}x{h}")
                    for i, (im, lab) in enumerate(zip(x_images, x_labels))]
    print(f"  {time.perf_counter() - t0:.0f} s; training ...")
    try:
        out = train_on_samples(samples, cfg, args.out)
    except KeyboardInterrupt as e:  # Ctrl-C: the state is saved; say how to go on
        raise SystemExit(f"interrupted: {e}" if str(e) else "interrupted") from None
    curve = out.with_name(out.stem + ".curve.png")
    if args.curve and curve.exists():
        curve = Path(shutil.move(str(curve), args.curve))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.0f} s;"
          f" curve: {curve}")


if __name__ == "__main__":
    main()
