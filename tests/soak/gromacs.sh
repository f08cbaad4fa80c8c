#!/bin/bash
# gromacs: a real molecular dynamics code nobody here wrote.  Debian's
# GROMACS (gmx, thread-MPI, OpenMP) builds a box of 510 SPC/E waters
# (gmx solvate, gmx grompp) and runs 40000 MD steps of it (PME, V-rescale
# thermostat with a fixed seed, h-bond constraints) with -reprod on one
# rank of 2 OpenMP threads, which makes the run bitwise reproducible.
# Prints `RESULT <md5 of the final coordinates> <last step>` and PASS, or
# FAIL and why.  Run as `bash tests/soak/gromacs.sh`; GMX_STEPS changes
# the number of steps, GMX_WORK the folder its work folder is made in
# (default $TMPDIR or /tmp), GMX_KEEP=1 keeps that.
set -uo pipefail
export LC_ALL=C

STEPS=${GMX_STEPS:-40000}

fail() {
	echo "FAIL gromacs: $*"
	exit 1
}

command -v gmx >/dev/null || fail "gmx not found: scripts/install-deps.sh --soak installs Debian's gromacs"
TMP=$(mktemp -d "${GMX_WORK:-${TMPDIR:-/tmp}}/crest-gromacs.XXXXXX") || fail "mktemp -d failed"
trap '[ -n "${GMX_KEEP:-}" ] || rm -rf "$TMP"' EXIT
cd "$TMP" || fail "cd $TMP"

cat >topol.top <<'TOP'
#include "oplsaa.ff/forcefield.itp"
#include "oplsaa.ff/spce.itp"

[ system ]
water

[ molecules ]
TOP
cat >md.mdp <<MDP
integrator      = md
dt              = 0.002
nsteps          = $STEPS
cutoff-scheme   = Verlet
nstlist         = 10
rlist           = 1.0
coulombtype     = PME
rcoulomb        = 1.0
rvdw            = 1.0
tcoupl          = V-rescale
tc-grps         = System
tau-t           = 0.1
ref-t           = 300
ld-seed         = 1234
gen-vel         = yes
gen-temp        = 300
gen-seed        = 1234
constraints     = h-bonds
nstcalcenergy   = 100
nstenergy       = 500
nstlog          = 500
MDP

gmx -quiet solvate -cs spc216.gro -box 2.5 2.5 2.5 -o water.gro -p topol.top >solvate.log 2>&1 ||
	fail "gmx solvate: $(tail -n 5 solvate.log)"
gmx -quiet grompp -f md.mdp -c water.gro -p topol.top -o md.tpr >grompp.log 2>&1 ||
	fail "gmx grompp: $(tail -n 5 grompp.log)"
echo "gromacs: $STEPS steps of $(grep -c OW water.gro) waters"
# (GROMACS's own checkpoint comes every 15 minutes, and at the end)
gmx -quiet mdrun -s md.tpr -deffnm md -ntmpi 1 -ntomp 2 -reprod -nb cpu -pin off >mdrun.log 2>&1 ||
	fail "gmx mdrun: $(tail -n 5 mdrun.log)"
[ -s md.gro ] || fail "no final coordinates (md.gro)"
last=$(awk '/^ +Step +Time/ { getline; step = $1 } END { print step }' md.log)
[ "$last" = "$STEPS" ] || fail "the log's last step is $last, want $STEPS"
echo "RESULT $(md5sum <md.gro | cut -d' ' -f1) step=$last"
echo PASS
