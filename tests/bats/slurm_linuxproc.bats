#!/usr/bin/env bats
# crest under Slurm with proctrack/linuxproc, where Slurm's signals reach
# every process of a task's tree, not only the task (slurm.bats runs the
# rest under proctrack/cgroup; slurm_helpers.bash has the cluster).

load helpers
load slurm_helpers

setup_file() {
	# local_ok=yes: tmpfs is allowed, the nodes must still share the folder;
	# register_wait=5s: a task that never registers is told of soon;
	# timelimit (the default, checkpoint) with a margin of 25 s: a job
	# with a 1-minute limit checkpoints after about 35 s
	slurm_setup_file linuxproc "local_ok=yes register_wait=5s timelimit_margin=25s"
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
	grep -q 'the job is cancelled (JobState=[A-Z]* Reason=[^)]*): no final checkpoint' "$d/coord.log"
	! ls -d "$d"/gen-* 2>/dev/null || false
	run_logged cat "$W/out.$J"
	! grep -q 'stays stopped' "$W/out.$J" || false
	! grep -q '^result' "$W/out.$J" || false
}

@test "local_ok=yes: a one-node step may checkpoint to the node's own /local; a step of two nodes that do not share the folder is refused, naming it" {
	run_logged as_user srun -N1 --checkpoint=0 --checkpoint-dir=/local/ck sh -c 'ls -d /local/ck/*/*'
	[ "$status" -eq 0 ]
	run_logged as_user srun -N2 --checkpoint=0 --checkpoint-dir=/local/ck true
	[ "$status" -ne 0 ]
	grep -q 'crest: .*node 1 does not see the step folder /local/ck/' <<<"$output"
	grep -q 'shares' <<<"$output"
}

@test "never silently unprotected: a task that never registers (a static binary) makes the node's other tasks print that the step is not checkpointed" {
	cat >"$W/static.conf" <<'EOF'
0 sleep 9
1 /bin/busybox sleep 9
EOF
	chmod a+r "$W/static.conf"
	run_logged as_user srun -N1 -n2 --checkpoint=0 --multi-prog static.conf
	[ "$status" -eq 0 ]
	grep -q 'crest: this step is NOT checkpointed: on node 0 only 1 of its 2 tasks registered with crest within 5 s (ranks registered: 0; missing: 1)' <<<"$output"
}

@test "a one-node step has a root on TCP: crest checkpoint --job (munge) waits and answers its generation there too; its root killed, the tasks start it again and the next --job answers; the job ends right" {
	local d old new i
	submit -N1 --ntasks-per-node=2 --checkpoint=0 --export=ALL,STEPS=200,CREST_RESPAWN_AFTER=1 job.sh
	wait_log "$J" 'the step has started' 30
	d=$(step_dir "$J")
	[ -s "$d/ROOT" ]
	grep -qx "$J\.0\.[0-9]*" "$d/STARTED"
	run_logged as_user "$P/bin/crest" checkpoint --job "$J"
	[ "$status" -eq 0 ]
	[ "$output" = 1 ]
	grep -q "checkpoint requested by uid $(id -u crest-test) .*(munge)" "$d/coord.log"
	grep -q 'generation 1 committed' "$d/coord.log"
	# kill -9 of the root: one of the tasks starts it again, on a new port
	old=$(awk '$1 == "pid" { print $2 }' "$d/COORD")
	kill -9 "$old"
	for ((i = 0; i < 100; i++)); do
		new=$(awk '$1 == "pid" { print $2 }' "$d/COORD" 2>/dev/null)
		[ -n "$new" ] && [ "$new" != "$old" ] && [ "$(cat "/proc/$new/comm" 2>/dev/null)" = crest-coord ] && break
		sleep 0.1
	done
	[ -n "$new" ] && [ "$new" != "$old" ]
	# both tasks are back with it (the root's log is appended to)
	for ((i = 0; i < 200; i++)); do
		[ "$(grep -c 'the step has started' "$d/coord.log")" -ge 2 ] && break
		sleep 0.1
	done
	run_logged cat "$d/coord.log"
	[ "$(grep -c 'the step has started' "$d/coord.log")" -eq 2 ]
	run_logged as_user "$P/bin/crest" checkpoint --job "$J"
	[ "$status" -eq 0 ]
	[ "$output" = 2 ]
	wait_state "$J" COMPLETED 60
	run_logged cat "$W/out.$J"
	[ "$(grep -c 'started it again: pid' "$W/out.$J")" -eq 1 ]
	check_results 200 "$J" "0 1"
}

@test "time limit (timelimit=checkpoint, the default): a job with a 1-minute limit checkpoints before it and ends at the limit; sbatch --restart-from continues each task to the uninterrupted result" {
	local first d
	# 60 s of work: the limit comes first
	submit -N2 --ntasks-per-node=2 --time=1 --checkpoint=0 --export=ALL,STEPS=600 job.sh
	first=$J
	wait_state "$first" TIMEOUT 150
	d=$(step_dir "$first")
	[ -n "$d" ]
	run_logged cat "$d/coord.log"
	grep -q 'committed (' "$d/coord.log"
	[ -e "$d/latest" ]
	[ ! -e "$d/DONE" ]
	run_logged cat "$W/out.$first"
	! grep -q '^result' "$W/out.$first" || false
	# a new job continues it
	submit -N2 --ntasks-per-node=2 --checkpoint=0 --restart-from="$CKB/crest-test/$first" \
		--export=ALL,STEPS=600 job.sh
	wait_state "$J" COMPLETED 150
	run_logged cat "$W/out.$J"
	check_results 600 "$J"
	grep -q 'restarted from generation' "$W/out.$J"
	! grep -q '^start' "$W/out.$J" || false
}
