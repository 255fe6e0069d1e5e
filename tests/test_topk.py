"""indexes.topk: the sampled-threshold top k returns exactly what a full sort returns, ties by index."""

import numpy as np
import pytest

from indexes.topk import SAMPLE_MIN_ROWS, STRIDE, top_k


def _reference(scores: np.ndarray, k: int, positive_only: bool) -> np.ndarray:
    rows = np.flatnonzero(scores > 0) if positive_only else np.arange(scores.shape[0])
    return rows[np.lexsort((rows, -scores[rows]))][:k]


def _bm25_like(n: int, seed: int) -> np.ndarray:
    """Sparse positive scores as a query's terms give them: about half the rows score, the rest are 0."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n, np.float32)
    for size in (n // 3, n // 6, n // 12, n // 50):
        rows = rng.choice(n, size=size, replace=False)
        out[rows] += rng.random(size).astype(np.float32)
    return out


@pytest.mark.parametrize("positive_only", [True, False])
@pytest.mark.parametrize("k", [1, 10, 200])
def test_matches_a_full_sort_on_large_arrays(k, positive_only):
    scores = _bm25_like(4 * SAMPLE_MIN_ROWS, seed=k)
    np.testing.assert_array_equal(top_k(scores, k, positive_only=positive_only), _reference(scores, k, positive_only))


def test_ties_break_by_index_even_across_the_kth_score():
    scores = np.zeros(2 * SAMPLE_MIN_ROWS, np.float32)
    scores[::7] = 1.0  # thousands of rows tie for the best score
    scores[5] = 2.0
    got = top_k(scores, 50)
    np.testing.assert_array_equal(got, _reference(scores, 50, False))
    assert got[0] == 5 and (np.diff(got[1:]) > 0).all()


def test_best_rows_off_the_sample_still_found():
    # the sample reads every STRIDE-th row from 0: put every high score where it never looks
    n = 2 * SAMPLE_MIN_ROWS
    rng = np.random.default_rng(3)
    scores = rng.random(n).astype(np.float32) * 0.5
    off = np.arange(1, n, STRIDE)[:300]
    scores[off] = 1.0 + rng.random(off.size).astype(np.float32)
    got = top_k(scores, 200)
    np.testing.assert_array_equal(got, _reference(scores, 200, False))
    assert set(got.tolist()) <= set(off.tolist())


def test_positive_only_returns_fewer_when_few_rows_score():
    scores = np.zeros(3 * SAMPLE_MIN_ROWS, np.float32)
    scores[[10, 99_000, 150_000]] = [0.5, 2.0, 0.5]
    assert top_k(scores, 200, positive_only=True).tolist() == [99_000, 10, 150_000]
    assert top_k(np.zeros(10, np.float32), 5, positive_only=True).size == 0


def test_small_and_degenerate_inputs():
    scores = np.array([0.3, 0.9, 0.3, -1.0], np.float32)
    assert top_k(scores, 3).tolist() == [1, 0, 2]
    assert top_k(scores, 10).tolist() == [1, 0, 2, 3]
    assert top_k(scores, 0).size == 0
    assert top_k(np.zeros(0, np.float32), 5).size == 0
    with_dead = _bm25_like(2 * SAMPLE_MIN_ROWS, seed=9)
    with_dead[::3] = -np.inf  # tombstoned rows in a dense scan
    np.testing.assert_array_equal(top_k(with_dead, 200), _reference(with_dead, 200, False))


def test_a_sample_holding_the_best_rows_falls_back_to_the_full_partition():
    # the sampled rows hold the very best scores, so too few rows reach the sample's threshold
    n = 2 * SAMPLE_MIN_ROWS
    rng = np.random.default_rng(4)
    scores = rng.random(n).astype(np.float32) * 0.5
    scores[np.arange(0, 30 * STRIDE, STRIDE)] = 10.0 + np.arange(30, dtype=np.float32)
    got = top_k(scores, 200)
    np.testing.assert_array_equal(got, _reference(scores, 200, False))
    assert got[0] == 29 * STRIDE and got.size == 200
