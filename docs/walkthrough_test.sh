#!/usr/bin/env bash
# The plugin walkthrough (docs/plugins/walkthrough.md), run as a new user would run it.
#
#   docs/walkthrough_test.sh [PYTHON]     PYTHON: an interpreter with vecrender installed
#                                         (default: $PYTHON, else python3 on PATH)
#
# Creates a fresh virtual environment that reuses PYTHON's packages (no torch reinstall), scaffolds
# the plugin with `vecrender new-plugin`, installs it, writes the files exactly as the page shows
# them (code blocks with a title, extracted by docs/extract_blocks.py), runs the recipe for 2 steps
# on a 32 px canvas and runs the plugin's tests. Offline when setuptools >= 70.1 is installed.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
python="${1:-${PYTHON:-python3}}"
work="$(mktemp -d "${TMPDIR:-/tmp}/vecrender-walkthrough.XXXXXX")"
keep() { echo "walkthrough FAILED; its files are kept in $work" >&2; }
trap keep ERR
step() { echo "== $*"; }

step "fresh virtual environment in $work/venv"
"$python" -m venv --system-site-packages --without-pip "$work/venv"
# --system-site-packages only reaches the base interpreter; when PYTHON is itself a virtual
# environment, also load its site-packages (and their .pth files: editable installs) in the new one;
# --without-pip: pip and setuptools then come from there too (a recent setuptools builds the wheel).
parent_site="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
child_site="$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "import site; site.addsitedir('$parent_site')" > "$child_site/_vecrender_parent_env.pth"
# The console script lives in PYTHON's environment; give the new one its own.
cat > "$work/venv/bin/vecrender" <<SCRIPT
#!$work/venv/bin/python
import sys
from vecrender.cli import main
sys.exit(main())
SCRIPT
chmod +x "$work/venv/bin/vecrender"
export PATH="$work/venv/bin:$PATH" VIRTUAL_ENV="$work/venv"
unset PYTHONPATH VECRENDER_LOAD_PLUGINS VECRENDER_DISABLE_PLUGINS
export VECRENDER_STRICT_PLUGINS=1   # a broken plugin must fail this test, not be skipped
cd "$work"

step "vecrender new-plugin inkwell"
vecrender new-plugin inkwell
# Offline when a setuptools that builds wheels by itself (>= 70.1) is already installed; otherwise
# pip builds in isolation and fetches setuptools from the package index.
if python -c 'import setuptools as s, sys; sys.exit(tuple(map(int, s.__version__.split(".")[:2])) < (70, 1))' 2>/dev/null; then
  pip_flags=(--no-index --no-build-isolation)
else
  pip_flags=()
fi
python -m pip install -q "${pip_flags[@]}" --no-deps -e "./inkwell[test]"  # pytest: already here
vecrender plugins | grep -q '"distribution": "inkwell"'
(cd inkwell && python -m pytest -q -p no:cacheprovider)

step "write the files shown in the walkthrough"
python "$repo/docs/extract_blocks.py" "$repo/docs/plugins/walkthrough.md" "$work"
for f in inkwell/inkwell/soft.py inkwell/inkwell/plugin.py soft_sketch.yaml inkwell/tests/test_soft.py; do
  test -s "$f" || { echo "the walkthrough no longer shows $f" >&2; exit 1; }
done
vecrender describe loss inkwell.soft_l2 | grep -q radius

step "run the recipe (2 steps, 32 px)"
python -c "from vecrender.testing import write_test_image; write_test_image('photo.png', 48)"
vecrender run soft_sketch.yaml --input photo.png --steps 2 --strokes 4 --set canvas=32 \
  --out runs/soft --quiet
test -s runs/soft/best.svg
grep -q 'inkwell.soft_l2' runs/soft/recipe.resolved.yaml
grep -q '"inkwell"' runs/soft/recipe.resolved.yaml || grep -q 'inkwell:' runs/soft/recipe.resolved.yaml

step "the plugin's tests, including the walkthrough's"
(cd inkwell && python -m pytest -q -p no:cacheprovider)

trap - ERR
rm -rf "$work"
echo "walkthrough OK"
