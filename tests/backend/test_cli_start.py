"""Commands that need no tensors load no tensor library; a closed pipe ends quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import sys
sys.argv = ["main.py", *{args!r}]
import main
try:
    status = main.main()
except SystemExit as leaving:  # argparse leaves after --help
    status = leaving.code
heavy = sorted(name for name in ("torch", "scipy", "PyQt6", "pyqtgraph") if name in sys.modules)
print("LOADED", ",".join(heavy), "STATUS", status, file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["presets"], ["group", "C12"],
                                  ["train", "--preset", "nope"], ["agf", "--set", "width=0"],
                                  ["group", "Q7"]])
def test_light_commands_load_no_heavy_library(args):
    result = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("LOADED  STATUS"), result.stderr  # nothing heavy loaded
    if args[0] in ("train", "agf") or args == ["group", "Q7"]:
        assert "error:" in result.stderr and last.endswith("STATUS 2")


def test_a_closed_pipe_ends_quietly():
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        result = subprocess.run([sys.executable, str(ROOT / "main.py"), "group", "S5"],
                                cwd=ROOT, stdout=write_end, stderr=subprocess.PIPE, text=True,
                                timeout=120)
    finally:
        os.close(write_end)
    assert result.returncode == 141
    assert result.stderr == ""
