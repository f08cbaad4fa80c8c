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
