"""Everything that computes. Never imports Qt.

NumPy's OpenBLAS keeps its own pool of threads next to PyTorch's. Its work here is small
(batched eigenvalues of d × d matrices, products of a few thousand entries), and when the
two pools take turns each waits on the other's spinning threads: the metrics of 1024
neurons over S5 took 24 ms instead of 15 and a measured training step paid 60 ms instead
of 13. So, unless the user has chosen otherwise, OpenBLAS runs on one thread. The
variable is read when NumPy loads OpenBLAS, so this only takes effect when ``backend``
is imported before NumPy (``main.py`` imports it first; the benchmarks and the tests
set the variable themselves). Only on x86-64, where PyTorch's own products use MKL: on
other processors PyTorch may use OpenBLAS itself, and one thread would slow training.

OpenMP's threads wait passively (``OMP_WAIT_POLICY``, read when PyTorch loads its OpenMP
runtime): threads that spin while waiting take the core of any other process, and a
busy machine then trains many times slower on two threads than on one (see
``backend.threads``, which also chooses the thread count).
"""

import os
import platform

if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
