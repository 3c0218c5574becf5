"""The alignment invariants against matrices built from known singular vectors, their
gauge invariance, and the recorded snapshot against an explicit Fourier sum."""

import numpy as np
import pytest

from backend.alignment_invariants import (
    alignment_invariants,
    alignment_phasor,
    rank_one_share,
    singular_overlap,
    top_count,
)
from backend.groups import parse_group
from backend.metrics import neuron_metrics
from backend.spectral import SpectralTools


def random_unitary(rng, d, count):
    z = rng.standard_normal((count, d, d)) + 1j * rng.standard_normal((count, d, d))
    q, r = np.linalg.qr(z)
    return q * (np.diagonal(r, axis1=1, axis2=2) / np.abs(np.diagonal(r, axis1=1, axis2=2)))[
        :, None, :]


def built(rng, sigmas, count=6):
    """Matrices U diag(σ) V† with known U, V (columns are the singular vectors)."""
    d = len(sigmas)
    u, v = random_unitary(rng, d, count), random_unitary(rng, d, count)
    return u @ (np.asarray(sigmas)[:, None] * np.conj(np.swapaxes(v, 1, 2))), u, v


@pytest.mark.parametrize("d", [2, 3, 5])
def test_overlap_is_the_inner_product_of_the_known_singular_vectors(d):
    rng = np.random.default_rng(d)
    sigmas = np.linspace(3.0, 0.5, d)
    a_hat, u_a, _ = built(rng, sigmas)
    b_hat, _, v_b = built(rng, sigmas * 1.7)
    expected = np.abs(np.einsum("mi,mi->m", np.conj(v_b[:, :, 0]), u_a[:, :, 0]))
    assert singular_overlap(a_hat, b_hat) == pytest.approx(expected, abs=1e-10)


def test_quaternionic_overlap_uses_the_top_two_dimensional_subspaces():
    rng = np.random.default_rng(7)
    sigmas = [2.0, 2.0, 0.3, 0.1]
    a_hat, u_a, _ = built(rng, sigmas)
    b_hat, _, v_b = built(rng, sigmas)
    products = np.conj(np.swapaxes(v_b[:, :, :2], 1, 2)) @ u_a[:, :, :2]
    expected = np.sqrt(np.sum(np.abs(products) ** 2, axis=(1, 2)) / 2)
    assert singular_overlap(a_hat, b_hat, k=2) == pytest.approx(expected, abs=1e-10)
    assert top_count(-1) == 2 and top_count(1) == 1 and top_count(0) == 1


def test_aligned_rank_one_pair_reaches_one_and_orthogonal_pair_zero():
    u = np.array([1.0, 0.0, 0.0])
    w = np.array([0.0, 1.0, 0.0])
    a_hat = np.outer(u, w)[None] * 2.0  # left singular vector u
    b_hat_aligned = np.outer(w, u)[None]  # right singular vector u
    b_hat_crossed = np.outer(u, w)[None]  # right singular vector w ⟂ u
    assert singular_overlap(a_hat, b_hat_aligned)[0] == pytest.approx(1.0)
    assert singular_overlap(a_hat, b_hat_crossed)[0] == pytest.approx(0.0, abs=1e-12)


def test_invariants_do_not_depend_on_the_basis_of_the_irrep():
    rng = np.random.default_rng(3)
    blocks = rng.standard_normal((3, 8, 3, 3)) + 1j * rng.standard_normal((3, 8, 3, 3))
    w = random_unitary(rng, 3, 1)[0]
    rotated = w @ blocks @ np.conj(w.T)
    first, second = alignment_invariants(blocks), alignment_invariants(rotated)
    for key in ("overlap", "rank_one", "z"):
        assert first[key] == pytest.approx(second[key], abs=1e-10)


def test_rank_one_share_and_phasor_closed_forms():
    rng = np.random.default_rng(4)
    blocks, _, _ = built(rng, [3.0, 1.0, 1.0])
    assert rank_one_share(blocks) == pytest.approx(np.full(6, 9 / 11))
    assert rank_one_share(blocks, k=2) == pytest.approx(np.full(6, 10 / 11))
    a_hat, b_hat = built(rng, [2.0, 1.0])[0], built(rng, [1.5, 0.2])[0]
    assert alignment_phasor(a_hat, b_hat, 3.0 * b_hat @ a_hat) == pytest.approx(np.ones(6))
    assert alignment_phasor(a_hat, b_hat, -b_hat @ a_hat) == pytest.approx(-np.ones(6))
    # tr(ĉ† b̂ â) is conjugate-linear in ĉ: ĉ = i b̂ â gives z = −i
    assert alignment_phasor(a_hat, b_hat, 1j * b_hat @ a_hat) == pytest.approx(-1j * np.ones(6))


@pytest.mark.parametrize("spec", ["S4", "Q8", "D5"])
def test_snapshot_overlap_against_an_explicit_fourier_sum(spec):
    """The metric's overlap of every neuron on a matrix irrep, from coefficients summed
    element by element at the orbit's representative irrep; NaN on 1-dim orbits."""
    group = parse_group(spec)
    tools = SpectralTools.of(group)
    rng = np.random.default_rng(5)
    effective = rng.standard_normal((3, 40, group.order))
    result = neuron_metrics(effective, tools)
    dominant = result["dominant_orbit"]
    checked = 0
    for m in range(effective.shape[1]):
        orbit = tools.irrep_set.orbits[int(dominant[m])]
        irrep = tools.irrep_set.irreps[orbit.irreps[0]]
        if irrep.dim == 1:
            assert np.isnan(result["singular_overlap"][m])
            continue
        hats = [sum(effective[layer, m, g] * irrep.matrices[g].conj().T
                    for g in range(group.order)) / group.order for layer in range(3)]
        k = 2 if orbit.indicator == -1 else 1
        _, _, vh_b = np.linalg.svd(hats[1])
        u_a, _, _ = np.linalg.svd(hats[0])
        expected = np.linalg.norm(vh_b[:k] @ u_a[:, :k]) / np.sqrt(k)
        assert result["singular_overlap"][m] == pytest.approx(expected, abs=1e-9)
        checked += 1
    assert checked > 0
