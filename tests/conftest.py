import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as importing backend first does
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@pytest.fixture
def two_threads():
    """Two PyTorch threads (so that the step's lanes can run at once), restored after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)
