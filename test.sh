#!/usr/bin/env bash
# Installs what the tests need, checks the code with ruff and runs the whole suite (this is the README's test command; CI runs it too).
# The browser test uses Debian's Chromium: installed here with apt-get when it is missing and we are root.
set -euo pipefail
cd "$(dirname "$0")"
python -m pip install -q -r requirements-dev.txt
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null) \
    || echo "test.sh: could not install chromium; the browser test will say so" >&2
fi
python -m ruff check studio tests bench app.py   # pyflakes, pycodestyle, isort, bugbear, pyupgrade (pyproject.toml)
exec python -m pytest "$@"
