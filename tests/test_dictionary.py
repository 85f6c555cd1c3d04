"""PCA codes, k-means dictionary and the chunked nearest-neighbour lookup."""

import jax
import numpy as np
import pytest

from fishseg.model.dictionary import build_dictionary, decode, encode, fit_pca, kmeans, lookup


@pytest.mark.parametrize("n,k,chunk", [(1000, 300, 128), (50, 40, 4096), (257, 1, 64)])
def test_lookup_equals_brute_force(n, k, chunk):
    rng = np.random.default_rng(n)
    q = rng.normal(size=(n, 16)).astype(np.float32)
    keys = rng.normal(size=(k, 16)).astype(np.float32)
    brute = np.argmin(((q[:, None, :].astype(np.float64) - keys[None]) ** 2).sum(-1), axis=1)
    got = np.asarray(lookup(q, keys, chunk))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, brute)


def test_lookup_exact_match_and_ties():
    keys = np.array([[0, 0], [1, 1], [1, 1], [5, 5]], np.float32)
    q = np.array([[1, 1], [4.9, 5], [0.1, 0]], np.float32)
    np.testing.assert_array_equal(np.asarray(lookup(q, keys, 2)), [1, 3, 0])


def test_lookup_ties_go_to_the_lowest_index_across_blocks():
    """Many exact ties (small integer codes, exact in float32), some within one block of
    keys and some across blocks: always the lowest index, as numpy's argmin."""
    rng = np.random.default_rng(3)
    keys = rng.integers(-2, 3, size=(61, 3)).astype(np.float32)   # 125 points: repeats
    keys[40] = keys[7] = keys[12]                                  # the same key thrice
    q = rng.integers(-3, 4, size=(500, 3)).astype(np.float32)
    q[:5] = keys[12]
    brute = np.argmin(((q[:, None, :].astype(np.float64) - keys[None]) ** 2).sum(-1), axis=1)
    for chunk in (7, 64, 4096):
        got = np.asarray(lookup(q, keys, chunk))
        np.testing.assert_array_equal(got, brute)
    assert (np.asarray(lookup(q[:5], keys)) == 7).all()


def test_lookup_memory_is_chunked():
    """The compiled lookup never holds more than chunk x K distances."""
    q = jax.ShapeDtypeStruct((130_000, 16), np.float32)        # ~1080p at stride 4
    keys = jax.ShapeDtypeStruct((16384, 16), np.float32)
    compiled = lookup.lower(q, keys, chunk=256).compile()
    mem = compiled.memory_analysis()
    if mem is None:
        pytest.skip("no memory analysis on this backend")
    assert mem.temp_size_in_bytes < 2 * 2**30


def test_pca_codes_reconstruct_low_rank_patches(exact_float32):
    rng = np.random.default_rng(0)
    basis = rng.normal(size=(4, 512)).astype(np.float32)
    x = (rng.normal(size=(300, 4)) @ basis + 0.5).astype(np.float32)
    pca = fit_pca(x, 4)
    assert pca["components"].shape == (4, 512) and pca["mean"].shape == (512,)
    codes = encode(pca, x)
    assert codes.shape == (300, 4)
    np.testing.assert_allclose(np.asarray(decode(pca, codes)), x, atol=1e-3)
    assert abs(float(np.std(np.asarray(codes)[:, 0])) - 1.0) < 0.05


def test_weighted_pca_codes_count_edge_pixels_more(exact_float32):
    """With the edge channel weighted by w, the codes are those of the plain PCA of the
    weighted patches, decoding gives the unweighted patches back, and an error in an
    edge pixel moves the code w times as far as the same error in a fg pixel."""
    from fishseg.model.dictionary import channel_weights

    assert channel_weights(2, 1.0) is None
    w = channel_weights(2, 3.0)
    assert w.shape == (512,) and set(w[:256]) == {1.0} and set(w[256:]) == {3.0}
    assert channel_weights(3, 2.0).reshape(3, 256)[:, 0].tolist() == [1.0, 2.0, 1.0]
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(300, 4)) @ rng.normal(size=(4, 512)) + 0.5).astype(np.float32)
    pca = fit_pca(x, 4, weight=w)
    plain = fit_pca(x * w, 4)
    np.testing.assert_allclose(np.asarray(encode(pca, x)), np.asarray(encode(plain, x * w)),
                               atol=1e-4)
    np.testing.assert_allclose(np.asarray(decode(pca, encode(pca, x))), x, atol=1e-3)
    full = fit_pca(rng.normal(size=(2000, 512)).astype(np.float32), 512, weight=w)
    bump = np.zeros((2, 512), np.float32)
    bump[0, 10], bump[1, 300] = 1.0, 1.0  # one fg pixel, one edge pixel
    d = np.asarray(encode(full, bump)) - np.asarray(encode(full, np.zeros((1, 512), np.float32)))
    ratio = np.linalg.norm(d[1]) / np.linalg.norm(d[0])
    assert ratio == pytest.approx(3.0, rel=1e-3)  # a complete basis keeps the norms
    with pytest.raises(ValueError, match="weights have 256 entries"):
        fit_pca(x, 4, weight=np.ones(256, np.float32))


def test_pca_needs_enough_patches():
    with pytest.raises(ValueError, match="more than 16"):
        fit_pca(np.zeros((10, 512), np.float32), 16)


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [10, 0], [0, 10]], np.float32)
    x = np.concatenate([c + 0.1 * rng.normal(size=(50, 2)) for c in centres]).astype(np.float32)
    found, assign = kmeans(x, 3, iters=10, seed=0, chunk=32)
    # each true cluster maps to exactly one found centre, near the true one
    for i, c in enumerate(centres):
        labels = assign[i * 50:(i + 1) * 50]
        assert len(set(labels.tolist())) == 1
        np.testing.assert_allclose(found[labels[0]], c, atol=0.1)


def test_dictionary_values_are_cluster_means():
    codes = np.array([[0, 0], [0, 0.1], [9, 9], [9, 9.1]], np.float32)
    patches = np.zeros((4, 2, 16, 16), np.float32)
    patches[1] = 1.0
    patches[2:, 1] = 0.5
    keys, values = build_dictionary(codes, patches, size=2, iters=5, seed=0)
    order = np.argsort(keys[:, 0])
    np.testing.assert_allclose(values[order[0]], 0.5)
    np.testing.assert_allclose(values[order[1], 0], 0.0)
    np.testing.assert_allclose(values[order[1], 1], 0.5)


def test_small_sample_keeps_all_pairs():
    codes = np.eye(3, dtype=np.float32)
    patches = np.random.default_rng(0).random((3, 2, 16, 16)).astype(np.float32)
    keys, values = build_dictionary(codes, patches, size=8, iters=5)
    np.testing.assert_array_equal(keys, codes)
    np.testing.assert_array_equal(values, patches)
