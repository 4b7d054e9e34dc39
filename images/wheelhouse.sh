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
    cpu)  "$root/.venv/bin/python" "$root/images/runtime_requirements.py" "$root/requirements.lock" ;;
    cuda) printf 'torch==%s\nxgboost==%s\n' \
              "$(sed -n 's/^torch==\([0-9.]*\).*/\1/p' "$root/requirements.lock")" \
              "$(sed -n 's/^xgboost-cpu==//p' "$root/requirements.lock")" ;;
esac > "$out/requirements.txt"
if [ "$stage" = cuda ]; then
    # PyPI's torch is the CUDA build; a local wheel folder or mirror would offer the CPU build
    # (2.x.y+cpu also satisfies torch==2.x.y), so only the index is asked, with the lock as
    # constraints except for the two packages swapped here.
    grep -v -E '^(torch|xgboost-cpu)==' "$root/requirements.lock" > "$out/constraints.txt"
    PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_EXTRA_INDEX_URL= \
        $pip download --quiet --dest "$out" --constraint "$out/constraints.txt" -r "$out/requirements.txt"
    if ls "$out"/torch-*+cpu-*.whl >/dev/null 2>&1; then
        echo "wheelhouse.sh: the index gave CPU torch; the CUDA image needs PyPI's torch (set PIP_INDEX_URL)" >&2
        exit 1
    fi
else
    # CPU torch comes from the machine's wheel folder when there is one (PyPI's default is CUDA).
    $pip download --quiet --dest "$out" --constraint "$root/requirements.lock" \
        $( [ ! -d /opt/wheels ] || echo --find-links /opt/wheels ) -r "$out/requirements.txt"
fi
# The course package apart (build/wheelhouse/self): it changes with every commit, the rest with the
# lock only, so the image layer that installs the rest stays cached.
rm -rf "$out"/hepcourse-*.whl "$root/build/wheelhouse/self" && $pip wheel --quiet --no-deps --wheel-dir "$root/build/wheelhouse/self" "$root"
echo "$out: $(ls "$out" | wc -l) files, $(du -sh "$out" | cut -f1)"
