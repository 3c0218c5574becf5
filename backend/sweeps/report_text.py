"""The text of ``sweep-report``: statistics per swept key, the orbits learned per run,
and the share of neurons per orbit against the candidate laws."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from backend.sweeps.laws import fit_laws
from backend.sweeps.report import SweepResults, _number, by_key, orbit_counts, statistic

DEFAULT_COLUMNS = ("loss", "train_accuracy", "mean_alignment", "mean_sparsity")


def format_statistic(mean: float, std: float) -> str:
    if not math.isfinite(mean):
        return "--"
    return f"{mean:.4g} ± {std:.2g}" if math.isfinite(std) else f"{mean:.4g}"


def status_line(results: SweepResults) -> str:
    counts = Counter(str(row.get("status")) for row in results.rows)
    parts = ", ".join(f"{status} {counts.get(status, 0)}"
                      for status in ("done", "diverged", "failed", "pending"))
    return f"sweep {results.path}: {len(results.rows)} runs ({parts})"


def statistics_text(results: SweepResults, columns: list[str]) -> str:
    """Per swept key (seed excluded unless it is the only one): mean ± std of each column
    over the finished runs with that value."""
    keys = [k for k in results.swept_keys if k != "seed"]
    if not keys:
        cells = [f"{c} {format_statistic(s.mean, s.std)}" for c in columns
                 for s in [statistic(_number(r.get(c)) for r in results.finished())]]
        return (f"mean ± std over the {len(results.finished())} finished runs: "
                + ",  ".join(cells))
    blocks = []
    for key in keys:
        table = {column: by_key(results, key, column) for column in columns}
        values = [value for value, _ in table[columns[0]]]
        width = max([len(key)] + [len(str(v)) for v in values])
        head = f"{key:<{width}}  " + "  ".join(f"{c:>22}" for c in columns) + "  runs"
        lines = [f"mean ± std over the other swept keys and seeds, per {key}:", head]
        for i, value in enumerate(values):
            cells = [format_statistic(table[c][i][1].mean, table[c][i][1].std) for c in columns]
            count = table[columns[0]][i][1].count
            lines.append(f"{value!s:<{width}}  " + "  ".join(f"{cell:>22}" for cell in cells)
                         + f"  {count:>4}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def learned_text(results: SweepResults) -> str:
    """One line per run: its swept values and the neurons of each orbit that has any."""
    lines = ["orbits learned (neurons per dominant orbit) per run:"]
    for row in results.rows:
        values = " ".join(f"{k}={row.get(k)}" for k in results.swept_keys)
        if row.get("status") != "done":
            lines.append(f"  {values}: {row.get('status')} {row.get('message') or ''}".rstrip())
            continue
        counts = ", ".join(f"{label} {n}" for label, n in orbit_counts(row).items() if n)
        order = row.get("agf_measured_order")
        extra = ""
        if order is not None or row.get("agf_predicted_order") is not None:
            extra = (f"   GD order: {order or '-'}   AGF order: "
                     f"{row.get('agf_predicted_order') or '-'}")
        lines.append(f"  {values}: {counts}{extra}")
    return "\n".join(lines)


def shares_text(results: SweepResults) -> str:
    """Per group: each non-trivial orbit's share (mean ± std over runs) of the neurons on
    non-trivial orbits, and the fit of the pooled counts to each law."""
    from backend.groups.irreps import irreps_of
    from backend.groups.spec import parse_group

    groups = list(dict.fromkeys(str(row.get("group") or results.base_group)
                                for row in results.finished()))
    blocks = []
    for spec in groups:
        rows = [r for r in results.finished() if str(r.get("group") or results.base_group)
                == spec]
        orbits = [o for o in irreps_of(parse_group(spec)).orbits if not o.is_trivial]
        counts = np.array([[orbit_counts(r).get(o.label, 0) for o in orbits] for r in rows],
                          dtype=np.float64)
        shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        pooled = counts.sum(axis=0)
        fits = fit_laws(pooled, np.array([o.dim for o in orbits]),
                        np.array([o.real_dim for o in orbits]))
        lines = [f"{spec}: share of the neurons on non-trivial orbits, {len(rows)} runs "
                 f"({int(pooled.sum())} neurons)"]
        head = f"  {'orbit':<24} {'d':>2} {'share':>16}" + "".join(f" {f.law:>17}" for f in fits)
        lines.append(head)
        for k, orbit in enumerate(orbits):
            std = shares[:, k].std(ddof=1) if len(rows) > 1 else math.nan
            lines.append(f"  {orbit.label:<24} {orbit.dim:>2} "
                         f"{format_statistic(shares[:, k].mean(), std):>16}"
                         + "".join(f" {f.expected[k]:>17.3f}" for f in fits))
        lines.append("  fit (pooled counts):   " + ";  ".join(
            f"{f.law}: TV {f.total_variation:.3f}, "
            f"χ²/dof {f.chi_square / max(f.degrees_of_freedom, 1):.1f}" for f in fits))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def agf_text(results: SweepResults) -> str:
    """How often the AGF order agrees with gradient descent's, per swept key value: the
    orbits learned against those predicted within the run's steps, and the order of the
    orbits in both (counted over the runs where at least two orbits are in both)."""
    if "agf_common_order_matches" not in results.columns:
        return ""
    keys = [k for k in results.swept_keys if k != "seed"] or [None]
    lines = ["AGF (closed form) against gradient descent:"]
    for key in keys:
        values = list(dict.fromkeys(row.get(key) for row in results.rows)) if key else [None]
        for value in values:
            rows = [r for r in results.finished() if key is None or r.get(key) == value]
            if not rows:
                continue
            same = sum(_number(r.get("agf_same_orbits_learned")) == 1 for r in rows)
            ordered = [r for r in rows if _number(r.get("agf_common_orbits")) >= 2]
            agree = sum(_number(r.get("agf_common_order_matches")) == 1 for r in ordered)
            first = sum(_first(r.get("agf_measured_order")) is not None
                        and _first(r.get("agf_measured_order"))
                        == _first(r.get("agf_predicted_order")) for r in rows)
            label = f"{key}={value}" if key else "all runs"
            lines.append(
                f"  {label}: first orbit learned as predicted in {first}/{len(rows)} runs; "
                f"same order in {agree}/{len(ordered)} runs with ≥ 2 orbits both predicted "
                f"within the steps and learned; orbits learned = orbits predicted within "
                f"the steps in {same}/{len(rows)} runs")
    return "\n".join(lines)


def _first(order: object) -> str | None:
    """The first orbit of an order column (``a > b > c``), or None."""
    return str(order).split(" > ", 1)[0] if order else None


def report_text(results: SweepResults, columns: list[str] | None = None, *,
                laws: bool = False) -> str:
    chosen = list(columns or [c for c in DEFAULT_COLUMNS if c in results.columns])
    for column in chosen:
        results.check_column(column)
    parts = [status_line(results)]
    if chosen and results.finished():
        parts.append(statistics_text(results, chosen))
    parts.append(learned_text(results))
    agf = agf_text(results)
    if agf:
        parts.append(agf)
    if laws and results.finished():
        parts.append(shares_text(results))
    return "\n\n".join(parts)
