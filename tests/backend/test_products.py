"""The step's products on oneDNN against autograd, against ``addmm`` and against
themselves on other thread counts; and the choice of library."""

import pytest
import torch

import backend.training.network
from backend.config import RunConfig
from backend.training.products import (
    AddmmProducts,
    OneDnnProducts,
    onednn_inner_product,
    step_products,
)
from tests.backend.test_network import CASES, make, reference_loss

needs_onednn = pytest.mark.skipif(
    onednn_inner_product() is None, reason="this PyTorch has no oneDNN inner product"
)


def float32_step(config, rows_per_block, tensor_scale, products=None, monkeypatch=None,
                 fused=None):
    """(theta, scale, task, loss, grad, scale grad, outputs) of one float32 step."""
    group, task, network, theta = make(config, dtype=torch.float32, fused=fused)
    if products is not None:
        network.products = products
    if monkeypatch is not None:
        monkeypatch.setattr(
            backend.training.network, "STEP_BLOCK", rows_per_block * group.order * 7)
    scale = torch.linspace(0.5, 1.5, 7) if tensor_scale else 0.7
    grad = torch.full_like(theta, float("nan"))
    outputs = torch.empty(group.order**2, group.order)
    loss, scale_grad = network.loss_and_gradient(theta, scale, grad, outputs_copy=outputs)
    return network, theta, scale, task, loss, grad, scale_grad, outputs


@needs_onednn
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['group']}-{c['activation']}")
@pytest.mark.parametrize("rows_per_block", [1, 2, 99])
@pytest.mark.parametrize("tensor_scale", [False, True])
@pytest.mark.parametrize("fused", [True, False], ids=["kernels", "torch"])
def test_onednn_step_matches_autograd_in_float64(monkeypatch, case, rows_per_block,
                                                 tensor_scale, fused):
    config = RunConfig(width=7, parameterisation="free", optimiser="gd", **case).validate()
    network, theta, scale, task, loss, grad, scale_grad, outputs = float32_step(
        config, rows_per_block, tensor_scale, monkeypatch=monkeypatch, fused=fused
    )
    assert isinstance(network.products, OneDnnProducts)
    assert not grad.isnan().any()
    reference_theta = theta.double().requires_grad_(True)
    reference_scale = scale.double().requires_grad_(True) if tensor_scale else scale
    expected = reference_loss(reference_theta, reference_scale, task, config, task.train_pairs)
    expected.backward()
    assert float(loss) == pytest.approx(expected.item(), rel=2e-6)
    size = reference_theta.grad.abs().max().item()
    torch.testing.assert_close(grad.double(), reference_theta.grad, rtol=1e-4, atol=1e-5 * size)
    if tensor_scale:
        torch.testing.assert_close(scale_grad.double(), reference_scale.grad, rtol=1e-4,
                                   atol=1e-5 * reference_scale.grad.abs().max().item())
    torch.testing.assert_close(outputs, network.outputs(theta, scale), rtol=1e-5, atol=1e-6)


@needs_onednn
@pytest.mark.parametrize("tensor_scale", [False, True])
def test_onednn_forward_of_all_pairs_matches_float64(monkeypatch, tensor_scale):
    config = RunConfig(group="D4", width=7, parameterisation="free", optimiser="gd").validate()
    _, _, network, theta = make(config, dtype=torch.float32)
    _, _, reference, _ = make(config)
    # uneven blocks of rows
    monkeypatch.setattr(backend.training.network, "FORWARD_BLOCK", 3 * 8 * 7)
    assert isinstance(network.products, OneDnnProducts)
    scale = torch.linspace(0.5, 1.5, 7) if tensor_scale else 0.7
    expected = reference.outputs(theta.double(), scale.double() if tensor_scale else scale)
    torch.testing.assert_close(network.outputs(theta, scale).double(), expected, rtol=1e-5,
                               atol=1e-6 * expected.abs().max().item())


@needs_onednn
@pytest.mark.parametrize("rows_per_block", [1, 99])
def test_onednn_and_addmm_agree(monkeypatch, rows_per_block):
    config = RunConfig(group="S3", width=7, parameterisation="free", optimiser="gd").validate()
    results = [
        float32_step(config, rows_per_block, False, products, monkeypatch)
        for products in (AddmmProducts(), step_products(torch.device("cpu"), torch.float32))
    ]
    (*_, loss_a, grad_a, _, out_a), (*_, loss_b, grad_b, _, out_b) = results
    torch.testing.assert_close(loss_a, loss_b, rtol=1e-6, atol=0)
    torch.testing.assert_close(grad_a, grad_b, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(out_a, out_b, rtol=1e-6, atol=1e-7)


@needs_onednn
def test_onednn_step_gives_the_same_bits_on_one_thread_and_two(monkeypatch, two_threads):
    """Lanes at once on two threads, and one after the other on one thread."""
    from backend.training.lanes import parallel_lanes

    config = RunConfig(group="A4", width=40, parameterisation="sphere",
                       loss="cross_entropy").validate()
    group, task, network, theta = make(config, dtype=torch.float32)
    monkeypatch.setattr(backend.training.network, "STEP_BLOCK", 3 * group.order * 40)
    assert network.uses_lanes(40)
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        grad = torch.empty_like(theta)
        with parallel_lanes():
            loss, _ = network.loss_and_gradient(theta, 0.05, grad)
        results.append((loss, grad))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


def test_the_library_follows_device_and_dtype_alone():
    cpu = torch.device("cpu")
    assert isinstance(step_products(cpu, torch.float64), AddmmProducts)
    assert isinstance(step_products(cpu, torch.float32, prefer_onednn=False), AddmmProducts)
    expected = AddmmProducts if onednn_inner_product() is None else OneDnnProducts
    assert isinstance(step_products(cpu, torch.float32), expected)


def test_without_onednn_the_step_falls_back_to_addmm(monkeypatch):
    import backend.training.products

    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: False)
    assert onednn_inner_product.__wrapped__() is None
    monkeypatch.setattr(backend.training.products, "onednn_inner_product", lambda: None)
    assert isinstance(step_products(torch.device("cpu"), torch.float32), AddmmProducts)
    config = RunConfig(group="S3", width=7, parameterisation="free", optimiser="gd").validate()
    network, theta, scale, task, loss, grad, _, _ = float32_step(config, 99, False)
    assert isinstance(network.products, AddmmProducts)
    expected = reference_loss(theta.double(), scale, task, config, task.train_pairs)
    assert float(loss) == pytest.approx(expected.item(), rel=2e-6)
