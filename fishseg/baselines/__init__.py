"""Baselines that fishseg is measured against (selected with ``--method``).

- ``classical`` (:mod:`fishseg.baselines.classical`): Otsu threshold, distance transform
  and marker watershed; no training.
- ``pixel-forest`` (:mod:`fishseg.baselines.pixel_forest`): ilastik-style random forests
  on multiscale pixel features for the fg and edge maps, then fishseg's own separation;
  stored without pickle (:mod:`fishseg.baselines.forest_io`).
"""

from fishseg.baselines.classical import ClassicalMethod, classical_segment
from fishseg.baselines.forest_io import ForestFileError
from fishseg.baselines.pixel_forest import PixelForest, load_pixel_forest, train_pixel_forest

__all__ = ["ClassicalMethod", "classical_segment", "ForestFileError", "PixelForest",
           "load_pixel_forest", "train_pixel_forest"]
