"""Synthetic discard-belt video with exact instance masks (``fishseg synth``).

A textured conveyor belt carries roundfish and flatfish (alone, touching, in overlapping
clumps) through the view of a cheap CCTV camera under fluorescent light: soft shadows,
wet highlights, flicker, motion blur, hands and tools reaching in, sensor noise and H.264
compression. Modules: :mod:`.belt`, :mod:`.fish`, :mod:`.occluders`, :mod:`.scene`,
:mod:`.camera`, :mod:`.sprite`, :mod:`.render`, :mod:`.writer`, :mod:`.sheet`.

Example::

    from fishseg.synth import synthesize, render_frames
    meta = synthesize("out/demo", frames=60, seed=1)      # files
    images, labels = render_frames(8, seed=0, cfg=None)   # arrays, same pixels as files
"""

from fishseg.synth.render import GENERATOR_VERSION, render_frames, render_raw
from fishseg.synth.writer import synthesize

__all__ = ["GENERATOR_VERSION", "render_frames", "render_raw", "synthesize"]
