"""Fused CPU kernels for the training step (``step_kernels.cpp``).

A step of the all-pairs network computes, for blocks of k = rows·n pairs (i, j),

    S = σ(H), H[(i, j), m] = A[s+i, m] + B[j, m]     (k × M)
    F = ξ Sᵀ,  ∂L/∂ξ = G̃ S,  ∂L/∂H = (G̃ᵀ ξ) ⊙ σ'(H)

and sums ∂L/∂H over j and over i for ∂A and ∂B. Written as PyTorch calls, S, H and
∂L/∂H are stored (k × M values each, written and read back every step). The kernels here
fuse each product with the elementwise work around it and store none of them:

    forward_block:         F[c, (i, j)] = Σ_m ξ[c, m] σ(A[s+i, m] + B[j, m])
    readout_block:         ∂ξ[c, m] (+)= Σ_(i,j) G̃[c, (i, j)] σ(A[s+i, m] + B[j, m])
    hidden_gradient_sums:  e = (G̃ᵀ ξ)[(i, j), m] · σ'(A[s+i, m] + B[j, m]),
                           ∂A[s+i, m] = Σ_j e,   ∂B[j, m] (+)= Σ_i e

Each keeps a tile of its results in registers and forms σ(H) again from A and B, which
stay in cache, for every tile that needs it: a few additions and multiplications per
fused multiply-add saved from memory traffic. The forward takes B transposed
(``transpose_padded``, once per step), so that its vector lanes run over j.
``squared_error_block`` turns a block's outputs into its loss and gradient G̃ (and G̃ᵀ) in
one call; ``cross_entropy_block`` does the same for cross-entropy. These two also apply
the step's scalar factors (the output scale to F, the loss factors to G̃ and G̃ᵀ), so that
no product needs a scaled copy of ξ.
``adam_step`` and ``sphere_adam_step`` take a whole Adam step in one call, on the sphere
with its projection and retraction; ``first_argmax_hits`` counts a block's pairs whose
class is the first maximum of their scores (the step's training accuracy);
``scaled_copies`` makes the scaled readouts of the
PyTorch path's oneDNN products.

The kernels are C++, compiled for this machine's CPU the first time they are needed (a
few seconds; the setup does it with ``python -m backend.training.kernels``) into a cache folder,
and called through ctypes, which releases the GIL, so the step's two lanes run them at
once. The products and the Adam steps run on PyTorch's threads
(``torch.get_num_threads()``): the library shares PyTorch's OpenMP runtime, whose
threads stay awake for a while after each parallel region, so the next one starts at
once. Each result is the same bits for every thread count (the C++ file says how).
Without a C++ compiler, or if the build fails, ``AVAILABLE`` is False,
``UNAVAILABLE_REASON`` says why, and the network and the optimisers use their PyTorch code
instead.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch  # first: the library must find PyTorch's OpenMP runtime already loaded

ACTIVATION_CODES = {"square": 0, "relu": 1, "abs": 2, "identity": 3, "tanh": 4, "gelu": 5}
"""The activations the kernels know, by the integer code they take."""

SOURCE = Path(__file__).with_name("step_kernels.cpp")
FLAGS = (
    "-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=c++20",
    # no contraction or reassociation (the same bits for every thread count, see the
    # source); non-finite values propagate, which the divergence checks rely on
    "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off",
)

_POINTER, _INT, _INDEX, _REAL = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_double
_SIGNATURES = {  # name: (argument types, result type)
    "transpose_padded": ([_POINTER] + [_INDEX] * 3 + [_POINTER], None),
    "forward_lanes": ([], _INDEX),
    "forward_block": ([_POINTER] * 3 + [_INDEX] * 5 + [_INT, _POINTER, _INT], None),
    "readout_block": ([_POINTER] * 3 + [_INDEX] * 4 + [_INT, _POINTER, _INT, _INT], None),
    "hidden_gradient_sums": ([_POINTER] * 4 + [_INDEX] * 4 + [_INT, _POINTER, _POINTER, _INT,
                                                             _INT], None),
    "cross_entropy_block": ([_POINTER] * 3 + [_INDEX] * 2 + [_REAL] * 3, _REAL),
    "exponentials": ([_POINTER, _INDEX, _POINTER], None),
    "squared_error_block": ([_POINTER] * 3 + [_INDEX] * 2 + [_REAL] * 3, _REAL),
    "first_argmax_hits": ([_POINTER] * 2 + [_INDEX] * 2 + [_REAL], _INDEX),
    "adam_step": ([_POINTER] * 4 + [_INDEX] + [_REAL] * 4 + [_INDEX, _REAL, _INT, _INT], None),
    "sphere_adam_step": ([_POINTER] * 4 + [_INDEX] * 3 + [_REAL] * 4 + [_INDEX, _INT], None),
    "scaled_copies": ([_POINTER, _INDEX, _INDEX, _REAL, _REAL, _POINTER, _POINTER], None),
}


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "irrep-studio"


def _machine() -> str:
    """What ``-march=native`` depends on: the architecture and the CPU's model and flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = [line for line in lines if line.startswith(("model name", "flags"))][:2]
    except OSError:
        cpu = [platform.processor()]
    return "\n".join([platform.machine(), *cpu])


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def library_path() -> Path:
    """Where the compiled library of this source, compiler flags and CPU is kept."""
    key = hashlib.sha256(
        b"\0".join([SOURCE.read_bytes(), " ".join(FLAGS).encode(), _machine().encode()])
    ).hexdigest()[:16]
    return _cache_folder() / f"step_kernels-{key}.so"


def build() -> Path:
    """Compile the library (unless this source is already compiled for this CPU) and
    return its path; raises RuntimeError with the compiler's message on failure."""
    target = library_path()
    if target.exists():
        return target
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError("no C++ compiler found (install g++, or set CXX to one)")
    target.parent.mkdir(parents=True, exist_ok=True)
    # built under a temporary name and renamed: two processes may build at once
    handle, temporary = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(handle)
    try:
        result = subprocess.run([compiler, *FLAGS, str(SOURCE), "-o", temporary],
                                capture_output=True, text=True)
        if result.returncode != 0:
            message = result.stderr.strip()[-2000:] or f"exit status {result.returncode}"
            raise RuntimeError(f"{compiler} failed to compile {SOURCE.name}: {message}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def _load() -> tuple[dict | None, str]:
    """{dtype: the entry points for it} and "" or (None, the reason)."""
    if sys.platform != "linux":
        return None, "the compiled kernels are built on Linux only"
    try:
        library = ctypes.CDLL(str(build()))
    except (OSError, RuntimeError) as error:
        return None, str(error)
    functions = {}
    for dtype, suffix in ((np.float32, "f32"), (np.float64, "f64")):
        entry_points = {}
        for name, (arguments, result) in _SIGNATURES.items():
            function = getattr(library, f"{name}_{suffix}")
            function.argtypes, function.restype = arguments, result
            entry_points[name] = function
        namespace = SimpleNamespace(**entry_points)
        # looked up by NumPy dtype and by PyTorch dtype alike
        functions[np.dtype(dtype)] = functions[torch.from_numpy(np.empty(0, dtype)).dtype] = (
            namespace
        )
    return functions, ""


_FUNCTIONS, UNAVAILABLE_REASON = _load()
AVAILABLE = _FUNCTIONS is not None
"""Whether the kernels can be used (the library compiled and loaded)."""


def native(dtype: np.dtype | torch.dtype) -> SimpleNamespace:
    """The C entry points for arrays or tensors of this dtype (float32 or float64), which
    take raw addresses: for callers that keep their buffers' addresses from step to step."""
    return _FUNCTIONS[dtype]


def pointer(array: np.ndarray) -> int:
    """The address of a C-contiguous array's first element (checked)."""
    if not array.flags.c_contiguous:
        raise ValueError("the kernels take C-contiguous arrays")
    return array.ctypes.data


def address(tensor: torch.Tensor) -> int:
    """The address of a contiguous CPU tensor's first element (checked), for callers that
    keep it from step to step."""
    if tensor.device.type != "cpu" or not tensor.is_contiguous():
        raise ValueError("the kernels take contiguous CPU tensors")
    return tensor.data_ptr()


def _entry(*arrays: np.ndarray) -> SimpleNamespace:
    """The entry points for these arrays, which must share one floating dtype."""
    dtype = arrays[0].dtype
    if any(array.dtype != dtype for array in arrays[1:]):
        raise TypeError("the kernels take arrays of one dtype")
    return native(dtype)


def threads() -> int:
    """The OpenMP threads of the parallel kernels: PyTorch's intra-op count."""
    return torch.get_num_threads()


def padded_order(n: int, dtype) -> int:
    """n rounded up to whole vectors of the forward kernel (the columns of its Bᵀ)."""
    lanes = native(dtype).forward_lanes()
    return -(-n // lanes) * lanes


def transpose_padded(b: np.ndarray) -> np.ndarray:
    """Bᵀ (M × n_pad) for B (n × M), its columns past n zero: the forward kernel's B."""
    n, width = b.shape
    bt = np.empty((width, padded_order(n, b.dtype)), b.dtype)
    _entry(b, bt).transpose_padded(pointer(b), n, width, bt.shape[1], pointer(bt))
    return bt


def forward_block(readout, a, b, start, rows, code, out):
    """F[c, i·n + j] = Σ_m ξ[c, m] σ(a[start + i, m] + b[j, m]) into ``out`` (n × rows·n)
    for readout ξ (n × M), without storing σ(H)."""
    n, width = b.shape
    bt = transpose_padded(b)
    _entry(readout, a, bt, out).forward_block(
        pointer(readout), pointer(a), pointer(bt), n, bt.shape[1], width, start, rows, code,
        pointer(out), threads(),
    )


def readout_block(g, a, b, start, rows, code, out, accumulate):
    """out[c, m] = Σ_p g[c, p] σ(a[start + i, m] + b[j, m]) over the pairs p = i·n + j of
    the block (G̃ S for G̃ = ``g``, n × rows·n), added to what is there when
    ``accumulate``; σ(H) is never stored."""
    n, width = b.shape
    _entry(g, a, b, out).readout_block(
        pointer(g), pointer(a), pointer(b), n, width, start, rows, code, pointer(out),
        int(accumulate), threads(),
    )


def hidden_gradient_sums(g_t, readout, a, b, start, rows, code, out_first, out_second,
                         accumulate):
    """For the rows·n pairs (i, j) of a block with G̃ᵀ ``g_t`` (rows·n × n) and readout ξ
    (n × M): with D = G̃ᵀ ξ and e = D[i·n + j, m] σ'(a[start + i, m] + b[j, m]) (σ' except
    for σ = z², where it is h, the 2 riding in the step's factor), out_first[i, m] = Σ_j e
    for i < rows and out_second[j, m] = Σ_i e, added to what is there when ``accumulate``.
    D is never stored."""
    n, width = b.shape
    _entry(g_t, readout, a, b, out_first, out_second).hidden_gradient_sums(
        pointer(g_t), pointer(readout), pointer(a), pointer(b), n, width, start, rows, code,
        pointer(out_first), pointer(out_second), int(accumulate), threads(),
    )


def cross_entropy_block(outputs, classes, gradient_t, scale, factor, factor_t) -> float:
    """For the products ξ Sᵀ (n × k) of a block and the classes y of its k pairs, with
    F = ``scale`` · ξ Sᵀ and G̃ = softmax(F) − Y over the n outputs of each pair: writes
    ``factor`` · G̃ over ``outputs`` and ``factor_t`` · G̃ᵀ into ``gradient_t`` (k × n);
    returns Σ_p log softmax(F_p)[y_p] (summed in float64). The exponentials are of
    F − max F, so no logit overflows; in float32 they take a vectorised e^x within 2 ulp."""
    n, k = outputs.shape
    return _entry(outputs, gradient_t).cross_entropy_block(
        pointer(outputs), pointer(_indices(classes)), pointer(gradient_t), n, k, scale, factor,
        factor_t,
    )


def exponentials(values: np.ndarray) -> np.ndarray:
    """e^x of every value, by the exponential the cross-entropy kernel uses."""
    out = np.empty_like(values)
    _entry(values, out).exponentials(pointer(values), values.size, pointer(out))
    return out


def squared_error_block(outputs, targets, gradient_t, scale, factor, factor_t) -> float:
    """For the products ξ Sᵀ (n × k) of a block and its targets Yᵀ: with F = ``scale`` ·
    ξ Sᵀ and G̃ = F − Y, writes ``factor`` · G̃ over ``outputs`` and ``factor_t`` · G̃ᵀ into
    ``gradient_t`` (k × n); returns Σ (F − Y)² (summed in float64)."""
    n, k = outputs.shape
    return _entry(outputs, targets, gradient_t).squared_error_block(
        pointer(outputs), pointer(targets), pointer(gradient_t), n, k, scale, factor, factor_t
    )


def first_argmax_hits(scores, classes, scale) -> int:
    """How many of the k pairs (the columns of ``scores``, n × k) have their class y_p as
    the first maximum of ``scale`` · scores[:, p] (one-hot: the outputs; with an encoding
    X the caller passes X F). The first maximum is the one argmax takes (a tie with an
    earlier class counts as wrong); a NaN score never wins."""
    n, k = scores.shape
    return int(_entry(scores).first_argmax_hits(
        pointer(scores), pointer(_indices(classes)), n, k, scale))


def adam_step(param, grad, first, second, learning_rate, beta1, beta2, eps, step,
              weight_decay, decoupled):
    """One Adam step over flat arrays: g ← g + λθ (``decoupled``: θ ← (1 − ηλ)θ instead),
    m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − η m̂/(√v̂ + ε)."""
    _entry(param, grad, first, second).adam_step(
        pointer(param), pointer(grad), pointer(first), pointer(second), param.size,
        learning_rate, beta1, beta2, eps, step, weight_decay, int(decoupled), threads(),
    )


def sphere_adam_step(param, grad, first, second, learning_rate, beta1, beta2, eps, step):
    """One projected Adam step on the spheres of the columns of ``param`` (L × n × M, unit
    columns ν along n): g ← g − ⟨g, ν⟩ν, the Adam step of ``adam_step``, then
    ν ← ν/‖ν‖."""
    layers, n, width = param.shape
    _entry(param, grad, first, second).sphere_adam_step(
        pointer(param), pointer(grad), pointer(first), pointer(second), layers, n, width,
        learning_rate, beta1, beta2, eps, step, threads(),
    )


def scaled_copies(source, factor, factor_t, out, out_t):
    """out = factor · source and out_t = factor_t · sourceᵀ in one pass (source n × M)."""
    rows, columns = source.shape
    _entry(source, out, out_t).scaled_copies(pointer(source), rows, columns, factor, factor_t,
                                       pointer(out), pointer(out_t))


def _indices(classes: np.ndarray) -> np.ndarray:
    if classes.dtype != np.int64:
        raise TypeError("the classes must be int64")
    return classes


def compile_all() -> None:
    """Compile the kernels for this machine (the setup runs this once); prints why they
    are not available when they are not."""
    if not AVAILABLE:
        print(f"The training kernels are not available: {UNAVAILABLE_REASON}. Training "
              "uses PyTorch's code instead.", file=sys.stderr)


if __name__ == "__main__":
    compile_all()
