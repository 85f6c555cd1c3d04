"""Change settings stored in a model bundle that do not touch its weights or dictionary.

Separation, tracking and measurement settings travel inside a model bundle (``fishseg
tune`` and ``fishseg train`` store the tuned ones). This rewrites them, e.g. after
``scripts/sweep_separation.py`` chose a setting on validation videos::

    .venv/bin/python scripts/set_model_settings.py fishseg/data/default.fishseg \\
        --set separate.core_edge=0.4 --out fishseg/data/default.fishseg

Only the sections ``separate``, ``track`` and ``measure`` can be changed; what was
changed, and from what, is added to the bundle's ``meta["settings_changed"]``.
"""

from __future__ import annotations

import argparse

from fishseg.config import ConfigError, override, to_dict
from fishseg.model.bundle import load_model

SECTIONS = ("separate", "track", "measure")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a .fishseg file or a bundled model's name")
    ap.add_argument("--set", action="append", required=True, metavar="SECTION.KEY=VALUE")
    ap.add_argument("--out", required=True, help="the model file to write (may be the input)")
    args = ap.parse_args()
    for a in args.set:
        if a.split(".", 1)[0] not in SECTIONS:
            raise SystemExit(f"--set {a}: only {', '.join(SECTIONS)} settings can be changed "
                             "in a trained model")
    model = load_model(args.model)
    try:
        cfg = override(model.cfg, args.set)
    except ConfigError as e:
        raise SystemExit(str(e)) from None
    before, after = to_dict(model.cfg), to_dict(cfg)
    changes = {f"{s}.{k}": {"from": before[s][k], "to": after[s][k]}
               for s in SECTIONS for k in after[s] if after[s][k] != before[s][k]}
    model.cfg = cfg
    model.meta.setdefault("settings_changed", []).append(changes)
    model.save(args.out)
    print(f"wrote {args.out}: {changes or 'nothing changed'}")


if __name__ == "__main__":
    main()
