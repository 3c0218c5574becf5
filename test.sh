#!/usr/bin/env bash
# Run the whole test suite, GUI tests offscreen (sets itself up on first use).
set -euo pipefail
cd "$(dirname "$0")"
source tools/bootstrap.sh
export QT_QPA_PLATFORM=offscreen
exec "$PYTHON" -m pytest -q "$@"
