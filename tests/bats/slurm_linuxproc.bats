#!/usr/bin/env bats
# crest under Slurm with proctrack/linuxproc, where Slurm's signals reach
# every process of a task's tree, not only the task (slurm.bats runs the
# rest under proctrack/cgroup; slurm_helpers.bash has the cluster).

load helpers
load slurm_helpers

setup_file() {
	slurm_setup_file linuxproc
}

teardown_file() {
	slurm_teardown_file
}

teardown() {
	slurm_teardown
}

@test "preemption (proctrack/linuxproc: SIGTERM reaches every process): a final checkpoint, the job is requeued and its rerun continues" {
	slurm_preemption
}

@test "scancel (the default cancel=exit): the job ends at once, without a final checkpoint, and its tasks act on the SIGTERM" {
	submit -N2 --ntasks-per-node=2 --checkpoint=0 --export=ALL,STEPS=600 job.sh
	wait_log "$J" 'the step has started' 30
	sleep 1
	as_user scancel "$J"
	# KillWait is 10 s: the tasks end before Slurm has to kill them
	wait_state "$J" CANCELLED 8
	local d
	d=$(step_dir "$J")
	run_logged cat "$d/coord.log"
	grep -q 'the job is cancelled: no final checkpoint' "$d/coord.log"
	! ls -d "$d"/gen-* 2>/dev/null || false
	run_logged cat "$W/out.$J"
	! grep -q 'stays stopped' "$W/out.$J" || false
	! grep -q '^result' "$W/out.$J" || false
}
