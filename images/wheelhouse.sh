#!/bin/sh
# Prepare build/wheelhouse/STAGE on the host (where the package index is reachable) so that the
# image builds offline (`pip install --no-index`). Versions come from requirements.lock, the run
# time's closure with every file's hash (the development packages are in requirements-dev.lock,
# never in an image).
#   images/wheelhouse.sh test|cpu|cuda
set -eu
stage=${1:?usage: wheelhouse.sh test|cpu|cuda}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build/wheelhouse/$stage
pip="$root/.venv/bin/python -m pip"
mkdir -p "$out"
# The lock's pins without their extras and hashes: constraints for the stages that resolve a part of it.
pins() { sed -n 's/^\([A-Za-z0-9._-]*\)\(\[[^]]*\]\)\{0,1\}\(==[^ ]*\).*/\1\3/p' "$root/requirements.lock"; }
case $stage in
    test)
        pins | grep -E '^(jupyterhub|jupyterlab|notebook|nbgrader|ipykernel|numpy)==' > "$out/requirements.txt"
        pins > "$out/constraints.txt"
        $pip download --quiet --dest "$out" --constraint "$out/constraints.txt" -r "$out/requirements.txt" ;;
    cpu)
        # Exactly the lock, each file checked against its hashes; CPU torch from the machine's
        # wheel folder when there is one (PyPI's default is CUDA).
        cp "$root/requirements.lock" "$out/requirements.txt"
        $pip download --quiet --dest "$out" --require-hashes --no-deps \
            $( [ ! -d /opt/wheels ] || echo --find-links /opt/wheels ) -r "$out/requirements.txt" ;;
    cuda)
        # PyPI's torch and torchvision are the CUDA builds (torchvision 0.28 is the release for
        # torch 2.13; its wheels need CUDA torch, which is why the CPU lock has none), xgboost the
        # GPU one. A local wheel folder or mirror would offer CPU torch (2.x.y+cpu also satisfies
        # torch==2.x.y), so only the index is asked, with the lock as constraints except for the
        # packages swapped here.
        printf 'torch==%s\ntorchvision==0.28.0\nxgboost==%s\n' "$(pins | sed -n 's/^torch==\([0-9.]*\).*/\1/p')" \
            "$(pins | sed -n 's/^xgboost-cpu==//p')" > "$out/requirements.txt"
        pins | grep -v -E '^(torch|xgboost-cpu)==' > "$out/constraints.txt"
        PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_EXTRA_INDEX_URL= \
            $pip download --quiet --dest "$out" --constraint "$out/constraints.txt" -r "$out/requirements.txt"
        if ls "$out"/torch-*+cpu-*.whl >/dev/null 2>&1; then
            echo "wheelhouse.sh: the index gave CPU torch; the CUDA image needs PyPI's torch (set PIP_INDEX_URL)" >&2
            exit 1
        fi ;;
esac
# The course package apart (build/wheelhouse/self): it changes with every commit, the rest with the
# lock only, so the image layer that installs the rest stays cached.
rm -rf "$out"/hepcourse-*.whl "$root/build/wheelhouse/self" && $pip wheel --quiet --no-deps --wheel-dir "$root/build/wheelhouse/self" "$root"
echo "$out: $(ls "$out" | wc -l) files, $(du -sh "$out" | cut -f1)"
