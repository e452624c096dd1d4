# Sourced by scripts/test and scripts/demo: a virtualenv in .venv with the project installed.
# Needs only python3 (3.11+); on Debian/Ubuntu without the venv module it installs python3-venv
# when run as root, or says which package to install.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
# One line per step on stderr, so a first run that takes a minute is not silent.
step() { echo "bootstrap: $*" >&2; }

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "targetsms-worker needs Python 3.11 or newer as '$PYTHON' (set PYTHON=...)" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  step "creating the virtualenv in .venv"
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    rm -rf .venv
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      ver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
      step "installing python${ver}-venv with apt-get"
      apt-get update -qq && { apt-get install -y -qq "python${ver}-venv" || apt-get install -y -qq python3-venv; }
      "$PYTHON" -m venv .venv
    else
      echo "python3 cannot create a virtualenv: install the python3-venv package" >&2
      exit 1
    fi
  fi
fi
# Reinstall only when the project's metadata changed since the last install.
stamp=.venv/.installed-$(cksum < pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ]; then
  step "upgrading pip"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  step "installing targetsms-worker and its dev tools into .venv (about a minute the first time)"
  .venv/bin/python -m pip install -q -e ".[dev]"
  rm -f .venv/.installed-* && touch "$stamp"
  step "ready: .venv/bin has targetsms, celery and honcho"
fi
export PATH="$ROOT/.venv/bin:$PATH"
# The suite and the demo start hundreds of Python processes (workers, the CLI, servers, one
# pytest per xdist worker). Under PYTHONDONTWRITEBYTECODE (some images set it) each of them
# compiled the project again, and every pytest process rewrote every test module's asserts
# again: collecting the suite took 12.4 s per process with it, 4.6 s without, and the unit
# tier 16.5-17.7 s against 13.5-14.4 s. The caches go to the ignored __pycache__ folders.
unset PYTHONDONTWRITEBYTECODE
