"""The fused CPU kernels against the PyTorch code they replace, and the optimisers' kernel
steps against their PyTorch steps."""

import numpy as np
import pytest
import torch

import backend.training.optimisers
from backend.training import kernels
from backend.training.network import activation_derivative, activation_value
from backend.training.optimisers import Adam, AdamW

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE,
                                reason=f"no kernels: {kernels.UNAVAILABLE_REASON}")

DTYPES = [torch.float32, torch.float64]


def tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12,
                                                                        "atol": 1e-12}


def random(*shape, dtype, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", sorted(kernels.ACTIVATION_CODES))
@pytest.mark.parametrize("accumulate", [False, True])
def test_hidden_gradient_sums_match_the_product_and_passes_they_replace(dtype, activation,
                                                                         accumulate):
    n, width, start, rows = 6, 37, 2, 3  # rows 2–4 of 6, an odd width
    a, b = random(n, width, dtype=dtype), random(n, width, dtype=dtype, seed=1)
    code = kernels.ACTIVATION_CODES[activation]
    hidden = (a[start : start + rows, None, :] + b[None]).reshape(-1, width)

    g_t = random(rows * n, n, dtype=dtype, seed=2)
    readout = random(n, width, dtype=dtype, seed=3)
    first = torch.full((rows, width), float("nan"), dtype=dtype)
    second = torch.full((n, width), 0.25, dtype=dtype)
    kernels.hidden_gradient_sums(g_t.numpy(), readout.numpy(), a.numpy(), b.numpy(), start,
                                 rows, code, first.numpy(), second.numpy(), accumulate)
    derivative = hidden if activation == "square" else activation_derivative(activation, hidden)
    e = (g_t @ readout * derivative).view(rows, n, width)
    torch.testing.assert_close(first, e.sum(1), **tolerance(dtype))
    torch.testing.assert_close(second, e.sum(0) + (0.25 if accumulate else 0.0),
                               **tolerance(dtype))


# (n, width): one vector of pairs or several (float32 holds 8 a vector, float64 4), more
# than one tile of them (n = 37), and columns in wide strips, narrow strips and a rest
PRODUCT_SHAPES = [(6, 37), (37, 37), (9, 130)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", sorted(kernels.ACTIVATION_CODES))
@pytest.mark.parametrize(("n", "width"), PRODUCT_SHAPES)
def test_forward_block_is_the_product_with_the_activated_pairs(dtype, activation, n, width):
    start, rows = 1, min(3, n - 1)
    a, b = random(n, width, dtype=dtype), random(n, width, dtype=dtype, seed=1)
    readout = random(n, width, dtype=dtype, seed=2)
    code = kernels.ACTIVATION_CODES[activation]
    hidden = (a[start : start + rows, None, :] + b[None]).reshape(-1, width)
    out = torch.full((n, rows * n), float("nan"), dtype=dtype)
    kernels.forward_block(readout.numpy(), a.numpy(), b.numpy(), start, rows, code, out.numpy())
    expected = readout.double() @ activation_value(activation, hidden).double().T
    torch.testing.assert_close(out.double(), expected, **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", sorted(kernels.ACTIVATION_CODES))
@pytest.mark.parametrize(("n", "width"), PRODUCT_SHAPES)
@pytest.mark.parametrize("accumulate", [False, True])
def test_readout_block_is_the_product_of_g_with_the_activated_pairs(dtype, activation, n,
                                                                    width, accumulate):
    start, rows = 1, min(3, n - 1)
    a, b = random(n, width, dtype=dtype), random(n, width, dtype=dtype, seed=1)
    g = random(n, rows * n, dtype=dtype, seed=2)
    code = kernels.ACTIVATION_CODES[activation]
    hidden = (a[start : start + rows, None, :] + b[None]).reshape(-1, width)
    out = torch.full((n, width), 0.5, dtype=dtype)
    kernels.readout_block(g.numpy(), a.numpy(), b.numpy(), start, rows, code, out.numpy(),
                          accumulate)
    expected = g.double() @ activation_value(activation, hidden).double()
    torch.testing.assert_close(out.double(), expected + (0.5 if accumulate else 0.0),
                               **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_block_matches_log_softmax(dtype):
    n, k = 7, 30
    products = random(n, k, dtype=dtype) * 12.0  # large logits: exp alone would overflow
    products[:, 0] += 80.0
    scale, factor, factor_t = 2.5, 0.25, -3.0  # F = 2.5 · products; c G̃ and h G̃ᵀ written
    outputs = scale * products
    classes = torch.randint(0, n, (k,), generator=torch.Generator().manual_seed(4))
    log_p = torch.log_softmax(outputs, dim=0)
    expected_loss = log_p.gather(0, classes[None]).sum().item()
    expected = torch.softmax(outputs, dim=0)
    expected[classes, torch.arange(k)] -= 1.0

    work = products.clone()
    gradient_t = torch.empty(k, n, dtype=dtype)
    loss = kernels.cross_entropy_block(work.numpy(), classes.numpy(), gradient_t.numpy(),
                                       scale, factor, factor_t)

    assert loss == pytest.approx(expected_loss, rel=1e-6 if dtype == torch.float32 else 1e-13)
    torch.testing.assert_close(work, factor * expected, **tolerance(dtype))
    torch.testing.assert_close(gradient_t, factor_t * expected.T, **tolerance(dtype))


def test_cross_entropy_lets_a_non_finite_output_through():
    outputs = torch.zeros(3, 4)
    outputs[1, 2] = float("nan")
    classes = np.zeros(4, dtype=np.int64)
    loss = kernels.cross_entropy_block(outputs.numpy(), classes, np.empty((4, 3), np.float32),
                                       1.0, 1.0, 1.0)
    assert not np.isfinite(loss)


def test_the_float_exponential_is_within_two_ulp_of_the_exact_one():
    """Every float from −87.3 to 88.7 in steps of about 10⁻⁴ (and the ends), against e^x
    in float64 rounded to float32."""
    values = np.concatenate([np.linspace(-87.33, 88.72, 1_600_001, dtype=np.float32),
                             np.float32([0.0, -1e-30, 1e-30, 88.7228, -87.3365])])
    got = kernels.exponentials(values)
    exact = np.exp(values.astype(np.float64)).astype(np.float32)
    ulp = np.abs(got.view(np.int32).astype(np.int64) - exact.view(np.int32).astype(np.int64))
    assert ulp.max() <= 2
    assert kernels.exponentials(np.float32([0.0]))[0] == 1.0


def test_the_float_exponential_saturates_and_keeps_nan():
    got = kernels.exponentials(np.float32([-88.0, -1e4, -np.inf, 89.0, np.inf, np.nan]))
    np.testing.assert_array_equal(got[:5], np.float32([0, 0, 0, np.inf, np.inf]))
    assert np.isnan(got[5])


@pytest.mark.parametrize("dtype", DTYPES)
def test_squared_error_block_matches_a_direct_sum(dtype):
    products, targets = random(5, 11, dtype=dtype), random(5, 11, dtype=dtype, seed=1)
    scale, factor, factor_t = 0.5, 4.0, -0.25  # powers of two: every product is exact
    expected = scale * products - targets
    gradient_t = torch.empty(11, 5, dtype=dtype)
    loss = kernels.squared_error_block(products.numpy(), targets.numpy(), gradient_t.numpy(),
                                       scale, factor, factor_t)
    assert loss == pytest.approx((expected.double() ** 2).sum().item(), rel=1e-6)
    torch.testing.assert_close(products, factor * expected, rtol=0, atol=0)
    torch.testing.assert_close(gradient_t, factor_t * expected.T, rtol=0, atol=0)


def test_scaled_copies_scale_and_transpose():
    source = random(4, 9, dtype=torch.float32)
    out, out_t = torch.empty(4, 9), torch.empty(9, 4)
    kernels.scaled_copies(source.numpy(), 0.5, -3.0, out.numpy(), out_t.numpy())
    torch.testing.assert_close(out, 0.5 * source, rtol=0, atol=0)
    torch.testing.assert_close(out_t, -3.0 * source.T, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kind, sphere, weight_decay",
    [(Adam, True, 0.0), (Adam, False, 0.0), (Adam, False, 0.1), (AdamW, False, 0.1)],
)
def test_adam_kernel_steps_match_the_pytorch_steps(monkeypatch, dtype, kind, sphere,
                                                   weight_decay):
    start = random(3, 5, 8, dtype=dtype)
    if sphere:
        start /= start.norm(dim=1, keepdim=True)

    def run(use_kernels: bool) -> torch.Tensor:
        monkeypatch.setattr(backend.training.optimisers.kernels, "AVAILABLE", use_kernels)
        optimiser = kind(0.05, 0.9, 0.99, 1e-8, weight_decay=weight_decay, sphere=sphere)
        param = start.clone()
        for step in range(5):
            gradient = random(3, 5, 8, dtype=dtype, seed=10 + step) + param
            optimiser.step(param, gradient)
        return param, optimiser

    with_kernels, optimiser = run(True)
    with_torch, reference = run(False)
    torch.testing.assert_close(with_kernels, with_torch, **tolerance(dtype))
    torch.testing.assert_close(optimiser.first, reference.first, **tolerance(dtype))
    torch.testing.assert_close(optimiser.second, reference.second, **tolerance(dtype))
    if sphere:
        torch.testing.assert_close(with_kernels.norm(dim=1), torch.ones(3, 8, dtype=dtype),
                                   **tolerance(dtype))


def test_adam_kernel_steps_a_zero_dimensional_scale():
    scale, gradient = torch.tensor(0.5), torch.tensor(2.0)
    optimiser = Adam(0.1, 0.9, 0.999, 1e-8)
    optimiser.step(scale, gradient)
    assert float(scale) == pytest.approx(0.4, rel=1e-5)  # the first step moves by η


def test_setup_builds_the_library_once(monkeypatch, tmp_path):
    """``python -m backend.training.kernels`` (run by the setup) compiles the library into the cache
    folder; later calls find it there and compile nothing."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = kernels.build()
    assert path.parent == tmp_path / "irrep-studio" and path.exists()
    built = path.stat().st_mtime_ns
    monkeypatch.setenv("CXX", "/nonexistent/compiler")  # would fail if it compiled again
    assert kernels.build() == path and path.stat().st_mtime_ns == built


def test_a_failed_build_says_which_compiler_failed(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CXX", "false")
    with pytest.raises(RuntimeError, match="false failed to compile step_kernels.cpp"):
        kernels.build()
    assert list((tmp_path / "irrep-studio").iterdir()) == []  # no partial library left


def test_the_kernels_share_pytorchs_openmp_runtime():
    """One OpenMP runtime in the process: the kernels' parallel regions run on PyTorch's
    threads instead of a second pool competing with them."""
    maps = open("/proc/self/maps").read().splitlines()
    runtimes = {line.split()[-1] for line in maps if "libgomp" in line}
    assert len(runtimes) == 1, runtimes


@pytest.mark.parametrize("activation", ["square", "gelu"])
def test_the_parallel_kernels_give_the_same_bits_for_every_thread_count(activation):
    # 130 columns: eight strips of 16 and two last columns; 23 = 3 · 7 + 2 pairs per row
    n, width, rows = 23, 130, 21
    code = kernels.ACTIVATION_CODES[activation]
    a, b = random(n, width, dtype=torch.float32), random(n, width, dtype=torch.float32, seed=1)
    g_t = random(rows * n, n, dtype=torch.float32, seed=2)
    readout = random(n, width, dtype=torch.float32, seed=5)
    param = random(3, n, width, dtype=torch.float32, seed=3)
    param /= param.norm(dim=1, keepdim=True)
    gradient = random(3, n, width, dtype=torch.float32, seed=4)

    def run(thread_count: int) -> list[np.ndarray]:
        previous = torch.get_num_threads()
        torch.set_num_threads(thread_count)
        try:
            forward = np.empty((n, rows * n), np.float32)
            kernels.forward_block(readout.numpy(), a.numpy(), b.numpy(), 1, rows, code, forward)
            readout_sums = np.ones((n, width), np.float32)
            kernels.readout_block(g_t.numpy().T.copy(), a.numpy(), b.numpy(), 1, rows, code,
                                  readout_sums, True)
            first, second = np.empty((rows, width), np.float32), np.ones((n, width), np.float32)
            kernels.hidden_gradient_sums(g_t.numpy(), readout.numpy(), a.numpy(), b.numpy(), 1,
                                         rows, code, first, second, True)
            results = [forward, readout_sums, first, second]
            for sphere in (False, True):
                theta, moments = param.numpy().copy(), [np.full_like(param.numpy(), 0.1)
                                                         for _ in range(2)]
                if sphere:
                    kernels.sphere_adam_step(theta, gradient.numpy(), *moments, 0.01, 0.9,
                                             0.99, 1e-8, 3)
                else:
                    kernels.adam_step(theta.reshape(-1), gradient.numpy().reshape(-1),
                                      *(m.reshape(-1) for m in moments), 0.01, 0.9, 0.99,
                                      1e-8, 3, 0.1, False)
                results += [theta, *moments]
            return results
        finally:
            torch.set_num_threads(previous)

    one = run(1)
    for threads in (2, 3):
        for single, several in zip(one, run(threads), strict=True):
            np.testing.assert_array_equal(single, several)


def test_the_kernels_refuse_mixed_dtypes_and_strided_arrays():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="one dtype"):
        kernels.readout_block(a, np.ones((3, 4)), a, 0, 1, 0, np.empty((3, 4), np.float32),
                              False)
    with pytest.raises(ValueError, match="C-contiguous"):
        kernels.readout_block(a.T, a, a, 0, 1, 0, np.empty((3, 4), np.float32), False)
