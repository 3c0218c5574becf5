import numpy as np
import pytest
import torch

from backend.errors import UserError
from backend.groups import FourierTransform, fourier_transform_of, irreps_of, parse_group

SPECS = ["C12", "D5", "Q8", "S4", "A5", "C7:C3", "SL(2,3)", "S3xC4", "Dic3"]


def _setup(spec):
    irrep_set = irreps_of(parse_group(spec))
    return irrep_set, fourier_transform_of(irrep_set)


@pytest.mark.parametrize("spec", SPECS)
def test_coefficients_match_the_direct_sum(spec):
    irrep_set, transform = _setup(spec)
    n = irrep_set.group.order
    rng = np.random.default_rng(1)
    v = rng.standard_normal((3, n)) + 1j * rng.standard_normal((3, n))
    coefficients = transform.coefficients(v)
    for irrep, block in zip(irrep_set.irreps, coefficients, strict=True):
        dagger = np.conj(irrep.matrices.transpose(0, 2, 1))
        direct = np.einsum("bg,gij->bij", v, dagger) / n  # (1/n) sum_g v(g) rho(g)^dagger
        assert np.abs(block - direct).max() < 1e-12


@pytest.mark.parametrize("spec", SPECS)
def test_inverse_of_forward_is_identity_and_matches_the_inversion_formula(spec):
    irrep_set, transform = _setup(spec)
    n = irrep_set.group.order
    rng = np.random.default_rng(2)
    v = rng.standard_normal((5, n))
    coefficients = transform.coefficients(v)
    assert np.abs(transform.inverse(coefficients) - v).max() < 1e-12
    # v(g) = sum_rho d tr(v̂[rho] rho(g)), summed directly
    direct = sum(
        irrep.dim * np.einsum("bij,gji->bg", block, irrep.matrices)
        for irrep, block in zip(irrep_set.irreps, coefficients, strict=True)
    )
    assert np.abs(direct - v).max() < 1e-12


@pytest.mark.parametrize("spec", SPECS)
def test_plancherel_and_power_against_character_projectors(spec):
    irrep_set, transform = _setup(spec)
    group = irrep_set.group
    n = group.order
    rng = np.random.default_rng(3)
    v = rng.standard_normal((64, n))
    irrep_power = transform.irrep_power(v)
    orbit_power = transform.orbit_power(v)
    norm = (v**2).sum(axis=1)
    assert np.abs(irrep_power.sum(axis=1) - norm).max() < 1e-10 * norm.max()
    assert np.abs(orbit_power.sum(axis=1) - norm).max() < 1e-10 * norm.max()
    # independent: P_rho(v) = <v, Pi_chi v>, Pi_chi[x, y] = (d/n) chi(g_x g_y^-1)
    quotient = group.table[:, group.inverse]
    for index, irrep in enumerate(irrep_set.irreps):
        projector = irrep.dim / n * irrep.character[quotient]
        expected = np.einsum("bx,xy,by->b", v, projector, v).real
        assert np.abs(irrep_power[:, index] - expected).max() < 1e-10
    for index, orbit in enumerate(irrep_set.orbits):
        assert np.allclose(orbit_power[:, index], irrep_power[:, list(orbit.irreps)].sum(axis=1))


@pytest.mark.parametrize("spec", SPECS)
def test_power_is_invariant_under_translation(spec):
    irrep_set, transform = _setup(spec)
    group = irrep_set.group
    rng = np.random.default_rng(4)
    v = rng.standard_normal((4, group.order))
    for g in range(group.order):
        # (lambda(g) v)(h) = v(g^-1 h)
        translated = v[:, group.table[group.inverse[g]]]
        assert np.allclose(transform.irrep_power(translated), transform.irrep_power(v))
        assert np.allclose(transform.orbit_power(translated), transform.orbit_power(v))


def test_real_basis_is_orthogonal_and_spans_each_orbit():
    irrep_set, transform = _setup("SL(2,3)")
    basis = transform.real_basis
    assert np.abs(basis @ basis.T - np.eye(len(basis))).max() < 1e-12
    assert np.isrealobj(basis)
    group = irrep_set.group
    quotient = group.table[:, group.inverse]
    for index, orbit in enumerate(irrep_set.orbits):
        projector = sum(
            irrep_set.irreps[i].dim / group.order * irrep_set.irreps[i].character[quotient]
            for i in orbit.irreps
        )
        rows = basis[transform.orbit_of_row == index]
        assert np.abs(rows.T @ rows - projector).max() < 1e-12


def test_complex_input_power_sums_to_the_norm():
    irrep_set, transform = _setup("C7:C3")
    rng = np.random.default_rng(5)
    v = rng.standard_normal((8, 21)) + 1j * rng.standard_normal((8, 21))
    assert np.allclose(transform.orbit_power(v).sum(axis=1), (np.abs(v) ** 2).sum(axis=1))
    # a single complex character has all its power on one irrep, not on its conjugate
    chi = irrep_set.irreps[1].character
    power = transform.irrep_power(chi)
    assert power[1] == pytest.approx(21.0) and power[2] == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_orbit_power_matches_numpy(dtype):
    irrep_set, transform = _setup("S4")
    rng = np.random.default_rng(6)
    v = rng.standard_normal((2, 7, 24))
    expected = transform.orbit_power(v)
    got = transform.orbit_power_torch(torch.as_tensor(v, dtype=dtype))
    assert got.dtype == dtype and got.shape == (2, 7, len(irrep_set.orbits))
    tolerance = 1e-4 if dtype == torch.float32 else 1e-12
    assert np.abs(got.numpy() - expected).max() < tolerance * np.abs(expected).max()
    first = transform.orbit_projection_matrix("cpu", dtype)
    assert transform.orbit_projection_matrix("cpu", dtype)[0] is first[0]


def test_matrix_layout_follows_the_contract():
    irrep_set, transform = _setup("S3")
    n = 6
    row = 0
    for irrep in irrep_set.irreps:
        d = irrep.dim
        for a in range(d):
            for b in range(d):
                expected = np.sqrt(d / n) * np.conj(irrep.matrices[:, b, a])
                assert np.allclose(transform.matrix[row], expected)
                row += 1


def test_wrong_length_is_a_user_error():
    _, transform = _setup("C12")
    with pytest.raises(UserError, match="needs 12 values"):
        transform.orbit_power(np.zeros((3, 10)))
    with pytest.raises(UserError, match="needs 12 values"):
        transform.orbit_power_torch(torch.zeros(10))


def test_transform_is_cached_per_irrep_set():
    irrep_set, transform = _setup("D5")
    assert fourier_transform_of(irrep_set) is transform
    assert isinstance(FourierTransform(irrep_set).matrix, np.ndarray)
