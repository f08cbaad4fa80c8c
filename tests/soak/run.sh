#!/bin/bash
# make soak: real programs nobody here wrote, each through SOAK_CYCLES
# (default 10) checkpoint, kill -9 and restart cycles at random moments
# (tests/cr/run-cycles.sh), each ending with the uninterrupted run's
# result.  Too long for make check; docs/testing.md, "make soak".
#   gromacs  tests/soak/gromacs.sh: GROMACS MD, bitwise reproducible
# SOAK_ONLY="gromacs" runs some; SOAK_TIMEOUT (s, default 900) per program.
set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP" || exit 1
export CR_CYCLES=${SOAK_CYCLES:-10}
export CR_TIMEOUT=${SOAK_TIMEOUT:-900}

declare -A CMD=(
	[gromacs]="bash $TOP/tests/soak/gromacs.sh"
)
ORDER="gromacs"

pass=0 fail=0
for name in ${SOAK_ONLY:-$ORDER}; do
	if [ -z "${CMD[$name]:-}" ]; then
		echo "FAIL soak_$name: no such soak program (have: $ORDER)"
		fail=$((fail + 1))
		continue
	fi
	t0=$SECONDS
	# shellcheck disable=SC2086  # the command is words
	if tests/cr/run-cycles.sh "soak_$name" ${CMD[$name]}; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
	fi
	echo "  (soak_$name: $CR_CYCLES cycles, $((SECONDS - t0)) s)"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
