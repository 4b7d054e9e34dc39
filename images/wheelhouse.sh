#!/bin/sh
# Prepare build/wheelhouse/STAGE on the host (where the package index is reachable) so that the
# image builds offline (`pip install --no-index`). Versions come from requirements.lock.
#   images/wheelhouse.sh test|cpu|cuda
set -eu
stage=${1:?usage: wheelhouse.sh test|cpu|cuda}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build/wheelhouse/$stage
pip="$root/.venv/bin/python -m pip"
mkdir -p "$out"
case $stage in
    test) grep -E '^(jupyterhub|jupyterlab|notebook|nbgrader|ipykernel|numpy)==' "$root/requirements.lock" ;;
    cpu)  grep -v -E '^(playwright|pytest|ruff|websocket-client)' "$root/requirements.lock" ;;
    cuda) printf 'torch==%s\nxgboost==%s\n' \
              "$(sed -n 's/^torch==\([0-9.]*\).*/\1/p' "$root/requirements.lock")" \
              "$(sed -n 's/^xgboost-cpu==//p' "$root/requirements.lock")" ;;
esac > "$out/requirements.txt"
# CPU torch comes from the machine's wheel folder when there is one (PyPI's default is CUDA).
$pip download --quiet --dest "$out" --constraint "$root/requirements.lock" \
    $( [ "$stage" = cuda ] || [ ! -d /opt/wheels ] || echo --find-links /opt/wheels ) \
    -r "$out/requirements.txt"
# The course package apart (build/wheelhouse/self): it changes with every commit, the rest with the
# lock only, so the image layer that installs the rest stays cached.
rm -rf "$out"/hepcourse-*.whl "$root/build/wheelhouse/self" && $pip wheel --quiet --no-deps --wheel-dir "$root/build/wheelhouse/self" "$root"
echo "$out: $(ls "$out" | wc -l) files, $(du -sh "$out" | cut -f1)"
