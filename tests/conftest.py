import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as importing backend first does
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
