"""The ``fishseg`` command: argument parsing only; all work is done by library functions.

Subcommands::

    fishseg synth OUT [--frames N | --stills N] [--seed S] [--width W --height H]
    fishseg train --data DIR [--data DIR ...] --out MODEL.fishseg [--method pixel-forest]
    fishseg tune --model M --data DIR [--data DIR ...] --out MODEL.fishseg [--max-frames N]
    fishseg segment INPUT... --out DIR [--model MODEL.fishseg] [--batch-size N] [--scale S]
                    [--frame-step N] [--start TIME] [--end TIME] [--roi x0,y0,x1,y1 | --roi MASK.png]
                    [--recording-start WHEN] [--list] [--min-age SECONDS]
                    [--deinterlace] [--no-idle-skip] [--no-gallery]
                    [--engine local|ray [--ray-address ADDR] [--workers N]]
    fishseg pick INPUT... --out DIR [--count N] [--model M | --no-proposals] [--every SECONDS]
                 [--prefer spread|uncertain] [--deinterlace] [--exclude DIR]
    fishseg report OUT [--hauls FILE]
    fishseg calibrate-lens INPUT... --board COLSxROWS [--every N] [--out lens.yaml]
    fishseg evaluate --data DIR [--model M | --method NAME] [--json FILE] [--report DIR]
    fishseg score-tracks --truth MASKS --found OUT/NAME [--iou 0.5] [--json FILE]
    fishseg demo [--out DIR]
    fishseg config [--config FILE] [--set KEY=VALUE ...]

Every subcommand that reads a configuration takes ``--config FILE`` (YAML, see
``configs/``) and ``--set section.key=value`` overrides (repeatable); dedicated flags such
as ``--width`` win over both. A user error (bad file, bad key, bad input) prints one line
naming the file/key and exits with status 2; ``--debug`` shows the full traceback.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from pathlib import Path

import yaml

from fishseg import __version__
from fishseg.config import Config, load_config, override, to_dict
from fishseg.io.recording import parse_datetime


def _add_config_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("configuration")
    g.add_argument("--config", metavar="FILE", help="YAML configuration file (see configs/)")
    g.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                   help="override one config value, e.g. --set train.steps=500 (repeatable)")


def _config(args: argparse.Namespace, base: Config | None = None, **flags: object) -> Config:
    """The configuration: ``base`` (or the defaults), then --config, --set, and dedicated
    flags (those not None), each overriding the one before."""
    cfg = load_config(args.config, base=base)
    cfg = override(cfg, list(args.set))
    extra = [f"{k}={v}" for k, v in flags.items() if v is not None]
    return override(cfg, extra, where="command-line flags") if extra else cfg


def _cmd_synth(args: argparse.Namespace) -> int:
    from fishseg.synth import synthesize

    cfg = _config(args, **{"synth.width": args.width, "synth.height": args.height})
    meta = synthesize(args.out, frames=args.frames, stills=args.stills, seed=args.seed,
                      cfg=cfg.synth, progress=not args.quiet)
    what = f"{meta.get('frames', args.frames)} frames" if not args.stills else f"{args.stills} stills"
    print(f"wrote {what} with {meta.get('fish_count', '?')} fish to {args.out}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    cfg = _config(args, **{"train.steps": args.steps, "train.seed": args.seed,
                           "train.init": args.init})
    if args.method == "pixel-forest":
        from fishseg.baselines.pixel_forest import train_pixel_forest
        from fishseg.io.datasets import load_datasets

        path = train_pixel_forest(load_datasets(args.data), cfg, args.out,
                                  progress=not args.quiet)
    else:
        from fishseg.model.bundle import FishsegModel
        from fishseg.train import train_and_evaluate, training_summary

        path = train_and_evaluate(args.data, args.out, cfg, progress=not args.quiet)
        print(training_summary(FishsegModel.load(path).meta, path))
    print(f"model written to {path}")
    return 0


def _cmd_tune(args: argparse.Namespace) -> int:
    from fishseg.io.datasets import load_datasets
    from fishseg.model.bundle import load_model
    from fishseg.tune import tune_model

    model = load_model(args.model)
    model.cfg = _config(args, base=model.cfg)  # e.g. model.extra_widths, kept in the bundle
    samples = load_datasets(args.data)
    report = tune_model(model, [s.image for s in samples], [s.labels for s in samples],
                        max_frames=args.max_frames, progress=not args.quiet)
    path = model.save(args.out)
    b, a = report["before"], report["after"]
    print(f"separation tuned on {report['frames']} frames ({report['settings_tried']} settings): "
          f"AP@0.5 {b['ap50']:.3f} -> {a['ap50']:.3f}, count MAE {b['count_mae']:.2f} -> "
          f"{a['count_mae']:.2f}")
    print(f"model written to {path}")
    return 0


def _cmd_combine(args: argparse.Namespace) -> int:
    from fishseg.model.bundle import load_model
    from fishseg.model.ensemble import combine

    names = list(args.models)
    if len(names) < 2:
        raise ValueError(f"combine needs two or more models, got one ({names[0]}): their "
                         "maps are averaged")
    chosen = args.settings_from or names[0]
    if chosen not in names:
        raise ValueError(f"--settings-from {chosen}: not one of the models given "
                         f"({', '.join(names)})")
    model = combine([load_model(m) for m in names], names.index(chosen))
    model.cfg = _config(args, base=model.cfg)
    path = model.save(args.out)
    print(f"{len(model.networks)} networks, maps averaged; settings of {chosen}"
          f"{' with ' + ', '.join(args.set) if args.set else ''}; checksum "
          f"{model.checksum[:12]}")
    print(f"model written to {path}")
    return 0


def _time_of_day(text: str) -> float | datetime:
    """Seconds from ``SS[.f]``, ``MM:SS[.f]`` or ``HH:MM:SS[.f]`` into the input, or a
    clock time ``YYYY-MM-DDTHH:MM[:SS][+HH:MM]`` (a datetime)."""
    if re.match(r"\s*[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        try:
            return parse_datetime(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    parts = text.strip().split(":")
    try:
        if len(parts) > 3 or any(p == "" for p in parts):
            raise ValueError
        nums = [float(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected seconds, MM:SS, HH:MM:SS or a date and time, got {text!r}") from None
    if any(n < 0 for n in nums) or any(n >= 60 for n in nums[1:]):
        raise argparse.ArgumentTypeError(f"not a time: {text!r}")
    total = 0.0
    for n in nums:
        total = total * 60 + n
    return total


def _recording_start(text: str) -> str | datetime:
    """``auto``, ``none`` or a date and time."""
    if text in ("auto", "none"):
        return text
    try:
        return parse_datetime(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"{e}; or auto, or none") from None


def _at_least_one(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {n}")
    return n


def _cmd_segment(args: argparse.Namespace) -> int:
    from fishseg.pipeline import results_table, segment_inputs, write_inputs_table

    if args.list:  # what the batch would do; no model, no decoding
        from fishseg.plan import plan_inputs, plan_table

        plan = plan_inputs(args.inputs, args.out, fps=args.fps, start_s=args.start,
                           end_s=args.end, recording_start_given=args.recording_start,
                           overwrite=args.overwrite, min_age_s=args.min_age)
        print(plan_table(plan))
        return 1 if any(p.status == "error" for p in plan) else 0
    flags = {"measure.cm_per_pixel": args.cm_per_pixel}
    kwargs = dict(progress=not args.quiet, batch_size=args.batch_size, scale=args.scale,
                  overlay=not args.no_overlay, gallery=not args.no_gallery,
                  deinterlace=args.deinterlace, idle_skip=not args.no_idle_skip,
                  overwrite=args.overwrite, fps=args.fps,
                  roi=args.roi, frame_step=args.frame_step, start_s=args.start,
                  end_s=args.end, recording_start=args.recording_start,
                  checkpoint_every=args.checkpoint_every, min_age_s=args.min_age)
    if args.engine == "ray":  # workers load the model; they apply the overrides to its config
        from fishseg.engines.ray import ConfigPatch, import_ray, segment_inputs_ray

        import_ray()
        cfg = ConfigPatch.from_args(args.config, args.set, **flags)
        results = segment_inputs_ray(args.inputs, args.out, model_path=args.model, cfg=cfg,
                                     address=args.ray_address, num_workers=args.workers,
                                     **kwargs)
    else:
        from fishseg.model.bundle import load_model

        if args.ray_address or args.workers:
            raise ValueError("--ray-address and --workers apply to --engine ray only")
        model = load_model(args.model)
        # on the model: model.* keys (widths, flips, std floor) act on its maps
        model.cfg = cfg = _config(args, base=model.cfg, **flags)
        from fishseg.lens import belt_mapping

        belt_mapping(cfg.measure)  # a lens without a scale fails here, before any input
        results = segment_inputs(args.inputs, args.out, model=model, cfg=cfg, **kwargs)
    print(results_table(results))
    if results:
        print(f"table of all inputs: {write_inputs_table(results, args.out)}")
        _write_batch(args.out)
    return 1 if any(r.status == "failed" for r in results) else 0


def _cmd_pick(args: argparse.Namespace) -> int:
    from fishseg.io.recording import check_given
    from fishseg.pick import pick_frames, picks_summary

    check_given(args.recording_start, len(args.inputs))
    model = None
    if not args.no_proposals:
        from fishseg.model.bundle import load_model

        model = load_model(args.model)
        model.cfg = _config(args, base=model.cfg)
    elif args.model:
        raise ValueError("--model does not apply with --no-proposals")
    result = pick_frames(args.inputs, args.out, count=args.count, model=model,
                         every_s=args.every, seed=args.seed, fps=args.fps,
                         recording_start_given=args.recording_start,
                         overwrite=args.overwrite, deinterlace=args.deinterlace,
                         prefer=args.prefer, exclude=args.exclude, progress=not args.quiet)
    print(picks_summary(result))
    return 1 if result.failed else 0


def _write_batch(out: Path) -> bool:
    """Write the batch's tables, charts and page from ``OUT``; print where they are.
    False when there was something to warn about (or nothing to write)."""
    from fishseg.io.batch_fish import write_batch_fish
    from fishseg.io.batch_page import write_batch_page

    batch = write_batch_fish(out)
    if batch:
        print(f"fish of all inputs: {batch.fish}" + (
            f" ({batch.continued} carried on from a camera's previous recording, counted "
            "once)" if batch.continued else "") + (
            f" ({batch.not_fish} named 'not a fish' left out)" if batch.not_fish else "")
            + f": {batch.table}, length frequency: {batch.chart}")
        if batch.kept:
            print(f"columns added by hand, kept: {', '.join(batch.kept)}" + (
                f"; per species: {batch.by_group}" if batch.by_group else ""))
        if batch.warning:
            print(f"warning: {batch.warning}")
        if batch.hauls:
            print("fish per haul: " + ", ".join(str(p) for p in batch.hauls))
        if batch.species:
            print(batch.species)
        if batch.unmatched:
            print(f"warning: {batch.unmatched} row(s) filled by hand name a fish no longer in "
                  f"the batch (an input segmented again?): moved to "
                  f"{Path(out) / 'all_fish.unmatched.csv'}")
    page = write_batch_page(out, batch_fish=batch.fish if batch else None,
                            continued=batch.continued if batch else 0)
    if page:
        print(f"the batch on one page (open it in a browser): {page}")
    return page is not None and not (batch and batch.warning)


def _cmd_report(args: argparse.Namespace) -> int:
    if not (args.out / "inputs.csv").is_file():
        raise ValueError(f"{args.out}: no inputs.csv: not an output folder of fishseg segment")
    if args.hauls:
        from fishseg.io.hauls import keep_log

        print(f"haul log kept as {keep_log(args.hauls, args.out)} (applied from now on)")
    return 0 if _write_batch(args.out) else 1


def _board(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", text)
    if not m or min(int(m[1]), int(m[2])) < 2:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the board's inner corners per row and column, e.g. 9x6")
    return int(m[1]), int(m[2])


def _cmd_calibrate_lens(args: argparse.Namespace) -> int:
    from fishseg.lens_calibration import calibrate_inputs

    calibrate_inputs(args.inputs, args.board, out=args.out, every=args.every,
                     progress=not args.quiet)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from fishseg.evaluate import evaluate

    if args.model and args.method == "classical":
        raise ValueError("--model does not apply to --method classical")
    cfg = _config(args)
    model = args.model
    if args.method == "fishseg":  # --config / --set apply to the model's stored settings, as in segment
        from fishseg.model.bundle import load_model

        model = load_model(args.model)
        model.cfg = cfg = _config(args, base=model.cfg)
    evaluate(args.data, model=model, method=args.method, cfg=cfg, report_dir=args.report,
             json_path=args.json, progress=not args.quiet, show=True)
    for what, where in (("JSON", args.json), ("report", args.report)):
        if where:
            print(f"{what} written to {where}")
    return 0


def _cmd_score_tracks(args: argparse.Namespace) -> int:
    import json

    from fishseg.track_metrics import score_outputs

    s = score_outputs(args.truth, args.found, args.iou)
    print(f"frames scored: {s['frames']} (only in the truth: {s['frames_only_in_truth']}, "
          f"only found: {s['frames_only_found']})")
    print(f"fish: {s['true_tracks']} true, {s['found_tracks']} tracks found; mostly tracked "
          f"{s['mostly_tracked']}, mostly lost {s['mostly_lost']}")
    print(f"MOTA {s['mota']:.3f}  IDF1 {s['idf1']:.3f} (IDP {s['idp']:.3f}, IDR {s['idr']:.3f})  "
          f"id switches {s['id_switches']}  fragmentations {s['fragmentations']}")
    print(f"matched {s['true_positives']}, false positives {s['false_positives']}, "
          f"misses {s['misses']} (mask IoU >= {args.iou:g})")
    if args.json:
        from fishseg.io.export import atomic_write

        with atomic_write(args.json) as f:
            json.dump(s, f, indent=1)
        print(f"JSON written to {args.json}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from fishseg.demo import run_demo

    run_demo(args.out, frames=args.frames, seed=args.seed, width=args.width,
             height=args.height, progress=not args.quiet, model=args.model)
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    cfg = _config(args)
    sys.stdout.write(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fishseg`` command."""
    parser = argparse.ArgumentParser(
        prog="fishseg",
        description="Find, separate, count and measure fish in discard-belt CCTV video.")
    parser.add_argument("--version", action="version", version=f"fishseg {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    # the same two also after the command (``fishseg segment V -q``), as users type them;
    # SUPPRESS keeps the value given before the command when they are not repeated
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks on errors")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    p = add("synth", help="write a synthetic annotated discard-belt video")
    p.add_argument("out", type=Path, metavar="OUT", help="output folder")
    p.add_argument("--frames", type=int, default=60, help="video frames (default 60)")
    p.add_argument("--stills", type=int, default=0,
                   help="write N independent annotated frames instead of a video")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same output)")
    p.add_argument("--width", type=int, default=None, help="frame width (default 1280)")
    p.add_argument("--height", type=int, default=None, help="frame height (default 720)")
    _add_config_args(p)
    p.set_defaults(func=_cmd_synth)

    p = add("train", help="train a model on annotated frames")
    p.add_argument("--data", action="append", required=True, metavar="DIR",
                   help="dataset: folder with images/ and masks/, or a COCO json (repeatable)")
    p.add_argument("--out", required=True, type=Path, metavar="MODEL.fishseg", help="model file")
    p.add_argument("--method", choices=("fishseg", "pixel-forest"), default="fishseg",
                   help="what to train: the N^4-Fields model or the pixel-forest baseline")
    p.add_argument("--steps", type=int, default=None, help="override train.steps")
    p.add_argument("--seed", type=int, default=None, help="override train.seed")
    p.add_argument("--init", metavar="MODEL", default=None,
                   help="fine-tune from this model (a .fishseg file, or default / fast): "
                        "sets train.init; with train.finetune: head (the default) only its "
                        "FC and output layers learn, minutes on a CPU; of a model of several "
                        "networks, such as default, the first is fine-tuned")
    _add_config_args(p)
    p.set_defaults(func=_cmd_train)

    p = add("tune", help="re-tune a model's separation thresholds on annotated frames "
                       "(no retraining)")
    p.add_argument("--model", metavar="MODEL", default=None,
                   help="a .fishseg model file or a bundled model (default: default)")
    p.add_argument("--data", action="append", required=True, metavar="DIR",
                   help="annotated frames of your belt: folder or COCO json (repeatable)")
    p.add_argument("--out", required=True, type=Path, metavar="MODEL.fishseg",
                   help="the tuned model file to write")
    p.add_argument("--max-frames", type=int, default=16,
                   help="tune on at most this many frames, evenly spread (default 16)")
    _add_config_args(p)
    p.set_defaults(func=_cmd_tune)

    p = add("combine", help="make one model of several trained ones: the mean of their "
                          "maps (better maps, one network pass each)")
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help=".fishseg files or bundled models (default, fast) to average")
    p.add_argument("--out", required=True, type=Path, metavar="MODEL.fishseg",
                   help="the combined model file to write")
    p.add_argument("--settings-from", metavar="MODEL", default=None,
                   help="the model (one of those given) whose settings of inference, "
                        "separation and tracking the result keeps (default: the first); "
                        "re-tune them with `fishseg tune` on annotated frames of your belt")
    _add_config_args(p)
    p.set_defaults(func=_cmd_combine)

    p = add("segment", help="segment, track, count and measure fish in videos/images")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, image files, or folders of them")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="output root folder")
    p.add_argument("--model", metavar="MODEL", help="a .fishseg model file, or a bundled model: "
                   "default (the default; two networks, accurate) or fast (one small network: "
                   "about 4x faster maps on a CPU)")
    g = p.add_argument_group("processing")
    g.add_argument("--batch-size", type=int, default=8, help="frames per device batch (default 8)")
    g.add_argument("--scale", type=float, default=1.0,
                   help="resize frames by this factor first (outputs are at that size)")
    g.add_argument("--frame-step", type=_at_least_one, default=1, metavar="N",
                   help="process every N-th frame only (N times faster; frame numbers and "
                        "times stay the video's; a fish must still be seen in "
                        "track.min_frames processed frames to count)")
    g.add_argument("--start", type=_time_of_day, default=0.0, metavar="TIME",
                   help="process from this time of each input on: seconds, MM:SS or HH:MM:SS "
                        "into it, or a clock time such as 2026-11-24T05:42 (placed by each "
                        "input's recording start; inputs outside the window are skipped)")
    g.add_argument("--end", type=_time_of_day, default=None, metavar="TIME",
                   help="process up to this time of each input (default: its end)")
    g.add_argument("--recording-start", type=_recording_start, default="auto", metavar="WHEN",
                   help="clock time of the first frame, for the datetime columns and clock "
                        "windows: auto (from the file name, e.g. cam2_20261124_053000.mp4, "
                        "else the container's creation_time; the default), none, or a date "
                        "and time such as 2026-11-24T05:30:00+01:00 (one input only)")
    g.add_argument("--min-age", type=float, default=0.0, metavar="SECONDS",
                   help="skip inputs changed less than SECONDS ago: a recorder may still be "
                        "writing them (for runs from cron over a recorder's folder; "
                        "default 0: take every input)")
    g.add_argument("--checkpoint-every", type=int, default=1000, metavar="N",
                   help="save progress every N processed frames, so that a run that stops "
                        "(Ctrl-C, a crash) resumes there when run again (default 1000; 0: off)")
    g.add_argument("--fps", type=float, default=1.0, help="frame rate of image sequences")
    g.add_argument("--deinterlace", action="store_true",
                   help="remove the combing of interlaced video (analogue cameras on a DVR): "
                        "the results table says when an input looks interlaced")
    g.add_argument("--no-idle-skip", action="store_true",
                   help="run the network on every frame even where the belt has been empty "
                        "for a while (by default, after 2 batches without fish, only the "
                        "last frame of each batch is looked at until fish come back)")
    g.add_argument("--roi", metavar="ROI", default=None,
                   help="region of interest: x0,y0,x1,y1 in pixels of the input frames, or a "
                        "mask image of their size (non-zero = belt); fish outside are ignored, "
                        "fish cut by its border are partial")
    g.add_argument("--cm-per-pixel", type=float, default=None,
                   help="calibration: adds centimetre columns to fish.csv")
    g.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process; ray: one task per input on a Ray cluster "
                        '(needs pip install "fishseg[ray]"; see docs/cluster.md)')
    g.add_argument("--ray-address", metavar="ADDR", default=None,
                   help="Ray cluster to use with --engine ray, e.g. auto or ray://head:10001 "
                        "(default: start a local Ray instance)")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="--engine ray: workers, each loading the model once (default: one "
                        "per GPU of the cluster, or per CPU when it has none; more than the "
                        "GPUs share them, which pays on a GPU host with spare cores: "
                        "docs/cluster.md)")
    g = p.add_argument_group("outputs")
    g.add_argument("--overwrite", action="store_true", help="redo inputs that are complete")
    g.add_argument("--list", action="store_true",
                   help="only list the inputs found, their output names, recording starts "
                        "and lengths, and what would be done with each (no model is loaded)")
    g.add_argument("--no-overlay", action="store_true", help="do not write overlay.mp4")
    g.add_argument("--no-gallery", action="store_true",
                   help="do not write fish/: a picture of each fish's best view and contact "
                        "sheets of them")
    _add_config_args(p)
    p.set_defaults(func=_cmd_segment)

    p = add("pick", help="pick frames to annotate from videos, spread over time and "
                       "appearance, with the model's fish as editable proposals")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="video files, image files, or folders of them")
    p.add_argument("--out", required=True, type=Path, metavar="DIR",
                   help="folder for images/, proposals.json, frames.csv and picked.png")
    p.add_argument("--count", type=_at_least_one, default=40, metavar="N",
                   help="frames to pick (default 40)")
    p.add_argument("--model", metavar="MODEL", help="model whose fish are proposed (default: "
                   "the bundled default)")
    p.add_argument("--no-proposals", action="store_true",
                   help="pick frames only; no model is run and no proposals.json written")
    p.add_argument("--every", type=float, default=None, metavar="SECONDS",
                   help="seconds between the candidate frames read (default: about 10 "
                        "candidates per frame picked, over all inputs)")
    p.add_argument("--seed", type=int, default=0, help="seed of the choice (default 0)")
    p.add_argument("--fps", type=float, default=1.0, help="frame rate of image sequences")
    p.add_argument("--recording-start", type=_recording_start, default="auto", metavar="WHEN",
                   help="clock time of the first frame, for frames.csv's datetime (as for "
                        "segment)")
    p.add_argument("--overwrite", action="store_true", help="replace earlier picks in DIR")
    p.add_argument("--deinterlace", action="store_true",
                   help="remove the combing of interlaced video first")
    p.add_argument("--exclude", action="append", default=[], metavar="DIR",
                   help="an earlier pick folder: frames within 2 s of one picked there are not "
                        "picked again (repeatable; for a second round of annotation)")
    p.add_argument("--prefer", choices=("spread", "uncertain"), default="spread",
                   help="of each group of alike frames take the most typical (spread, the "
                        "default) or the one the model is least sure of (uncertain: the "
                        "model runs on every candidate, about 10x slower)")
    _add_config_args(p)
    p.set_defaults(func=_cmd_pick)

    p = add("report", help="rewrite a segmented batch's all_fish.csv, charts and "
                       "index.html (after adding a species column to all_fish.csv)")
    p.add_argument("out", type=Path, metavar="OUT", help="output folder of fishseg segment")
    p.add_argument("--hauls", type=Path, metavar="FILE",
                   help="haul log, CSV of haul,start,end (clock times): each fish gets the "
                        "haul its first sighting falls in; OUT/hauls.csv sums them (kept "
                        "in OUT and applied from then on)")
    p.set_defaults(func=_cmd_report)

    p = add("calibrate-lens", help="measure a wide-angle camera's lens distortion "
                       "from frames of a chessboard, for measure.lens")
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="images, folders of images, or videos of a flat chessboard moved "
                        "around the view (corners of the frame included)")
    p.add_argument("--board", type=_board, required=True, metavar="COLSxROWS",
                   help="inner corners per row and column (a board of 10 x 7 squares: 9x6)")
    p.add_argument("--every", type=_at_least_one, default=25, metavar="N",
                   help="from videos, look at every N-th frame (default 25)")
    p.add_argument("--out", type=Path, default=Path("lens.yaml"),
                   help="configuration file to write (default lens.yaml; a picture of a "
                        "view before and after undistortion is written beside it)")
    p.set_defaults(func=_cmd_calibrate_lens)

    p = add("evaluate", help="score a model or a baseline on annotated frames")
    p.add_argument("--data", required=True, metavar="DIR", help="annotated dataset (folder or COCO)")
    p.add_argument("--model", metavar="MODEL", default=None,
                   help="model file: a .fishseg bundle, or a pixel-forest file, or a bundled "
                        "model: default (the default) or fast")
    p.add_argument("--method", choices=("fishseg", "classical", "pixel-forest"), default="fishseg",
                   help="fishseg (default), classical (Otsu + distance transform + watershed) or "
                        "pixel-forest (needs --model from `fishseg train --method pixel-forest`)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write every number as JSON")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="write PNGs: AP vs IoU, count scatter, worst frames")
    _add_config_args(p)
    p.set_defaults(func=_cmd_evaluate)

    p = add("score-tracks", help="score a segmented video's tracks against true "
                       "tracks (MOTA, IDF1, id switches)")
    p.add_argument("--truth", required=True, type=Path, metavar="MASKS",
                   help="true masks with one id per fish: a folder of label PNGs (frame number "
                        "in each name) or a COCO .json whose annotations carry track_id")
    p.add_argument("--found", required=True, type=Path, metavar="OUT/NAME",
                   help="a `fishseg segment` output folder (or its masks/)")
    p.add_argument("--iou", type=float, default=0.5, help="mask IoU for a match (default 0.5)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write every number as JSON")
    p.set_defaults(func=_cmd_score_tracks)

    p = add("demo", help="segment a generated belt video with the bundled model")
    p.add_argument("--out", type=Path, default=Path("fishseg-demo"), help="output folder")
    p.add_argument("--frames", type=int, default=60,
                   help="frames to generate (default 60: 2.4 s, long enough for fish to ride through much of the view)")
    p.add_argument("--seed", type=int, default=2026, help="random seed of the generated video")
    p.add_argument("--width", type=int, default=1280, help="frame width (default 1280)")
    p.add_argument("--height", type=int, default=720, help="frame height (default 720)")
    p.add_argument("--model", default=None,
                   help="model bundle or bundled model name (default: the bundled default), "
                        "to see one's own model on the same video")
    p.set_defaults(func=_cmd_demo)

    p = add("config", help="print the resolved configuration (validates a file)")
    _add_config_args(p)
    p.set_defaults(func=_cmd_config)
    return parser


def _is_user_error(e: BaseException) -> bool:
    """Bad files, keys and inputs: fishseg's own errors and the OS/value errors they cause."""
    return isinstance(e, (ValueError, OSError)) or type(e).__module__.startswith("fishseg.")


def main(argv: list[str] | None = None) -> int:
    """Run the ``fishseg`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as e:
        print("fishseg: interrupted" + (f": {e}" if str(e) else "") + (
            " (an input stopped after its last checkpoint resumes there when the same "
            "command is run again)" if args.command == "segment" else ""), file=sys.stderr)
        return 130
    except Exception as e:
        if args.debug or not _is_user_error(e):
            raise
        print(f"fishseg {args.command}: error: {e}", file=sys.stderr)
        return 2
