#!/usr/bin/env bash
# Creates the virtualenv of the python-telegram-bot peer (bot.py) and installs the pinned
# requirements.txt into it; prints the venv's python as the last line of stdout.
#
#   loadtest/peers/python/setup.sh [VENV_DIR]
#
# VENV_DIR defaults to target/loadtest-venv under the repository root (a relative VENV_DIR
# is taken from the current directory). Needs CPython >= 3.10 (python3.11 is preferred;
# set PYTHON to choose another) and pip reaching PyPI. Idempotent: a venv that already
# holds exactly the pinned versions is left alone (no network needed then). Everything
# but the final path goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
requirements="$here/requirements.txt"
venv="${1:-$root/target/loadtest-venv}"
[[ "$venv" == /* ]] || venv="$PWD/$venv"
venv_python="$venv/bin/python"

# Exits 0 when the interpreter running it has exactly the versions pinned in $1.
check_pins='
import sys
from importlib.metadata import PackageNotFoundError, version
for line in open(sys.argv[1], encoding="utf-8"):
    spec = line.split("#", 1)[0].strip()
    if not spec:
        continue
    name, _, want = spec.partition("==")
    try:
        have = version(name.strip())
    except PackageNotFoundError:
        sys.exit(f"{name.strip()} is missing")
    if have != want.strip():
        sys.exit(f"{name.strip()} is {have}, not {want.strip()}")
'

if [[ -x "$venv_python" ]] && "$venv_python" -c "$check_pins" "$requirements" 2>/dev/null; then
    echo "setup.sh: $venv already has the pinned packages" >&2
    echo "$venv_python"
    exit 0
fi

python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then
            python="$candidate"
            break
        fi
    done
fi
if [[ -z "$python" ]]; then
    echo "setup.sh: no python3.11 or python3 on PATH (set PYTHON)" >&2
    exit 1
fi
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "setup.sh: $python is $("$python" -V 2>&1); python-telegram-bot 22 needs >= 3.10" >&2
    exit 1
fi

echo "setup.sh: creating $venv with $("$python" -V 2>&1) and installing $requirements" >&2
mkdir -p "$(dirname "$venv")"
# --clear: a venv left broken (a half-done install, a removed base interpreter) starts over.
"$python" -m venv --clear "$venv" >&2
"$venv_python" -m pip install --disable-pip-version-check --no-input --progress-bar off \
    --quiet -r "$requirements" >&2
if ! "$venv_python" -c "$check_pins" "$requirements" >&2; then
    echo "setup.sh: $venv does not hold the pinned versions after installing" >&2
    exit 1
fi
"$venv_python" -c 'import telegram, httpx' >&2
echo "$venv_python"
