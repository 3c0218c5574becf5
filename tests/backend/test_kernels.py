"""The fused CPU kernels against the PyTorch code they replace, and the optimisers' kernel
steps against their PyTorch steps."""

import numpy as np
import pytest
import torch

import backend.optimisers
from backend import kernels
from backend.network import activation_derivative, activation_value
from backend.optimisers import Adam, AdamW

pytestmark = pytest.mark.skipif(not kernels.AVAILABLE, reason="Numba is not installed")

DTYPES = [torch.float32, torch.float64]


def tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12,
                                                                        "atol": 1e-12}


def random(*shape, dtype, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", sorted(kernels.ACTIVATION_CODES))
@pytest.mark.parametrize("accumulate", [False, True])
def test_pair_kernels_match_the_passes_they_replace(dtype, activation, accumulate):
    n, width, start, rows = 6, 37, 2, 3  # rows 2–4 of 6, an odd width
    a, b = random(n, width, dtype=dtype), random(n, width, dtype=dtype, seed=1)
    code = kernels.ACTIVATION_CODES[activation]
    hidden = (a[start : start + rows, None, :] + b[None]).reshape(-1, width)

    activated = torch.full((rows * n, width), float("nan"), dtype=dtype)
    kernels.activate_pairs(a.numpy(), b.numpy(), start, rows, code, activated.numpy())
    torch.testing.assert_close(activated, activation_value(activation, hidden),
                               **tolerance(dtype))

    d = random(rows * n, width, dtype=dtype, seed=2)
    first = torch.full((rows, width), float("nan"), dtype=dtype)
    second = torch.full((n, width), 0.25, dtype=dtype)
    kernels.pair_gradient_sums(d.numpy(), a.numpy(), b.numpy(), start, rows, code,
                               first.numpy(), second.numpy(), accumulate)
    derivative = hidden if activation == "square" else activation_derivative(activation, hidden)
    e = (d * derivative).view(rows, n, width)
    torch.testing.assert_close(first, e.sum(1), **tolerance(dtype))
    torch.testing.assert_close(second, e.sum(0) + (0.25 if accumulate else 0.0),
                               **tolerance(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_halves_match_log_softmax(dtype):
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
    loss = kernels.shift_by_maximum(work.numpy(), classes.numpy(), scale)
    work.exp_()
    loss += kernels.softmax_gradient(work.numpy(), classes.numpy(), gradient_t.numpy(),
                                     factor, factor_t)

    assert loss == pytest.approx(expected_loss, rel=1e-6 if dtype == torch.float32 else 1e-13)
    torch.testing.assert_close(work, factor * expected, **tolerance(dtype))
    torch.testing.assert_close(gradient_t, factor_t * expected.T, **tolerance(dtype))


def test_cross_entropy_lets_a_non_finite_output_through():
    outputs = torch.zeros(3, 4)
    outputs[1, 2] = float("nan")
    classes = np.zeros(4, dtype=np.int64)
    loss = kernels.shift_by_maximum(outputs.numpy(), classes, 1.0)
    outputs.exp_()
    loss += kernels.softmax_gradient(outputs.numpy(), classes, np.empty((4, 3), np.float32),
                                     1.0, 1.0)
    assert not np.isfinite(loss)


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
        monkeypatch.setattr(backend.optimisers.kernels, "AVAILABLE", use_kernels)
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


def test_setup_compiles_every_kernel_for_both_dtypes():
    """``python -m backend.kernels`` (run by the setup, which ignores its failure) compiles
    a signature of every kernel for float32 and for float64."""
    kernels.compile_all()
    for name in ("activate_pairs", "pair_gradient_sums", "shift_by_maximum",
                 "softmax_gradient", "squared_error_block", "scaled_copies", "adam_step",
                 "sphere_adam_step"):
        dtypes = {str(signature[0].dtype) for signature in getattr(kernels, name).signatures}
        assert {"float32", "float64"} <= dtypes, name
