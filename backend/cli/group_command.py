"""``group SPEC``: print a group's order, conjugacy classes, irreps (label, dimension,
Frobenius–Schur type, real orbit) and verification errors; ``--save FILE.npz`` writes
the Cayley table and the irreps for independent checking."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from backend.atomic_files import write_atomic
from backend.errors import UserError
from backend.file_reading import check_writable_folder, write_failure
from backend.groups.irreps import IrrepSet, irreps_of
from backend.groups.spec import SPEC_HELP, parse_group
from backend.groups.verification import verify

MAX_SHOWN_ELEMENTS = 8


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "group",
        help="show a group's conjugacy classes, irreps and verification errors",
        description=f"Inspect a finite group. SPEC is one of: {SPEC_HELP}.",
    )
    parser.add_argument("spec", metavar="SPEC", help="the group, e.g. C12, D5, S4, C3xC5")
    parser.add_argument(
        "--save", metavar="FILE.npz", help="write the Cayley table and the irreps to FILE.npz"
    )
    parser.add_argument(
        "--numerical",
        action="store_true",
        help="use the generic numerical construction even where a closed form exists",
    )
    parser.set_defaults(func=run)


def _class_line(index: int, members: np.ndarray, names: tuple[str, ...]) -> str:
    shown = ", ".join(names[m] for m in members[:MAX_SHOWN_ELEMENTS])
    hidden = len(members) - MAX_SHOWN_ELEMENTS
    more = f", … (+{hidden})" if hidden > 0 else ""
    return f"  C{index + 1:<3} size {len(members):<4} {{{shown}{more}}}"


def _type(kind: str, indicator: int) -> str:
    return f"{kind} ({'+1' if indicator > 0 else '−1' if indicator < 0 else '0'})"


def describe(irrep_set: IrrepSet) -> list[str]:
    """The lines printed by the ``group`` command."""
    group = irrep_set.group
    classes = group.conjugacy_classes
    lines = [
        f"group {group.name}: order {group.order}, "
        f"{'abelian' if group.is_abelian else 'non-abelian'}, {len(classes)} conjugacy classes, "
        f"{len(irrep_set.irreps)} irreps in {len(irrep_set.orbits)} real orbits "
        f"({irrep_set.method})",
        "",
        "conjugacy classes:",
    ]
    lines += [_class_line(i, members, group.element_names) for i, members in enumerate(classes)]
    width = max(len("label"), *(len(irrep.label) for irrep in irrep_set.irreps))
    lines += ["", "irreps:", f"  {'#':>3}  {'label':<{width}}  dim  {'type':<17} orbit"]
    for index, irrep in enumerate(irrep_set.irreps):
        orbit = irrep_set.orbit_of_irrep[index]
        lines.append(
            f"  {index:>3}  {irrep.label:<{width}}  {irrep.dim:>3}  "
            f"{_type(irrep.kind, irrep.indicator):<17} {orbit}: {irrep_set.orbits[orbit].label}"
        )
    report = verify(irrep_set)
    lines += [
        "",
        "verification (largest errors):",
        f"  homomorphism {report.homomorphism:.1e}   unitarity {report.unitarity:.1e}   "
        f"sum d^2 - n = {report.dimension_sum}",
        f"  Schur orthogonality {report.schur_orthogonality:.1e}   "
        f"Fourier unitarity {report.fourier_unitarity:.1e}   "
        f"characters {report.character_orthonormality:.1e}   "
        f"Plancherel {report.plancherel:.1e}",
    ]
    return lines


def check_save_path(path: str | Path) -> Path:
    """The --save target, refused unless it ends in .npz and its folder exists."""
    path = Path(path)
    if path.suffix != ".npz":
        raise UserError(f"--save needs a file name ending in .npz, got {path}")
    if path.is_dir():
        raise UserError(f"--save {path} is a folder; give a file name ending in .npz")
    check_writable_folder(path.parent if str(path.parent) else Path("."), f"file {path}")
    return path


def save_npz(irrep_set: IrrepSet, path: str | Path) -> Path:
    """Write ``table`` (n x n ints), ``irrep_0``, ``irrep_1``, … (n x d x d complex, in the
    printed order), ``labels``, ``element_names``, ``orbit_labels`` and
    ``orbit_of_irrep``, atomically (temporary file, then rename)."""
    path = check_save_path(path)
    arrays = {
        "table": irrep_set.group.table,
        "labels": np.array(irrep_set.labels),
        "element_names": np.array(irrep_set.group.element_names),
        "orbit_labels": np.array(irrep_set.orbit_labels),
        "orbit_of_irrep": irrep_set.orbit_of_irrep,
    }
    for index, irrep in enumerate(irrep_set.irreps):
        arrays[f"irrep_{index}"] = irrep.matrices
    try:
        write_atomic(path, lambda stream: np.savez(stream, **arrays))
    except OSError as error:
        raise UserError(write_failure(path, error)) from None
    return path


def run(args: argparse.Namespace) -> int:
    if args.save:
        check_save_path(args.save)
    group = parse_group(args.spec)
    irrep_set = irreps_of(group, "numerical" if args.numerical else "auto")
    print("\n".join(describe(irrep_set)))
    if args.save:
        saved = save_npz(irrep_set, args.save)
        print(f"\nsaved the table and {len(irrep_set.irreps)} irreps to {saved}")
    return 0
