"""The hand-written forward and backward passes against an independent autograd model
that multiplies the full n² × 2n input matrix, and against finite differences."""

import itertools

import numpy as np
import pytest
import torch

from backend.config import RunConfig
from backend.groups import fourier_transform_of, irreps_of, parse_group
from backend.task import build_task
from backend.training.network import CompositionNetwork, activation_derivative, initial_parameters


def make(config: RunConfig, dtype: torch.dtype = torch.float64, fused: bool | None = None):
    """(group, task, network, theta); ``fused`` chooses the step's fused kernels or its
    PyTorch code (the code that runs on a GPU), None the default."""
    group = parse_group(config.group)
    irreps = irreps_of(group)
    task = build_task(config, group, irreps, fourier_transform_of(irreps))
    network = CompositionNetwork(
        task,
        activation=config.activation,
        loss=config.loss,
        shared_embedding=config.shared_embedding,
        device=torch.device("cpu"),
        dtype=dtype,
        fused_kernels=fused,
    )
    assert fused is None or network.fused == fused
    theta = initial_parameters(
        order=group.order,
        width=config.width,
        shared_embedding=config.shared_embedding,
        parameterisation="free",
        init_scale=1.0,
        seed=3,
        dtype=dtype,
    )
    return group, task, network, theta


def reference_loss(theta, scale, task, config, pairs):
    """Straightforward model: concatenated inputs [x_g1, x_g2] times [θ¹; θ²]."""
    n = task.order
    x = torch.tensor(task.encoding)
    first = torch.tensor(pairs // n)
    second = torch.tensor(pairs % n)
    inputs = torch.cat([x[first], x[second]], dim=1)  # (P, 2n)
    w1 = theta[0]
    w2 = theta[0] if config.shared_embedding else theta[1]
    hidden = inputs @ torch.cat([w1, w2], dim=0)
    activations = {
        "square": lambda h: h**2,
        "relu": torch.relu,
        "abs": torch.abs,
        "gelu": torch.nn.functional.gelu,
        "tanh": torch.tanh,
        "identity": lambda h: h,
    }
    s = activations[config.activation](hidden)
    readout = theta[-1] * scale if isinstance(scale, torch.Tensor) else theta[-1]
    f = s @ readout.T
    if not isinstance(scale, torch.Tensor):
        f = f * scale
    classes = torch.tensor(task.table.reshape(-1)[pairs])
    if config.loss == "mse":
        return torch.mean((f - x[classes]) ** 2)
    return torch.nn.functional.cross_entropy(f, classes)


def assert_matches_autograd(theta, scale, task, config, loss, grad, scale_grad) -> None:
    """The loss and gradients of the hand-written pass equal autograd's on the
    concatenated-input model over the training pairs."""
    tensor_scale = isinstance(scale, torch.Tensor)
    reference_theta = theta.clone().requires_grad_(True)
    reference_scale = scale.clone().requires_grad_(True) if tensor_scale else scale
    expected = reference_loss(reference_theta, reference_scale, task, config, task.train_pairs)
    expected.backward()
    assert float(loss) == pytest.approx(expected.item(), rel=1e-12)
    torch.testing.assert_close(grad, reference_theta.grad, rtol=1e-10, atol=1e-12)
    if tensor_scale:
        torch.testing.assert_close(scale_grad, reference_scale.grad, rtol=1e-10, atol=1e-12)


CASES = [
    dict(group="C5", encoding="onehot", loss="cross_entropy", activation="square"),
    dict(group="D3", encoding="onehot", loss="mse", activation="relu"),
    dict(group="C6", encoding="random_fourier", loss="mse", activation="gelu"),
    dict(group="S3", encoding="gaussian", loss="mse", activation="tanh"),
    dict(group="C4", encoding="onehot", loss="cross_entropy", activation="abs",
         shared_embedding=True),
    dict(group="C7", encoding="template", template_powers=[1.0, 2.0, 0.5], loss="mse",
         activation="identity", shared_embedding=True),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['group']}-{c['activation']}")
@pytest.mark.parametrize("split", [1.0, 0.6])
@pytest.mark.parametrize("tensor_scale", [False, True])
@pytest.mark.parametrize("fused", [True, False], ids=["kernels", "torch"])
def test_gradient_matches_autograd_of_concatenated_model(case, split, tensor_scale, fused):
    config = RunConfig(width=7, parameterisation="free", optimiser="gd", train_fraction=split,
                       **case).validate()
    group, task, network, theta = make(config, fused=fused)
    scale = torch.linspace(0.5, 1.5, 7, dtype=torch.float64) if tensor_scale else 0.7
    grad = torch.zeros_like(theta)
    loss, scale_grad = network.loss_and_gradient(theta, scale, grad)

    assert_matches_autograd(theta, scale, task, config, loss, grad, scale_grad)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['group']}-{c['activation']}")
@pytest.mark.parametrize("rows_per_block", [1, 2])
@pytest.mark.parametrize("tensor_scale", [False, True])
@pytest.mark.parametrize("fused", [True, False], ids=["kernels", "torch"])
def test_blocked_step_matches_autograd(monkeypatch, case, rows_per_block, tensor_scale, fused):
    import backend.training.network

    config = RunConfig(width=7, parameterisation="free", optimiser="gd", **case).validate()
    group, task, network, theta = make(config, fused=fused)
    # blocks of 1 or 2 rows g1 (uneven for odd orders) instead of all n at once, in lanes
    monkeypatch.setattr(backend.training.network, "STEP_BLOCK", rows_per_block * group.order * 7)
    assert network._step_block_rows(7) == rows_per_block
    assert network.uses_lanes(7) == task.uses_all_pairs
    scale = torch.linspace(0.5, 1.5, 7, dtype=torch.float64) if tensor_scale else 0.7
    grad = torch.full_like(theta, float("nan"))  # every entry must be written
    outputs = torch.empty(group.order**2, group.order, dtype=theta.dtype)
    loss, scale_grad = network.loss_and_gradient(theta, scale, grad, outputs_copy=outputs)

    assert_matches_autograd(theta, scale, task, config, loss, grad, scale_grad)
    torch.testing.assert_close(outputs, network.outputs(theta, scale), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES[:3], ids=lambda c: f"{c['group']}-{c['activation']}")
@pytest.mark.parametrize("need_theta_grad", [True, False])
def test_lanes_at_once_give_the_same_bits_as_one_after_the_other(
    monkeypatch, two_threads, case, need_theta_grad
):
    import backend.training.network
    from backend.training.lanes import parallel_lanes

    config = RunConfig(width=7, parameterisation="free", optimiser="gd", **case).validate()
    group, task, network, theta = make(config)
    monkeypatch.setattr(backend.training.network, "STEP_BLOCK", group.order * 7)  # a row a block
    results = []
    for at_once in (False, True):
        grad = torch.full_like(theta, float("nan"))
        with parallel_lanes(at_once):
            loss, _ = network.loss_and_gradient(theta, 0.7, grad, need_theta_grad=need_theta_grad)
        results.append((loss, grad))
    (serial_loss, serial_grad), (parallel_loss, parallel_grad) = results
    assert torch.equal(serial_loss, parallel_loss)
    assert torch.equal(serial_grad.nan_to_num(), parallel_grad.nan_to_num())
    assert torch.get_num_threads() == 2


def test_fused_step_is_kept_for_the_same_tensors_and_rebuilt_for_new_ones():
    config = RunConfig(group="S3", width=6, parameterisation="sphere", loss="cross_entropy",
                       encoding="onehot").validate()
    group, task, network, theta = make(config, fused=True)
    grad = torch.zeros_like(theta)
    first_loss, _ = network.loss_and_gradient(theta, 0.5, grad)
    step = network._fused_step
    assert step is not None and step.matches(theta, grad)
    first_grad = grad.clone()
    again_loss, _ = network.loss_and_gradient(theta, 0.5, grad)
    assert network._fused_step is step
    assert torch.equal(again_loss, first_loss) and torch.equal(grad, first_grad)
    moved, moved_grad = theta.clone() * 2.0, torch.zeros_like(grad)
    network.loss_and_gradient(moved, 0.5, moved_grad)
    assert network._fused_step is not step and network._fused_step.matches(moved, moved_grad)
    reference = torch.zeros_like(grad)
    make(config, fused=False)[2].loss_and_gradient(moved, 0.5, reference)
    torch.testing.assert_close(moved_grad, reference, rtol=1e-10, atol=1e-12)


def test_minibatch_gradient_matches_autograd():
    config = RunConfig(group="D4", width=5, parameterisation="free", loss="mse",
                       encoding="onehot").validate()
    group, task, network, theta = make(config)
    pairs = torch.tensor([3, 17, 17, 40, 63, 0])
    grad = torch.zeros_like(theta)
    loss, _ = network.loss_and_gradient(theta, 1.3, grad, pairs)
    reference = theta.clone().requires_grad_(True)
    expected = reference_loss(reference, 1.3, task, config, pairs.numpy())
    expected.backward()
    assert float(loss) == pytest.approx(expected.item(), rel=1e-12)
    torch.testing.assert_close(grad, reference.grad, rtol=1e-10, atol=1e-12)


def test_gradient_matches_finite_differences():
    config = RunConfig(group="C3", width=2, parameterisation="free", loss="mse",
                       encoding="random_fourier").validate()
    group, task, network, theta = make(config)
    grad = torch.zeros_like(theta)
    network.loss_and_gradient(theta, 1.0, grad)
    step = 1e-6
    for index in itertools.product(*(range(s) for s in theta.shape)):
        plus, minus = theta.clone(), theta.clone()
        plus[index] += step
        minus[index] -= step
        pairs = torch.tensor(task.train_pairs)
        numeric = (
            network.loss_of_outputs(network.outputs(plus, 1.0), pairs)
            - network.loss_of_outputs(network.outputs(minus, 1.0), pairs)
        ) / (2 * step)
        assert float(grad[index]) == pytest.approx(float(numeric), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("name", ["square", "relu", "abs", "gelu", "tanh", "identity"])
def test_activation_derivatives_match_autograd(name):
    from backend.training.network import activation_value

    h = torch.linspace(-2.3, 2.1, 41, dtype=torch.float64).requires_grad_(True)
    activation_value(name, h).sum().backward()
    torch.testing.assert_close(activation_derivative(name, h.detach()), h.grad)


def test_outputs_agree_with_direct_sum_over_neurons():
    config = RunConfig(group="C4xC2", width=4, parameterisation="free", loss="mse",
                       encoding="gaussian").validate()
    group, task, network, theta = make(config)
    outputs = network.outputs(theta, 0.5).numpy()
    x = task.encoding
    t = theta.numpy()
    n = group.order
    for g1, g2 in [(0, 0), (1, 5), (7, 3)]:
        direct = sum(
            0.5 * t[2][:, m] * (x[g1] @ t[0][:, m] + x[g2] @ t[1][:, m]) ** 2 for m in range(4)
        )
        np.testing.assert_allclose(outputs[g1 * n + g2], direct, rtol=1e-12)


@pytest.mark.parametrize("rows_per_block", [1, 4, 6])
@pytest.mark.parametrize("tensor_scale", [False, True])
def test_blocked_forward_of_all_pairs_matches_the_forward_of_listed_pairs(
    monkeypatch, rows_per_block, tensor_scale
):
    import backend.training.network

    config = RunConfig(group="S3", width=5, parameterisation="free", loss="mse",
                       encoding="gaussian", activation="gelu").validate()
    group, task, network, theta = make(config)
    n = group.order
    # blocks of 1, 4 + 2 (uneven) and 6 (one block) rows g1
    monkeypatch.setattr(backend.training.network, "FORWARD_BLOCK", rows_per_block * n * 5)
    scale = torch.linspace(0.5, 1.5, 5, dtype=torch.float64) if tensor_scale else 0.7
    blocked = network.outputs(theta, scale)
    listed = network.outputs(theta, scale, torch.arange(n * n))
    torch.testing.assert_close(blocked, listed, rtol=1e-12, atol=1e-14)


def test_free_initialisation_has_the_stated_variances():
    theta = initial_parameters(order=50, width=4000, shared_embedding=False,
                               parameterisation="free", init_scale=0.01, seed=0,
                               dtype=torch.float64)
    assert float(theta[0].var()) == pytest.approx(0.01**2 / 100, rel=0.03)
    assert float(theta[2].var()) == pytest.approx(0.01**2 / 50, rel=0.03)
    sphere = initial_parameters(order=9, width=30, shared_embedding=True,
                                parameterisation="sphere", init_scale=0.01, seed=0,
                                dtype=torch.float64)
    assert sphere.shape == (2, 9, 30)
    torch.testing.assert_close(sphere.norm(dim=1), torch.ones(2, 30, dtype=torch.float64))
