"""The N^4-Fields network: a 34x34 RGB patch -> a codeword, fully convolutional.

All layers are VALID convolutions and 2x2 max-pools, and the "fully connected" layer is
a 5x5 convolution, so the same weights map

- one (34, 34, 3) patch to a (1, 1, code_dim) codeword (training), and
- a whole (H, W, 3) frame to a ((H-34)//4 + 1, (W-34)//4 + 1, code_dim) grid of
  codewords, where grid cell (i, j) is exactly the codeword of the patch whose top-left
  corner is at pixel (4i, 4j) (inference).

The second statement holds because both pools start at even offsets: the pooling
windows of the dense pass line up with those of every patch at a stride-4 position.
:func:`grid_size` gives the grid size; :func:`patch_codewords` is the patch-by-patch
reference that the dense pass is tested against.

Geometry (reference sizes 34 -> 30 -> 15 -> 11 -> 5 -> 1)::

    conv5x5-c1 VALID, ReLU, maxpool 2   34 -> 30 -> 15
    conv5x5-c2 VALID, ReLU, maxpool 2   15 -> 11 -> 5
    conv5x5-c3 VALID (the FC layer), ReLU, dropout   5 -> 1
    conv1x1-code_dim                    1 -> 1

With ``model.fc_rank`` r > 0 the FC layer is factored: conv5x5-r (no bias), then
conv1x1-c3 — the same function class as a rank-r FC kernel, at (25*c2 + c3)*r instead of
25*c2*c3 multiply-adds per output cell (the FC layer dominates the dense pass).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from fishseg.config import ModelConfig

#: Side of the input patch, the target patch and the output grid stride. They are fixed
#: by the architecture (two 2x pools; VALID 5x5 convs): ModelConfig only allows these.
INPUT_PATCH = 34
TARGET_PATCH = 16
STRIDE = 4
#: Offset of the target patch inside the input patch: (34 - 16) / 2.
TARGET_OFFSET = (INPUT_PATCH - TARGET_PATCH) // 2


class FieldNet(nnx.Module):
    """The codeword network.

    Args:
        cfg: model configuration (``features`` = channels of conv1, conv2 and the FC
            layer; ``code_dim``; ``dropout``).
        rngs: random streams for the initial weights (``params``).
    """

    def __init__(self, cfg: ModelConfig, *, rngs: nnx.Rngs):
        c1, c2, c3 = cfg.features
        r = cfg.fc_rank
        self.conv1 = nnx.Conv(3, c1, (5, 5), padding="VALID", rngs=rngs)
        self.conv2 = nnx.Conv(c1, c2, (5, 5), padding="VALID", rngs=rngs)
        # low rank (fc_rank r > 0): fc_a (5x5, c2 -> r, no bias), then fc (1x1, r -> c3)
        self.fc_a = (nnx.Conv(c2, r, (5, 5), padding="VALID", use_bias=False, rngs=rngs)
                     if r else None)
        self.fc = nnx.Conv(r or c2, c3, (1, 1) if r else (5, 5), padding="VALID", rngs=rngs)
        self.out = nnx.Conv(c3, cfg.code_dim, (1, 1), padding="VALID", rngs=rngs)
        self.dropout = nnx.Dropout(cfg.dropout)

    def trunk(self, x: jax.Array) -> jax.Array:
        """The two convolutions and pools (what ``train.finetune: head`` keeps fixed).

        Args:
            x: (B, H, W, 3) float32 standardised input, H, W >= 34.

        Returns:
            (B, h, w, c2) float32, ``h = (H - 34) // 4 + 5`` when H - 34 is a multiple
            of 4 (likewise w): (B, 5, 5, c2) for 34x34 patches, the FC layer's input.
        """
        x = nnx.max_pool(jax.nn.relu(self.conv1(x)), (2, 2), strides=(2, 2))
        return nnx.max_pool(jax.nn.relu(self.conv2(x)), (2, 2), strides=(2, 2))

    def __call__(self, x: jax.Array, *, train: bool = False,
                 dropout_key: jax.Array | None = None) -> jax.Array:
        """Codewords of patches or frames.

        Args:
            x: (B, H, W, 3) float32 standardised input, H, W >= 34.
            train: apply dropout (needs ``dropout_key``).
            dropout_key: PRNG key for dropout when ``train``.

        Returns:
            (B, (H-34)//4 + 1, (W-34)//4 + 1, code_dim) float32; (B, 1, 1, code_dim)
            for 34x34 patches.
        """
        x = self.trunk(x)
        if self.fc_a is not None:
            x = self.fc_a(x)
        x = jax.nn.relu(self.fc(x))
        if train:
            x = self.dropout(x, deterministic=False, rngs=dropout_key)
        return self.out(x)


def grid_size(n: int) -> int:
    """Number of stride-4 patch positions along a side of ``n`` pixels (n >= 34).

    The network's output has exactly this many positions when ``n - 34`` is 0 or 1
    modulo 4 (the dense pass pads frames to ``34 + 4m``). With 2 or 3 it has one more:
    the pools drop the last 2 rows of every patch (11 -> 5), so a patch sticking out
    by 2 pixels or less is still computed.
    """
    if n < INPUT_PATCH:
        raise ValueError(f"input side {n} is smaller than the {INPUT_PATCH}-pixel patch")
    return (n - INPUT_PATCH) // STRIDE + 1


def extract_patches(x: jax.Array) -> jax.Array:
    """All 34x34 patches of ``x`` at stride 4 (the positions of the dense grid).

    Args:
        x: (B, H, W, C) array.

    Returns:
        (B, gh, gw, 34, 34, C) array, ``gh = grid_size(H)``, ``gw = grid_size(W)``.
    """
    _, h, w, _ = x.shape
    gh, gw = grid_size(h), grid_size(w)
    iy = (jnp.arange(gh) * STRIDE)[:, None] + jnp.arange(INPUT_PATCH)[None, :]
    ix = (jnp.arange(gw) * STRIDE)[:, None] + jnp.arange(INPUT_PATCH)[None, :]
    rows = x[:, iy]                                     # (B, gh, 34, W, C)
    p = rows[:, :, :, ix]                               # (B, gh, 34, gw, 34, C)
    return jnp.transpose(p, (0, 1, 3, 2, 4, 5))


def patch_codewords(model: FieldNet, x: jax.Array, chunk: int = 4096) -> jax.Array:
    """Patch-by-patch reference for the dense pass: the network on each patch alone.

    Args:
        model: the network.
        x: (B, H, W, 3) float32 standardised input.
        chunk: patches per network call.

    Returns:
        (B, gh, gw, code_dim) float32, the same layout as ``model(x)``.
    """
    graphdef, state = nnx.split(model)

    @jax.jit
    def run(state, x):
        net = nnx.merge(graphdef, state)
        p = extract_patches(x)
        b, gh, gw = p.shape[:3]
        flat = p.reshape(-1, INPUT_PATCH, INPUT_PATCH, x.shape[-1])
        n = flat.shape[0]
        pad = (-n) % chunk if n > chunk else 0
        size = chunk if n > chunk else n
        flat = jnp.pad(flat, ((0, pad), (0, 0), (0, 0), (0, 0)))
        out = jax.lax.map(lambda c: net(c)[:, 0, 0, :],
                          flat.reshape(-1, size, INPUT_PATCH, INPUT_PATCH, x.shape[-1]))
        return out.reshape(-1, out.shape[-1])[:n].reshape(b, gh, gw, -1)

    return run(state, x)


def get_params(model: FieldNet) -> dict[str, np.ndarray]:
    """The network's weights as ``{"conv1/kernel": array, ...}`` (host float32 copies)."""
    flat = nnx.to_flat_state(nnx.state(model, nnx.Param))
    return {"/".join(map(str, k)): np.array(v[...], np.float32) for k, v in flat}


def set_params(model: FieldNet, params: dict[str, np.ndarray]) -> None:
    """Load weights from :func:`get_params`' layout (names and shapes must match).

    Raises:
        KeyError: a weight is missing. ValueError: a weight has the wrong shape.
    """
    flat = nnx.to_flat_state(nnx.state(model, nnx.Param))
    new = []
    for k, v in flat:
        name = "/".join(map(str, k))
        arr = np.asarray(params[name], np.float32)
        if arr.shape != v[...].shape:
            raise ValueError(f"weight '{name}' has shape {arr.shape}, the network needs {v[...].shape}")
        new.append((k, jnp.asarray(arr)))
    nnx.update(model, nnx.from_flat_state(new))
