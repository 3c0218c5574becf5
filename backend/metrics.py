"""Live metrics of what the neurons have learned (mathematics reference, section 4).

Everything is computed from the neurons' effective functions a_m, b_m, c_m on G (for
one-hot, the weight vectors themselves) with one Fourier product per layer, vectorised
over neurons; the only Python loop runs over the real orbits of the group.

- power p_{m,O}(ν) = P_O(ν_m)/‖ν_m‖² for ν ∈ {a, b, c};
- dominant orbit O*_m = argmax_O of the layer mean (p_a + p_b + p_c)/3, sparsity its
  maximum, IPR Σ_O of its squares;
- phases φ¹ = arg â[ρ], φ² = arg b̂[ρ], ψ = arg ĉ[ρ] at the representative ρ of a
  one-dimensional dominant orbit;
- alignment z_m = tr(ĉ† b̂ â)/(‖b̂ â‖_F ‖ĉ‖_F) at the representative of the dominant orbit;
- rank one: r₁ = σ₁²/‖·‖_F² and σ₂/σ₁ of â, b̂, ĉ there (NaN for one-dimensional orbits);
  at a quaternionic irrep (indicator −1) the singular values of the coefficient of a real
  function come in equal pairs, so the notion is rank one over the quaternions (section 7):
  r₁ᴴ = (σ₁² + σ₂²)/‖·‖_F² and σ₃/σ₁ in the same two slots; a 2-dim quaternionic irrep is
  quaternionic-rank-one by construction (r₁ᴴ = 1, σ₃/σ₁ = 0, there is no σ₃);
- diversification: dominant-orbit histogram against the uniform law on the non-trivial
  orbits, total-variation distance ½ Σ_O |h_O − u_O|;
- Haar statistics R_ι = |mean_m e^{iιφ¹_m}| over the neurons of each one-dimensional
  orbit, ι = 1..4 (NaN for orbits without such neurons);
- learned-function power: mean over all pairs of P_O(f(g1, g2)) against P_O(t);
- loss and accuracies: the class of a pair is argmax_j ⟨f, x_j⟩ (argmax f for one-hot).

On large groups trained on the exact path, the figures that need the output of every
pair (accuracy, learned-function power, the majority vote's share of the table) are
estimates on a fixed seeded sample of pairs (``backend.pair_sample``);
``sampled_pairs`` says how many (0: every pair, exact). Their answer table is estimated
per cell on a sample of its own (``backend.answers.sampled_answer_table``);
``answer_pairs_per_cell`` says how many pairs each cell holds (0: every pair).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from backend.alignment_invariants import singular_overlap, top_count
from backend.answers import answer_table
from backend.spectral import SpectralTools
from backend.task import Task
from backend.training.network import activation_value

RANK_ONE_THRESHOLD = 0.1
"""A coefficient matrix counts as rank one when σ₂/σ₁ is below this."""

@dataclass
class MetricSnapshot:
    """Plain numpy copies, safe to hand to another thread (M neurons, K real orbits)."""

    step: int
    loss: float
    train_accuracy: float
    test_accuracy: float | None
    power: np.ndarray  # (3, M, K) float32, normalised orbit power of a, b, c
    dominant_orbit: np.ndarray  # (M,) int
    sparsity: np.ndarray  # (M,)
    ipr: np.ndarray  # (M,)
    norms: np.ndarray  # (3, M) ‖a_m‖, ‖b_m‖, ‖c_m‖
    phases: np.ndarray  # (3, M) φ¹, φ², ψ (NaN off one-dimensional orbits)
    alignment: np.ndarray  # (M,) complex z
    rank_one: np.ndarray  # (3, M) r₁, or r₁ᴴ at a quaternionic irrep (NaN for 1-dim orbits)
    sigma_ratio: np.ndarray  # (3, M) σ₂/σ₁, or σ₃/σ₁ at a quaternionic irrep (NaN for 1-dim)
    orbit_counts: np.ndarray  # (K,) neurons per dominant orbit
    diversification_tv: float
    haar: np.ndarray  # (K, 4)
    function_power: np.ndarray  # (K,)
    template_power: np.ndarray  # (K,)
    singular_overlap: np.ndarray | None = None  # (M,) (NaN for one-dimensional orbits)
    answer_margin: np.ndarray | None = None  # (R, R) margins of the pairs (backend.answers)
    answer_correct: np.ndarray | None = None  # (R, R) share of correctly answered pairs
    sampled_pairs: int = 0  # pairs behind accuracy and function power (0: all, exact)
    answer_pairs_per_cell: int = 0  # sampled pairs behind each answer cell (0: every pair)
    residual_power: np.ndarray | None = None  # (K,) mean P_O(y − f) over the same pairs

    @property
    def mean_sparsity(self) -> float:
        return float(np.mean(self.sparsity))

    @property
    def mean_alignment(self) -> float:
        """Mean |z| over neurons."""
        return float(np.mean(np.abs(self.alignment)))

    @property
    def mean_abs_sin_phase(self) -> float:
        """Mean |sin arg z| over neurons (0 when every ĉ is a positive multiple of b̂ â)."""
        return float(np.mean(np.abs(np.sin(np.angle(self.alignment)))))

    def rank_one_fraction(
        self, orbit_dims: np.ndarray, orbit_indicators: np.ndarray | None = None
    ) -> dict[str, float]:
        """Orbit dimension (as a string, ≥ 2) -> fraction of the neurons whose dominant
        orbit has that dimension with σ₂/σ₁ < 0.1 in all three layers. With the orbits'
        indicators, quaternionic orbits are left out (see
        ``quaternionic_rank_one_fraction``)."""
        return self._fraction(orbit_dims, orbit_indicators, quaternionic=False)

    def quaternionic_rank_one_fraction(
        self, orbit_dims: np.ndarray, orbit_indicators: np.ndarray
    ) -> dict[str, float]:
        """Orbit dimension -> fraction of the neurons whose dominant orbit is quaternionic
        of that dimension with σ₃/σ₁ < 0.1 in all three layers (rank one over ℍ; 1 for
        d = 2, by construction)."""
        return self._fraction(orbit_dims, orbit_indicators, quaternionic=True)

    def _fraction(self, orbit_dims, orbit_indicators, *, quaternionic: bool) -> dict[str, float]:
        dims = np.asarray(orbit_dims)[self.dominant_orbit]
        if orbit_indicators is None:
            kept = np.full(dims.shape, not quaternionic)
        else:
            kept = (np.asarray(orbit_indicators)[self.dominant_orbit] < 0) == quaternionic
        rank_one = np.all(self.sigma_ratio < RANK_ONE_THRESHOLD, axis=0)
        result = {}
        for d in np.unique(dims[(dims >= 2) & kept]).tolist():
            chosen = (dims == d) & kept
            result[str(d)] = float(np.mean(rank_one[chosen]))
        return result

    def copy(self) -> MetricSnapshot:
        values = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            values[spec.name] = value.copy() if isinstance(value, np.ndarray) else value
        return MetricSnapshot(**values)


@dataclass
class MajorityVote:
    """The class scores of one pair split into per-orbit sums of neuron contributions.

    scores[j] = Σ_m s_m σ_m ⟨ξ_m, x_j⟩ = per_orbit.sum(0)[j]; margin = scores[correct] −
    max_{j ≠ correct} scores[j]; table_fraction = share of all pairs with a positive margin.
    """

    g1: int
    g2: int
    correct: int
    scores: np.ndarray  # (n,)
    per_orbit: np.ndarray  # (K, n)
    margin: float
    table_fraction: float
    sampled_pairs: int = 0  # pairs behind table_fraction (0: the whole table)


def rank_one_over_quaternions_text(fractions: dict[str, float]) -> str:
    """One line for ``quaternionic_rank_one_fraction``'s result ("" when empty): d = 2
    quaternionic irreps are rank one over ℍ by construction, larger ones are measured."""
    if not fractions:
        return ""
    parts = [
        f"{d}-dim quaternionic: rank one over ℍ by construction" if d == "2"
        else f"{d}-dim quaternionic {share:.1%} rank one over ℍ (σ₃/σ₁ < 0.1)"
        for d, share in fractions.items()
    ]
    return ", ".join(parts)


# --------------------------------------------------------------------- neuron metrics
def neuron_metrics(effective: np.ndarray, spectral: SpectralTools) -> dict[str, np.ndarray]:
    """Per-neuron spectral metrics of effective functions (3, M, n).

    ``rank_one``/``sigma_ratio`` hold r₁ = σ₁²/‖·‖_F² and σ₂/σ₁, except at quaternionic
    irreps where they hold r₁ᴴ = (σ₁² + σ₂²)/‖·‖_F² and σ₃/σ₁ (MATH §7)."""
    effective = np.asarray(effective, dtype=np.float64)
    layers, width, n = effective.shape
    coefficients = spectral.representative_coefficients(effective)  # (3, M, r)
    power = spectral.orbit_power_from_coefficients(coefficients)  # (3, M, K)
    norms_sq = np.einsum("lmn,lmn->lm", effective, effective)
    safe = np.where(norms_sq > 0, norms_sq, 1.0)
    normalised = power / safe[..., None]
    mean_power = normalised.mean(axis=0)
    dominant = np.argmax(mean_power, axis=1)
    sparsity = mean_power[np.arange(width), dominant]
    ipr = np.sum(mean_power**2, axis=1)

    phases = np.full((3, width), np.nan)
    alignment = np.zeros(width, dtype=np.complex128)
    rank_one = np.full((3, width), np.nan)
    sigma_ratio = np.full((3, width), np.nan)
    vector_overlap = np.full(width, np.nan)
    for orbit in np.unique(dominant):
        chosen = np.flatnonzero(dominant == orbit)
        blocks = spectral.block(coefficients[:, chosen], int(orbit))  # (3, m, d, d)
        a_hat, b_hat, c_hat = blocks
        product = b_hat @ a_hat
        conj_c = np.conj(c_hat) if np.iscomplexobj(c_hat) else c_hat
        overlap = np.einsum("mij,mij->m", conj_c, product)  # tr(ĉ† b̂ â)
        denominator = np.linalg.norm(product, axis=(1, 2)) * np.linalg.norm(c_hat, axis=(1, 2))
        alignment[chosen] = np.where(denominator > 0, overlap / np.where(
            denominator > 0, denominator, 1.0), 0.0)
        d = blocks.shape[-1]
        if d == 1:
            phases[:, chosen] = np.angle(blocks[..., 0, 0])
        else:
            # σ² are the eigenvalues of X†X (ascending): cheaper than an SVD per matrix
            adjoint = np.swapaxes(blocks, -1, -2)
            gram = (np.conj(adjoint) if np.iscomplexobj(blocks) else adjoint) @ blocks
            squares = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
            rank_one[:, chosen], sigma_ratio[:, chosen] = _rank_one_measures(
                squares, quaternionic=bool(spectral.quaternionic[orbit]))
            indicator = spectral.irrep_set.orbits[int(orbit)].indicator
            vector_overlap[chosen] = singular_overlap(a_hat, b_hat, top_count(indicator))
    return {
        "power": normalised.astype(np.float32),
        "dominant_orbit": dominant.astype(np.int64),
        "sparsity": sparsity,
        "ipr": ipr,
        "norms": np.sqrt(norms_sq),
        "phases": phases,
        "alignment": alignment,
        "rank_one": rank_one,
        "sigma_ratio": sigma_ratio,
        "singular_overlap": vector_overlap,
    }


def _rank_one_measures(squares: np.ndarray, *, quaternionic: bool) -> tuple[np.ndarray, ...]:
    """(r₁, σ₂/σ₁) from the ascending squared singular values (..., d); over the
    quaternions, whose singular values pair up, (r₁ᴴ, σ₃/σ₁) with r₁ᴴ = (σ₁² + σ₂²)/Σσ²,
    and (1, 0) for d = 2 where the pair is every singular value."""
    total = squares.sum(axis=-1)
    top = squares[..., -1]
    kept = squares[..., -2:].sum(axis=-1) if quaternionic else top
    rank_one = np.where(total > 0, kept / np.where(total > 0, total, 1.0), 1.0)
    following = -3 if quaternionic else -2
    if squares.shape[-1] < -following:
        return rank_one, np.zeros_like(top)
    ratio = np.where(top > 0, np.sqrt(squares[..., following] / np.where(top > 0, top, 1.0)), 0.0)
    return rank_one, ratio


def diversification(dominant: np.ndarray, num_orbits: int) -> tuple[np.ndarray, float]:
    """(counts per orbit, ½ Σ_O |h_O − u_O|) with u uniform on the non-trivial orbits."""
    counts = np.bincount(dominant, minlength=num_orbits)
    if num_orbits < 2 or counts.sum() == 0:
        return counts, 0.0
    share = counts / counts.sum()
    uniform = np.full(num_orbits, 1.0 / (num_orbits - 1))
    uniform[0] = 0.0
    return counts, float(0.5 * np.abs(share - uniform).sum())


def haar_statistics(
    dominant: np.ndarray, first_phases: np.ndarray, num_orbits: int
) -> np.ndarray:
    """(K, 4): R_ι = |mean over the orbit's neurons of e^{iιφ¹}|, ι = 1..4."""
    result = np.full((num_orbits, 4), np.nan)
    defined = np.isfinite(first_phases)
    harmonics = np.exp(1j * np.arange(1, 5)[None, :] * np.where(defined, first_phases, 0)[:, None])
    membership = np.zeros((num_orbits, dominant.size))
    membership[dominant[defined], np.flatnonzero(defined)] = 1.0
    counts = membership.sum(axis=1)
    sums = membership @ harmonics
    present = counts > 0
    result[present] = np.abs(sums[present] / counts[present, None])
    return result


# --------------------------------------------------------------------- output metrics
def class_scores(outputs: np.ndarray, task: Task) -> np.ndarray:
    """Score of class j for every pair: f[j] for one-hot, ⟨f, x_j⟩ for a template."""
    return outputs if task.one_hot else outputs @ task.encoding.T


def compute_metrics(
    *,
    step: int,
    effective: tuple[np.ndarray, np.ndarray, np.ndarray] | np.ndarray,
    outputs: np.ndarray | torch.Tensor,
    task: Task,
    spectral: SpectralTools,
    loss_kind: str,
    loss: float | None = None,
    pairs: np.ndarray | None = None,
) -> MetricSnapshot:
    """Every metric of MATH §4 from the effective functions (3 × (M, n)) and the network
    outputs of all n² pairs ((n², n), flat pair order p = g1·n + g2), or of the sampled
    flat ``pairs`` only (then accuracy and function power are estimates on them).
    ``loss``, when given, is the training loss already computed (required with a
    sample)."""
    with np.errstate(all="ignore"):  # a diverged network may hold huge values
        return _compute_metrics(step, effective, outputs, task, spectral, loss_kind, loss,
                                pairs)


def _compute_metrics(step, effective, outputs, task, spectral, loss_kind, loss,
                     pairs=None) -> MetricSnapshot:
    effective = np.stack(effective) if isinstance(effective, tuple | list) else effective
    per_neuron = neuron_metrics(effective, spectral)
    counts, tv = diversification(per_neuron["dominant_orbit"], spectral.num_orbits)
    haar = haar_statistics(
        per_neuron["dominant_orbit"], per_neuron["phases"][0], spectral.num_orbits
    )
    return MetricSnapshot(
        step=int(step),
        orbit_counts=counts,
        diversification_tv=tv,
        haar=haar,
        template_power=task.template_power.copy(),
        **output_metrics(outputs, task, spectral, loss_kind, loss, pairs),
        **per_neuron,
        sampled_pairs=0 if pairs is None else int(len(pairs)),
    )


def output_metrics(
    outputs: np.ndarray | torch.Tensor,
    task: Task,
    spectral: SpectralTools,
    loss_kind: str,
    loss: float | None = None,
    pairs: np.ndarray | None = None,
) -> dict:
    """Loss, train and held-out accuracy and the mean learned-function power of the
    outputs of all n² pairs ((n², n), numpy or torch, computed in their own dtype), or
    of the listed flat ``pairs`` (a sample: the accuracies and the power are then means
    over the sampled pairs of each set, and ``loss`` must be given).
    A ``loss`` already computed from the same outputs is taken as it is.

    The function power averages P_O(f(g1, g2)) over the pairs without transforming every
    output: with C = (1/n²) Σ_p f_p f_pᵀ, mean_p (f_p·u)² = uᵀ C u for every real basis
    vector u of the orbit; the residual power P_O(y − f) the same with y_p − f_p, y_p =
    x_{g1 g2} (what an orbit's explained share 1 − P_O(y − f)/P_O(t) reads)."""
    if isinstance(outputs, np.ndarray):
        outputs = torch.from_numpy(np.require(outputs, requirements="W"))
    device = outputs.device
    count = outputs.shape[0]
    encoding = torch.tensor(task.encoding, dtype=outputs.dtype, device=device)
    classes = torch.tensor(task.table.reshape(-1), device=device)
    scores = outputs if task.one_hot else outputs @ encoding.T
    if pairs is not None:
        if loss is None:
            raise ValueError("the loss of a sampled snapshot must be given")
        listed = torch.as_tensor(np.asarray(pairs), device=device)
        correct = scores.argmax(dim=1) == classes.index_select(0, listed)
        held_out = np.isin(pairs, task.test_pairs)
        second_moment = (outputs.T @ outputs).double() / count
        residual = encoding.index_select(0, classes.index_select(0, listed)) - outputs

        def sample_accuracy(chosen: np.ndarray) -> float:
            return float(correct[torch.as_tensor(chosen, device=device)].double().mean())

        return {
            "loss": float(loss),
            "train_accuracy": sample_accuracy(~held_out),
            "test_accuracy": (sample_accuracy(held_out) if task.test_pairs.size
                              and held_out.any() else None),
            "function_power": _function_power(second_moment, spectral),
            "residual_power": _function_power((residual.T @ residual).double() / count,
                                              spectral),
        }
    correct = scores.argmax(dim=1) == classes

    def accuracy(pairs: np.ndarray) -> float:
        chosen = correct.index_select(0, torch.tensor(pairs, device=device))
        return float(chosen.double().mean())

    train = torch.tensor(task.train_pairs, device=device)
    all_train = task.train_pairs.size == count
    if loss is not None:
        loss = float(loss)
    else:
        loss = _loss_of(outputs if all_train else outputs.index_select(0, train),
                        classes if all_train else classes.index_select(0, train),
                        encoding, loss_kind)
    second_moment = (outputs.T @ outputs).double() / count
    residual = encoding.index_select(0, classes) - outputs
    answer_margin, answer_correct = answer_table(scores, classes, task.table.shape[0])
    return {
        "answer_margin": answer_margin,
        "answer_correct": answer_correct,
        "loss": loss,
        "train_accuracy": accuracy(task.train_pairs),
        "test_accuracy": accuracy(task.test_pairs) if task.test_pairs.size else None,
        "function_power": _function_power(second_moment, spectral),
        "residual_power": _function_power((residual.T @ residual).double() / count, spectral),
    }


def _function_power(second_moment: torch.Tensor, spectral: SpectralTools) -> np.ndarray:
    """Mean P_O(f) over pairs from C = mean_p f_p f_pᵀ: Σ over O's real basis u of uᵀCu."""
    basis, summer = spectral.fourier.orbit_projection_matrix(torch.device("cpu"), torch.float64)
    function_power = ((second_moment.cpu() @ basis) * basis).sum(0) @ summer
    return function_power.numpy().astype(np.float64)


def _loss_of(
    outputs: torch.Tensor, classes: torch.Tensor, encoding: torch.Tensor, loss_kind: str
) -> float:
    """MSE (1/(P n)) Σ (f − x_class)² or cross-entropy −(1/P) Σ log softmax(f)[class],
    accumulated in float64."""
    if loss_kind == "mse":
        residual = outputs - encoding.index_select(0, classes)
        return float(torch.linalg.vecdot(residual, residual).double().sum()) / residual.numel()
    picked = torch.log_softmax(outputs, dim=1).gather(1, classes[:, None])
    return -float(picked.double().sum()) / picked.shape[0]


def majority_vote(
    g1: int,
    g2: int,
    *,
    effective: tuple[np.ndarray, np.ndarray, np.ndarray],
    scales: np.ndarray,
    activation: str,
    outputs: np.ndarray,
    task: Task,
    spectral: SpectralTools,
    pairs: np.ndarray | None = None,
) -> MajorityVote:
    """Split the class scores of (g1, g2) by the dominant orbit of each neuron.
    ``outputs`` are those of every pair, or of the listed flat ``pairs`` (a sample: the
    share of the table with a positive margin is then estimated on them)."""
    a, b, c = (np.asarray(x, dtype=np.float64) for x in effective)
    hidden = activation_value(activation, torch.from_numpy(a[:, g1] + b[:, g2])).numpy()
    contributions = (scales * hidden)[:, None] * c  # (M, n): s_m σ_m c_m(j)
    dominant = neuron_metrics(np.stack([a, b, c]), spectral)["dominant_orbit"]
    membership = np.zeros((spectral.num_orbits, a.shape[0]))
    membership[dominant, np.arange(a.shape[0])] = 1.0
    per_orbit = membership @ contributions
    scores = per_orbit.sum(axis=0)
    correct = int(task.table[g1, g2])
    others = np.delete(scores, correct)
    all_scores = class_scores(outputs, task)
    classes = task.table.reshape(-1)
    if pairs is not None:
        classes = classes[np.asarray(pairs)]
    right = all_scores[np.arange(classes.size), classes]
    masked = all_scores.copy()
    masked[np.arange(classes.size), classes] = -np.inf
    table_fraction = float(np.mean(right - masked.max(axis=1) > 0))
    return MajorityVote(
        g1=g1,
        g2=g2,
        correct=correct,
        scores=scores,
        per_orbit=per_orbit,
        margin=float(scores[correct] - others.max()),
        table_fraction=table_fraction,
        sampled_pairs=0 if pairs is None else int(len(pairs)),
    )
