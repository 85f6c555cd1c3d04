"""Ways to run the ``segment`` job over many inputs.

The local engine is :func:`fishseg.pipeline.segment_inputs` (one process, inputs one
after another). :mod:`fishseg.engines.ray` runs the same :func:`fishseg.pipeline.segment_video`
on a Ray cluster, one task per input on workers that load the model once; it needs the
optional extra ``pip install "fishseg[ray]"`` and is imported only when asked for.
"""
