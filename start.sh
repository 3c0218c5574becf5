#!/usr/bin/env bash
# Launch Irrep Studio (sets itself up on first use). Extra arguments go to main.py.
set -euo pipefail
cd "$(dirname "$0")"
source tools/bootstrap.sh gui
exec "$PYTHON" main.py "$@"
