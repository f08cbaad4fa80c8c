#!/bin/bash
# make soak: real programs nobody here wrote, each through SOAK_CYCLES
# (default 10) checkpoint, kill -9 and restart cycles at random moments
# (tests/cr/run-cycles.sh), each ending with the uninterrupted run's
# result.  Too long for make check; docs/testing.md, "make soak".
#   gromacs        tests/soak/gromacs.sh: GROMACS MD, bitwise reproducible
#   slurm_gromacs  tests/soak/slurm_gromacs.bats: the same as a Slurm job,
#                  cancelled and continued on another node
# SOAK_ONLY="gromacs slurm_gromacs" runs some; SOAK_TIMEOUT (s, default
# 900) per program.
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
	[ "$name" = slurm_gromacs ] && continue
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
# under Slurm, on the test cluster (root, network namespaces: it skips
# itself without)
if [ -z "${SOAK_ONLY:-}" ] || [[ " $SOAK_ONLY " == *" slurm_gromacs "* ]]; then
	t0=$SECONDS
	if bats "$TOP/tests/soak/slurm_gromacs.bats"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
	fi
	echo "  (slurm_gromacs: $((SECONDS - t0)) s)"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
