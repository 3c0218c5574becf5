"""Fused CPU kernels for the elementwise work of a training step, compiled by Numba.

Between its matrix products, a step of the all-pairs network makes several passes over
blocks of n·rows × M values: it forms H = A[g1] + B[g2], applies σ, multiplies the hidden
gradient by σ'(H) and sums it over g2 and over g1. Each PyTorch call is one pass, and most
of these calls write a whole block. The kernels here do that work in two passes per
block and never store H:

    activate_pairs:       S[(i, j), m] = σ(A[s+i, m] + B[j, m])
    pair_gradient_sums:   e = D[(i, j), m] · σ'(A[s+i, m] + B[j, m]),
                          ∂A[s+i, m] = Σ_j e,   ∂B[j, m] (+)= Σ_i e

with D = ∂L/∂σ(H) from the product G̃ᵀ ξ. ``squared_error_block`` turns a block's
outputs into its loss and gradient G̃ (and G̃ᵀ) in one call; ``shift_by_maximum`` and
``softmax_gradient`` do the same for cross-entropy, around NumPy's vectorised exp.
These three also apply the step's scalar factors (the output scale to F, the loss
factors to G̃ and G̃ᵀ), so that the products need no scaled copies of ξ.
``adam_step`` and ``sphere_adam_step`` take a whole Adam step in one call, on the sphere
with its projection and retraction; ``scaled_copies`` makes the products' scaled readouts.

Every kernel runs on one thread, releases the GIL (so that the step's two lanes can run
them at once) and sums in a fixed order: the same input gives the same bits on every run
and for every thread count. They are compiled on first use, for each dtype, and cached
on disk (``cache=True``). Without Numba, ``AVAILABLE`` is False and the network and the
optimisers use their PyTorch code instead.
"""

from __future__ import annotations

import math

import numpy as np

try:
    import numba
except ImportError:  # pragma: no cover - numba is a dependency; this keeps a fallback
    numba = None

AVAILABLE = numba is not None
"""Whether the kernels can be used (Numba imports)."""

ACTIVATION_CODES = {"square": 0, "relu": 1, "abs": 2, "identity": 3, "tanh": 4, "gelu": 5}
"""The activations the kernels know, by the integer code they take."""

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _jit(function):
    """Compiled without the GIL, cached on disk; fastmath only allows reassociation and
    contraction (non-finite values still propagate, which divergence checks rely on)."""
    if numba is None:
        return function
    return numba.njit(
        nogil=True, cache=True, boundscheck=False, error_model="numpy",
        fastmath={"reassoc", "contract", "nsz"},
    )(function)


def _inline(function):
    if numba is None:
        return function
    return numba.njit(inline="always", cache=True)(function)


@_inline
def _activation(h, code):
    """σ(h) for the activation ``code`` (see ACTIVATION_CODES)."""
    if code == 0:
        return h * h
    if code == 1:
        return max(h, 0)
    if code == 2:
        return abs(h)
    if code == 3:
        return h
    if code == 4:
        return math.tanh(h)
    return 0.5 * h * (1.0 + math.erf(h * _SQRT_HALF))


@_inline
def _derivative(h, code):
    """σ'(h), except for σ = z² where it is h (the 2 rides in the product's factor)."""
    if code == 0:
        return h
    if code == 1:
        return 1 if h > 0 else 0
    if code == 2:
        return 1 if h > 0 else (-1 if h < 0 else 0)
    if code == 3:
        return 1
    if code == 4:
        t = math.tanh(h)
        return 1 - t * t
    return 0.5 * (1.0 + math.erf(h * _SQRT_HALF)) + h * math.exp(-0.5 * h * h) * _INV_SQRT_2PI


@_inline
def _activate_rows(a, b, start, rows, code, out):
    n, width = b.shape
    for i in range(rows):
        for j in range(n):
            row = i * n + j
            for m in range(width):
                out[row, m] = _activation(a[start + i, m] + b[j, m], code)


@_jit
def activate_pairs(a, b, start, rows, code, out):
    """out[i·n + j, m] = σ(a[start + i, m] + b[j, m]) for i < rows and every j < n."""
    # one call per activation with a constant code, so that each loop is compiled for
    # its own σ (a code read inside the loop would keep it from being vectorised)
    if code == 0:
        _activate_rows(a, b, start, rows, 0, out)
    elif code == 1:
        _activate_rows(a, b, start, rows, 1, out)
    elif code == 2:
        _activate_rows(a, b, start, rows, 2, out)
    elif code == 3:
        _activate_rows(a, b, start, rows, 3, out)
    elif code == 4:
        _activate_rows(a, b, start, rows, 4, out)
    else:
        _activate_rows(a, b, start, rows, 5, out)


@_inline
def _sum_rows(d, a, b, start, rows, code, out_first, out_second):
    n, width = b.shape
    for i in range(rows):
        first = out_first[i]
        first[:] = 0
        for j in range(n):
            row = i * n + j
            second = out_second[j]
            for m in range(width):
                e = d[row, m] * _derivative(a[start + i, m] + b[j, m], code)
                first[m] += e
                second[m] += e


@_jit
def pair_gradient_sums(d, a, b, start, rows, code, out_first, out_second, accumulate):
    """With e = d[i·n + j, m] σ'(a[start + i, m] + b[j, m]) (σ' as in ``_derivative``):
    out_first[i, m] = Σ_j e for i < rows, and out_second[j, m] = Σ_i e, added to what is
    there when ``accumulate``."""
    if not accumulate:
        out_second[:, :] = 0
    if code == 0:  # a constant code per call, as in activate_pairs
        _sum_rows(d, a, b, start, rows, 0, out_first, out_second)
    elif code == 1:
        _sum_rows(d, a, b, start, rows, 1, out_first, out_second)
    elif code == 2:
        _sum_rows(d, a, b, start, rows, 2, out_first, out_second)
    elif code == 3:
        _sum_rows(d, a, b, start, rows, 3, out_first, out_second)
    elif code == 4:
        _sum_rows(d, a, b, start, rows, 4, out_first, out_second)
    else:
        _sum_rows(d, a, b, start, rows, 5, out_first, out_second)


@_jit
def shift_by_maximum(outputs, classes, scale):
    """For the products ξ Sᵀ (n × k) of a block and the classes y of its k pairs: writes
    F − max F over them for every pair p, with F = ``scale`` · ξ Sᵀ (the first half of
    ``softmax_gradient``); returns Σ_p (F_p[y_p] − max F_p) (summed in float64)."""
    n, k = outputs.shape
    alpha = outputs.dtype.type(scale)
    top = np.empty(k, dtype=outputs.dtype)
    for p in range(k):
        top[p] = alpha * outputs[0, p]
    for c in range(1, n):
        for p in range(k):
            top[p] = max(top[p], alpha * outputs[c, p])
    loss = 0.0
    for p in range(k):
        loss += alpha * outputs[classes[p], p] - top[p]
    for c in range(n):
        for p in range(k):
            outputs[c, p] = alpha * outputs[c, p] - top[p]
    return loss


@_jit
def softmax_gradient(exponentials, classes, gradient_t, factor, factor_t):
    """The second half of the cross-entropy of a block: from E = exp(F − max F) (n × k),
    writes ``factor`` · G̃ over E and ``factor_t`` · G̃ᵀ into ``gradient_t`` (k × n), where
    G̃ = softmax(F) − Y; returns −Σ_p log Σ_c E[c, p], which completes
    Σ_p log softmax(F_p)[y_p]. (The exponentials are left to NumPy's vectorised exp
    between the two halves.)"""
    n, k = exponentials.shape
    scale = exponentials.dtype.type(factor)
    scale_t = exponentials.dtype.type(factor_t)
    unit, zero = exponentials.dtype.type(1), exponentials.dtype.type(0)
    inverse = exponentials[0].copy()
    for c in range(1, n):
        for p in range(k):
            inverse[p] += exponentials[c, p]
    loss = 0.0
    for p in range(k):
        loss -= math.log(inverse[p])
        inverse[p] = 1 / inverse[p]
    for c in range(n):
        for p in range(k):
            exponentials[c, p] = exponentials[c, p] * inverse[p] - (
                unit if classes[p] == c else zero
            )
    # the transposed copy in bands of 16 pairs, whose rows of G̃ stay in cache
    for band in range(0, k, 16):
        for p in range(band, min(k, band + 16)):
            for c in range(n):
                gradient_t[p, c] = scale_t * exponentials[c, p]
    for c in range(n):
        for p in range(k):
            exponentials[c, p] *= scale
    return loss


@_jit
def squared_error_block(outputs, targets, gradient_t, scale, factor, factor_t):
    """For the products ξ Sᵀ (n × k) of a block and its targets Yᵀ: with F = ``scale`` ·
    ξ Sᵀ and G̃ = F − Y, writes ``factor`` · G̃ over ``outputs`` and ``factor_t`` · G̃ᵀ into
    ``gradient_t`` (k × n); returns Σ (F − Y)² (summed in float64)."""
    n, k = outputs.shape
    alpha = outputs.dtype.type(scale)
    factor = outputs.dtype.type(factor)
    factor_t = outputs.dtype.type(factor_t)
    loss = 0.0
    for c in range(n):
        for p in range(k):
            r = alpha * outputs[c, p] - targets[c, p]
            outputs[c, p] = factor * r
            gradient_t[p, c] = factor_t * r
            loss += r * r
    return loss


@_jit
def adam_step(param, grad, first, second, learning_rate, beta1, beta2, eps, step,
              weight_decay, decoupled):
    """One Adam step over flat arrays: g ← g + λθ (``decoupled``: θ ← (1 − ηλ)θ instead),
    m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − η m̂/(√v̂ + ε)."""
    root_c2 = math.sqrt(1.0 - beta2**step)
    size = param.dtype.type(learning_rate * root_c2 / (1.0 - beta1**step))
    guard = param.dtype.type(eps * root_c2)
    b1, b2 = param.dtype.type(beta1), param.dtype.type(beta2)
    rest1, rest2 = param.dtype.type(1.0 - beta1), param.dtype.type(1.0 - beta2)
    shrink = param.dtype.type(1.0 - learning_rate * weight_decay if decoupled else 1.0)
    decay = param.dtype.type(0.0 if decoupled else weight_decay)
    for index in range(param.size):
        theta = param[index] * shrink
        g = grad[index] + decay * param[index]
        m = b1 * first[index] + rest1 * g
        v = b2 * second[index] + rest2 * g * g
        first[index] = m
        second[index] = v
        param[index] = theta - size * m / (math.sqrt(v) + guard)


@_jit
def sphere_adam_step(param, grad, first, second, learning_rate, beta1, beta2, eps, step):
    """One projected Adam step on the spheres of the columns of ``param`` (L × n × M, unit
    columns ν along n): g ← g − ⟨g, ν⟩ν, the Adam step of
    ``adam_step``, then ν ← ν/‖ν‖."""
    layers, n, width = param.shape
    root_c2 = math.sqrt(1.0 - beta2**step)
    size = param.dtype.type(learning_rate * root_c2 / (1.0 - beta1**step))
    guard = param.dtype.type(eps * root_c2)
    b1, b2 = param.dtype.type(beta1), param.dtype.type(beta2)
    rest1, rest2 = param.dtype.type(1.0 - beta1), param.dtype.type(1.0 - beta2)
    dots = np.empty(width, dtype=param.dtype)
    for layer in range(layers):
        theta, g = param[layer], grad[layer]
        m, v = first[layer], second[layer]
        dots[:] = 0
        for i in range(n):
            for column in range(width):
                dots[column] += g[i, column] * theta[i, column]
        for i in range(n):
            for column in range(width):
                tangent = g[i, column] - dots[column] * theta[i, column]
                moment = b1 * m[i, column] + rest1 * tangent
                square = b2 * v[i, column] + rest2 * tangent * tangent
                m[i, column] = moment
                v[i, column] = square
                theta[i, column] -= size * moment / (math.sqrt(square) + guard)
        dots[:] = 0
        for i in range(n):
            for column in range(width):
                dots[column] += theta[i, column] * theta[i, column]
        for column in range(width):
            dots[column] = 1 / math.sqrt(dots[column])
        for i in range(n):
            for column in range(width):
                theta[i, column] *= dots[column]


@_jit
def scaled_copies(source, factor, factor_t, out, out_t):
    """out = factor · source and out_t = factor_t · sourceᵀ in one pass (source n × M)."""
    scale = source.dtype.type(factor)
    scale_t = source.dtype.type(factor_t)
    rows, columns = source.shape
    for i in range(rows):
        for j in range(columns):
            value = source[i, j]
            out[i, j] = scale * value
            out_t[j, i] = scale_t * value


def compile_all() -> None:
    """Compile every kernel for float32 and float64 (and cache them on disk), so that the
    first training step does not wait for the compiler."""
    if numba is None:
        return
    for dtype in (np.float32, np.float64):
        a, b = np.ones((2, 3), dtype), np.ones((2, 3), dtype)
        block = np.ones((4, 3), dtype)
        for code in ACTIVATION_CODES.values():
            activate_pairs(a, b, 0, 2, code, block)
            pair_gradient_sums(block, a, b, 0, 2, code, np.ones((2, 3), dtype), b.copy(), True)
        outputs, classes, gradient_t = np.ones((2, 4), dtype), np.zeros(4, np.int64), block[:, :2]
        shift_by_maximum(outputs, classes, 1.0)
        softmax_gradient(outputs, classes, np.ascontiguousarray(gradient_t), 1.0, 1.0)
        squared_error_block(outputs, outputs.copy(), np.ones((4, 2), dtype), 1.0, 1.0, 1.0)
        scaled_copies(a, 1.0, 1.0, a.copy(), np.ones((3, 2), dtype))
        param = np.ones((3, 2, 3), dtype)
        sphere_adam_step(param, param.copy(), param.copy(), param.copy(), 0.1, 0.9, 0.9, 1e-8, 1)
        flat = param.reshape(-1)
        adam_step(flat, flat.copy(), flat.copy(), flat.copy(), 0.1, 0.9, 0.9, 1e-8, 1, 0.0, False)


if __name__ == "__main__":
    compile_all()
