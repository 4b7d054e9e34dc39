#!/usr/bin/env bash
# One tier of `make test`, timed: run it, print its wall time and keep it for the summary.
#   tests/timed.sh NAME COMMAND...    run COMMAND as tier NAME
#   tests/timed.sh --summary          every tier's time since the run began, and the total
set -u
times=build/tier-times
if [ "$1" = --summary ]; then
  echo "make test: wall time per tier"
  awk '{ total += $2; printf "  %-11s %4d min %02d s  (exit %s)\n", $1, $2 / 60, $2 % 60, $3 }
       END { printf "  %-11s %4d min %02d s\n", "total", total / 60, total % 60 }' "$times"
  exit 0
fi
name=$1
shift
mkdir -p build
start=$(date +%s)
"$@"
rc=$?
elapsed=$(( $(date +%s) - start ))
echo "$name $elapsed $rc" >> "$times"
printf '== tier %s: %d min %02d s (exit %d)\n' "$name" $((elapsed / 60)) $((elapsed % 60)) "$rc"
[ "$rc" = 0 ] || tests/timed.sh --summary
exit "$rc"
