#!/bin/sh
# scikit-hep-testdata downloads its files from GitHub at first use, which the course's machines do
# not reach (and no package registry serves them): the ones the course ships go where the package
# looks first, its own data folder, in the environment of PYTHON.
#   images/testdata.sh PYTHON FOLDER    (FOLDER: datasets/skhep-testdata)
set -eu
cp "$2"/*.root "$("$1" -c 'import pathlib, skhep_testdata; print(pathlib.Path(skhep_testdata.__file__).parent / "data")')"
