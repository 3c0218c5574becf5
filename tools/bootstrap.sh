#!/usr/bin/env bash
# Sets up everything the app and its tests need, once: the Qt system libraries (as root on
# Debian), a local virtual environment in .venv, torch 2.13.0 first (so that pip does not
# fetch a CUDA build), then the project itself. Quick when everything is already there.
# Usage: source tools/bootstrap.sh [gui]   ("gui" adds the libraries of a real X window)
set -euo pipefail
root_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

offscreen_libs=(libegl1 libgl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3 libxkbcommon0 libx11-6)
x11_libs=(xvfb xauth libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-glx0 libxcb-icccm4 libxcb-image0
  libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-shm0
  libxcb-sync1 libxcb-util1 libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0)

install_system_libraries() {
  local wanted=("${offscreen_libs[@]}")
  [ "${1:-}" = "gui" ] && wanted+=("${x11_libs[@]}")
  command -v dpkg-query >/dev/null 2>&1 || return 0
  local missing=()
  for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Qt system libraries: ${missing[*]}" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "Note: Qt may need these system packages: ${missing[*]} (install them with your package manager)." >&2
  fi
}

create_environment() {
  local venv="$root_dir/.venv"
  local stamp="$venv/.installed-from"
  local want
  want="$(sha256sum "$root_dir/pyproject.toml" | cut -d' ' -f1)"
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "Setting up the Python environment in .venv (first run only)..." >&2
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  local log="$venv/install.log"
  : > "$log"
  "$venv/bin/python" -m pip install -q --upgrade pip >>"$log" 2>&1 || true
  "$venv/bin/python" -c "import torch" 2>/dev/null \
    || "$venv/bin/python" -m pip install torch==2.13.0 >>"$log" 2>&1 || true
  "$venv/bin/python" -m pip install -e "$root_dir[test]" >>"$log" 2>&1 || true
  if ! "$venv/bin/python" -c "import torch, PyQt6, pyqtgraph, scipy, imageio_ffmpeg, pytest, ray" 2>>"$log"; then
    grep -v "is ignored" "$log" | tail -n 25 >&2
    echo "error: the Python environment could not be set up (pip's messages above; full log in $log)." >&2
    return 1
  fi
  echo "Compiling the training kernels (first run only)..." >&2
  # a failure is shown (training then runs on PyTorch's own operations, more slowly)
  (cd "$root_dir" && "$venv/bin/python" -m backend.training.kernels) >>"$log" || true
  echo "$want" > "$stamp"
}

install_system_libraries "${1:-}"
create_environment
PYTHON="$root_dir/.venv/bin/python"
export PYTHON
