"""The codeword network: geometry, dense == patch-by-patch, weights round trip."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from fishseg.config import ModelConfig
from fishseg.model.dictionary import lookup
from fishseg.model.network import (
    FieldNet,
    extract_patches,
    get_params,
    grid_size,
    patch_codewords,
    set_params,
)

CFG = dataclasses.replace(ModelConfig(), features=(8, 16, 32), code_dim=8)


@pytest.fixture(scope="module", params=[0, 6], ids=["full-fc", "low-rank-fc"])
def net(request):
    return FieldNet(dataclasses.replace(CFG, fc_rank=request.param), rngs=nnx.Rngs(0))


def test_patch_gives_one_codeword(net):
    out = net(jnp.ones((2, 34, 34, 3)))
    assert out.shape == (2, 1, 1, CFG.code_dim)


@pytest.mark.parametrize("n,g", [(34, 1), (35, 1), (37, 1), (38, 2), (70, 10), (682, 163)])
def test_grid_size(n, g):
    assert grid_size(n) == g


@pytest.mark.parametrize("n", [34, 35, 38, 71, 682])
def test_network_output_matches_grid_size(n):
    """Sides of 34 + 4m (+1) give exactly the full-patch positions (the padded frames
    of the dense pass always have such sides)."""
    tiny = FieldNet(dataclasses.replace(CFG, features=(1, 1, 1)), rngs=nnx.Rngs(0))
    assert tiny(jnp.zeros((1, n, 34, 3))).shape[1] == grid_size(n)


def test_grid_size_too_small():
    with pytest.raises(ValueError, match="smaller than"):
        grid_size(33)


def test_extract_patches_positions():
    x = jnp.arange(2 * 42 * 46 * 1, dtype=jnp.float32).reshape(2, 42, 46, 1)
    p = extract_patches(x)
    assert p.shape == (2, 3, 4, 34, 34, 1)
    np.testing.assert_array_equal(p[1, 2, 3], x[1, 8:42, 12:46])


def test_dense_equals_patch_by_patch(net, exact_float32):
    x = jax.random.normal(jax.random.key(1), (2, 70, 86, 3))
    dense = net(x)
    ref = patch_codewords(net, x, chunk=64)
    assert dense.shape == ref.shape == (2, 10, 14, CFG.code_dim)
    np.testing.assert_allclose(np.asarray(dense), np.asarray(ref), atol=1e-4)
    keys = jax.random.normal(jax.random.key(2), (500, CFG.code_dim)) * jnp.std(ref)
    d = dense.reshape(-1, CFG.code_dim)
    r = ref.reshape(-1, CFG.code_dim)
    np.testing.assert_array_equal(np.asarray(lookup(d, keys, 64)), np.asarray(lookup(r, keys, 64)))


def test_dropout_only_in_training(net):
    x = jax.random.normal(jax.random.key(3), (4, 34, 34, 3))
    np.testing.assert_array_equal(net(x), net(x))
    a = net(x, train=True, dropout_key=jax.random.key(0))
    b = net(x, train=True, dropout_key=jax.random.key(1))
    assert not np.allclose(a, b)


def test_params_round_trip(net):
    other = FieldNet(dataclasses.replace(CFG, fc_rank=net.fc.kernel.shape[2] if net.fc_a else 0),
                     rngs=nnx.Rngs(7))
    set_params(other, get_params(net))
    x = jax.random.normal(jax.random.key(4), (1, 38, 38, 3))
    np.testing.assert_array_equal(other(x), net(x))
    bad = get_params(net)
    bad["fc/kernel"] = bad["fc/kernel"][..., :3]
    with pytest.raises(ValueError, match="fc/kernel"):
        set_params(other, bad)
