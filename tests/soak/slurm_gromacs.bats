#!/usr/bin/env bats
# make soak: GROMACS (tests/soak/gromacs.sh) as a Slurm job on the test
# cluster (tests/cluster/, slurm_helpers.bash), submitted by the
# unprivileged user crest-test: checkpointed by the plugin while mdrun
# runs, cancelled (a final checkpoint), and continued by a new job with
# sbatch --restart-from on another node, to the final coordinates of an
# uninterrupted run.  Its work folder is in the shared $W: the files
# gromacs.sh made before mdrun (topology, inputs) are the file system's,
# not the checkpoint's, and must be there on the other node.

load ../bats/helpers
load ../bats/slurm_helpers

setup_file() {
	command -v gmx >/dev/null || skip "gmx is missing (scripts/install-deps.sh --soak)"
	# cancel=checkpoint: a plain scancel takes a final checkpoint
	slurm_setup_file linuxproc "local_ok=yes cancel=checkpoint"
	cp "$TOP/tests/soak/gromacs.sh" "$W/"
	chmod a+r "$W/gromacs.sh"
	cat >"$W/gmx.sh" <<'JOB'
#!/bin/bash
echo "run SLURM_RESTART_COUNT=${SLURM_RESTART_COUNT:-0} on $SLURM_JOB_NODELIST"
export CREST_LOG=info
GMX_WORK=$PWD srun -n1 -c2 bash gromacs.sh
echo "job done (srun exit $?)"
JOB
	chmod 0755 "$W/gmx.sh"
}

teardown_file() {
	slurm_teardown_file
}

teardown() {
	slurm_teardown
}

@test "GROMACS under Slurm: checkpointed every 5 s, scancel (a final checkpoint), sbatch --restart-from on another node: mdrun ends with the uninterrupted run's final coordinates" {
	local want first d
	# the uninterrupted run, here, outside Slurm
	run_logged bash "$W/gromacs.sh"
	[ "$status" -eq 0 ]
	want=$(grep '^RESULT ' <<<"$output")
	[ -n "$want" ]

	submit -N1 -c2 -w node1 --checkpoint=5s gmx.sh
	first=$J
	wait_log "$first" 'generation 2 committed' 60 || { cat "$W/out.$first"; false; }
	run_logged as_user scancel "$first"
	wait_state "$first" CANCELLED 60
	wait_log "$first" 'a final checkpoint' 30
	d=$(step_dir "$first")
	run_logged cat "$W/out.$first"
	# gromacs.sh's EXIT trap would remove its work folder: after the final
	# checkpoint the task is held, and the TERM that ends it skips the trap
	run_logged cat "$d/coord.log"
	ls -d "$W"/crest-gromacs.*
	grep -q '^gromacs: ' "$W/out.$first"
	! grep -q '^RESULT' "$W/out.$first" || false

	submit -N1 -c2 -w node2 --restart-from="$CKB/crest-test/$first" gmx.sh
	wait_state "$J" COMPLETED 300
	run_logged cat "$W/out.$J"
	# it continued: gromacs.sh's first line is not printed again
	! grep -q '^gromacs: ' "$W/out.$J" || false
	grep -qx "$want" "$W/out.$J"
	grep -q 'crest: restarted from generation' "$W/out.$J"
	grep -q "restarts from generation" "$STATE/log/slurmd.node2.log"
	[ -e "$d/DONE" ]
}
