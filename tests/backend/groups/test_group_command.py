import subprocess
import sys
from pathlib import Path

import numpy as np

from backend.cli import main as headless_main

ROOT = Path(__file__).resolve().parents[3]


def _run(*args):
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_group_command_prints_and_saves(tmp_path):
    target = tmp_path / "d4.npz"
    result = _run("group", "D4", "--save", str(target))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "group D4: order 8, non-abelian, 5 conjugacy classes, 5 irreps in 5 real orbits" in out
    assert "conjugacy classes:" in out and "size 2" in out
    assert "2-dim k=1" in out and "real (+1)" in out
    assert "homomorphism" in out and "Plancherel" in out and "sum d^2 - n = 0" in out

    data = np.load(target)
    table = data["table"]
    assert table.shape == (8, 8) and np.issubdtype(table.dtype, np.integer)
    irreps = [data[f"irrep_{i}"] for i in range(5)]
    assert f"irrep_{5}" not in data
    assert sum(m.shape[1] ** 2 for m in irreps) == 8
    for m in irreps:
        assert np.iscomplexobj(m)
        # independent homomorphism check on the saved arrays: rho(g) rho(h) = rho(gh)
        products = np.einsum("gab,hbc->ghac", m, m)
        assert np.abs(products - m[table]).max() < 1e-10
    assert list(data["labels"])[-1] == "2-dim k=1"


def test_group_command_numerical_and_orbits():
    result = _run("group", "C7:C3")
    assert result.returncode == 0, result.stderr
    assert "χ2/χ3 (1-dim, complex)" in result.stdout
    assert "(numerical)" in result.stdout


def test_group_command_refusals_are_one_line_errors(capsys):
    assert headless_main(["group", "C5000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: C5000 has order 5000, which is too large")
    assert "Traceback" not in err
    assert headless_main(["group", "nonsense"]) == 2
    assert "unknown group 'nonsense'" in capsys.readouterr().err
    assert headless_main(["group", "C3", "--save", "/nonexistent-folder/x.npz"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert headless_main(["group", "C3", "--save", "out.txt"]) == 2
    assert "ending in .npz" in capsys.readouterr().err


def test_group_command_in_process_cyclic(capsys):
    assert headless_main(["group", "C12"]) == 0
    out = capsys.readouterr().out
    assert "k=±3" in out and "k=6" in out and "complex (0)" in out
