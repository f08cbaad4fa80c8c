#!/usr/bin/env bats
# crest under a real Slurm 22.05 with proctrack/cgroup: the cluster of
# tests/cluster/up.sh (4 slurmd nodes in network namespaces, munge,
# slurmctld), crest installed in a prefix with spank_crest.so in
# plugstack.conf, every job submitted by the unprivileged user crest-test
# (slurm_helpers.bash).  The workload is slurm_app.py: 4
# tasks on 2 nodes, each with two threads and a forked child; every run's
# answer must equal an uninterrupted run's.  tcp_ring.py (ring.sh) is a ring
# of TCP connections between the tasks, within and between nodes.  Needs root; skipped without
# Slurm or network namespaces.

load helpers
load slurm_helpers

setup_file() {
	# a plain scancel takes a final checkpoint here (the flows below use
	# it); slurm_linuxproc.bats has the default, none.  fanout=1: a step's
	# coordinators are a chain, node 2's parent is node 1's (the first test)
	slurm_setup_file cgroup "cancel=checkpoint timelimit=checkpoint-requeue timelimit_margin=40s fanout=1"
}

teardown_file() {
	slurm_teardown_file
}

teardown() {
	slurm_teardown
}

@test "sbatch --checkpoint=2s: each srun step on 3 nodes x 2 tasks (a tree of two levels) is checkpointed while it runs, and ends right; its root and node 1's sub-coordinator killed, the tasks start them again and checkpoints go on" {
	local d i r0 s1 r0new s1new
	submit -N3 --ntasks-per-node=2 --checkpoint=2s --checkpoint-keep --export=ALL,STEPS=150,CREST_RESPAWN_AFTER=1 job.sh
	wait_log "$J" 'generation 1 committed' 30
	d=$(step_dir "$J")
	[ -n "$d" ]
	# fanout=1: node 2's sub-coordinator is below node 1's, which answers
	# for both to the root
	grep -q 'the sub-coordinator of node 1 answers for 2 nodes' "$d/coord.log"
	grep -q "connected to the parent coordinator $(cut -d: -f1 "$d/nodes/n1/ADDR")" "$d/nodes/n2/coord.log"
	grep -q '^n2/p-' "$d/latest/MANIFEST"
	# kill -9 of the root and of node 1's sub-coordinator: each node's
	# tasks start theirs again (CREST_RESPAWN_AFTER=1: a RESPAWN 1 s old),
	# and node 2's finds node 1's new one
	r0=$(awk '$1 == "pid" { print $2 }' "$d/COORD")
	s1=$(awk '$1 == "pid" { print $2 }' "$d/nodes/n1/COORD")
	[ -n "$r0" ] && [ -n "$s1" ]
	kill -9 "$r0" "$s1"
	for ((i = 0; i < 150; i++)); do
		r0new=$(awk '$1 == "pid" { print $2 }' "$d/COORD" 2>/dev/null)
		s1new=$(awk '$1 == "pid" { print $2 }' "$d/nodes/n1/COORD" 2>/dev/null)
		[ -n "$r0new" ] && [ "$r0new" != "$r0" ] && [ -n "$s1new" ] && [ "$s1new" != "$s1" ] && break
		sleep 0.1
	done
	[ "$r0new" != "$r0" ] && [ "$s1new" != "$s1" ]
	# every coordinator of the step belongs to its run: step-start gave it
	# to each (node 2's RESPAWN says it), and those started again kept it
	local inc
	inc=$(cat "$d/INCARNATION")
	tr '\0' '\n' <"$d/nodes/n2/RESPAWN" | grep -qx "arg=$inc"
	tr '\0' '\n' <"/proc/$r0new/cmdline" | grep -qx -- "$inc"
	tr '\0' '\n' <"/proc/$s1new/cmdline" | grep -qx -- "$inc"
	wait_state "$J" COMPLETED 60
	run_logged cat "$W/out.$J"
	check_results 150 "$J" "0 1 2 3 4 5"
	[ "$(grep -c 'started it again: pid' "$W/out.$J")" -eq 2 ]
	run_logged cat "$d/nodes/n2/coord.log"
	grep -q 'lost the parent coordinator' "$d/nodes/n2/coord.log"
	[ "$(grep -c 'connected to the parent coordinator' "$d/nodes/n2/coord.log")" -ge 2 ]
	# the new root had the whole step again and took generations
	run_logged cat "$d/coord.log"
	sed -n "/coordinator pid $r0new /,\$p" "$d/coord.log" | grep -q 'the step has started'
	sed -n "/coordinator pid $r0new /,\$p" "$d/coord.log" | grep -q 'committed ('
	grep -q 'started by the interval' "$d/coord.log"
	# the step ended, every task with status 0: a rerun of the job would run
	# it afresh; --checkpoint-keep kept the folder
	grep -qx 'exit 0' "$d/DONE"
	# every image is the user's, 0600 in 0700 folders, one folder per node;
	# the latest has both tasks of each node, as an image or, for a task
	# that had ended before it (0264fe5), as an `ended` line; the forked
	# children end first, so a late generation may lack some of them
	local g n
	g=$d/$(readlink "$d/latest")
	run_logged ls -ln "$g/n0" "$g/n1" "$g/n2" "$g/MANIFEST"
	for n in 0 1 2; do
		[ $(($(find "$g/n$n" -type f -name 'p-*.img' 2>/dev/null | wc -l) + \
			$(grep -c "^ended n$n " "$g/MANIFEST"))) -ge 2 ]
	done
	[ -z "$(find "$d" ! -user crest-test)" ]
	[ -z "$(find "$g" -type f -name 'p-*.img' ! -perm 0600)" ]
	[ "$(stat -c %a "$d")" = 700 ]
	# nothing of crest is left running
	local i
	for ((i = 0; i < 50; i++)); do
		pgrep -u crest-test -f crest-coord >/dev/null || break
		sleep 0.1
	done
	! pgrep -u crest-test -fa crest-coord || false
}

@test "salloc --checkpoint=2s: the srun step inside the allocation is checkpointed on each node while it runs, and ends right" {
	local job d
	run_logged as_user timeout 120 salloc -N2 --ntasks-per-node=2 --checkpoint=2s --checkpoint-keep \
		srun --ntasks-per-node=2 -o out.salloc python3 slurm_app.py 150 0.1
	[ "$status" -eq 0 ]
	job=$(sed -n 's/.*Granted job allocation \([0-9]*\).*/\1/p' <<<"$output" | head -n 1)
	[ -n "$job" ]
	run_logged cat "$W/out.salloc"
	check_results 150 salloc
	d=$(step_dir "$job")
	[ -n "$d" ]
	run_logged cat "$d/coord.log"
	grep -q 'started by the interval' "$d/coord.log"
	grep -q 'generation [0-9]* committed (' "$d/coord.log"
	grep -qx 'exit 0' "$d/DONE"
	[ -n "$(ls "$d"/gen-*/n1/p-*.img)" ]
}

@test "bad input: a bad --checkpoint stops srun; a folder the user cannot create fails the step naming it; the steps of a many-node mpirun (orted) are refused, a non-MPI program of an MPI step is not; steps without crest are untouched" {
	run_logged as_user srun -N1 --checkpoint=soon true
	[ "$status" -ne 0 ]
	grep -q 'crest: --checkpoint=soon: expected an interval' <<<"$output"
	run_logged as_user srun -N1 --checkpoint=1m --checkpoint-dir=/root/nope true
	[ "$status" -ne 0 ]
	grep -q 'crest: cannot start checkpointing on node 0' <<<"$output"
	grep -q '/root/nope' <<<"$output"
	# auto means "this job's own checkpoints": only a requeued run has any
	run_logged as_user srun -N1 --restart-from=auto true
	[ "$status" -ne 0 ]
	grep -q 'crest: --restart-from=auto continues a requeued run' <<<"$output"
	# a node's memory is no place for checkpoints (every node has its own
	# tmpfs at /local and /dev/shm)
	run_logged as_user srun -N1 --checkpoint=1m --checkpoint-dir=/local/ck true
	[ "$status" -ne 0 ]
	grep -q 'crest: .*the checkpoint folder /local/ck/.* is in the memory of node 0 (tmpfs)' <<<"$output"
	# a step of an MPI plugin (a site's MpiDefault) whose processes are
	# not MPI ranks is checkpointed as any
	run_logged as_user srun -N1 --mpi=pmi2 --checkpoint=1m true
	[ "$status" -eq 0 ]
	# so is a step of the daemons an mpirun of several nodes starts (Open
	# MPI's orted, here /bin/true by that name), unless CREST_NO_CHECKPOINT
	cp /bin/true "$W/orted"
	chmod a+rx "$W/orted"
	run_logged as_user srun -N1 --checkpoint=1m ./orted
	[ "$status" -ne 0 ]
	grep -q 'crest: this step runs orted, the daemons that an mpirun of several nodes starts' <<<"$output"
	grep -q 'crest mpirun ARGS' <<<"$output"
	grep -q 'export CREST_NO_CHECKPOINT=1 before mpirun' <<<"$output"
	run_logged as_user env CREST_NO_CHECKPOINT=1 srun -N1 --checkpoint=1m ./orted
	[ "$status" -eq 0 ]
	run_logged as_user srun -N2 printenv LD_PRELOAD CREST_DIR
	[ "$status" -ne 0 ]	# printenv: neither is set
	! grep -q -e libcrest -e / <<<"$output" || false
}

@test "another user cannot checkpoint or see the job; crest checkpoint --job (munge) answers the generation, scancel --signal=USR2 takes one, scancel a final one, then sbatch --restart-from on other nodes continues each task; tasks that ended early are recorded with their exit status (one nonzero) and not run again, the rerun's srun ending with that status, and once every task of node 1 ended the root goes on without that node" {
	local d first step i g
	# tasks 2 and 3 (node 1 of the step) run 30 and 20 steps and end after
	# about 3 and 2 s, task 3 with exit status 5: Slurm ends the step on
	# node 1 and the plugin stops its sub-coordinator, which tells the root
	# first
	submit -N2 --ntasks-per-node=2 -w "node[1-2]" --checkpoint=0 --export=ALL,STEPS=250,SHORT_TASK=2:30+3:20:5 job.sh
	first=$J
	wait_log "$first" 'the step has started' 30
	# another user reaches neither the job nor its coordinator
	d=$(step_dir "$first")
	run_logged runuser -u nobody -- env SLURM_CONF="$STATE/etc/slurm.conf" "$P/bin/crest" checkpoint --job "$first"
	[ "$status" -ne 0 ]
	run_logged runuser -u nobody -- "$P/bin/crest" checkpoint --dir "$d"
	[ "$status" -ne 0 ]
	run_logged runuser -u nobody -- "$P/bin/crest" status --dir "$d"
	[ "$status" -ne 0 ]
	# even given the root's address (it cannot read the folder), nobody's
	# munge credential is refused by the root
	step=$(head -n 1 "$d/STARTED" | cut -d. -f3)
	run_logged runuser -u nobody -- env SLURM_CONF="$STATE/etc/slurm.conf" "$P/bin/crest" checkpoint \
		--job "$first.$step" --root-addr "$(cat "$d/ROOT")"
	[ "$status" -ne 0 ]
	grep -q "uid $(id -u nobody) is not the job's owner" <<<"$output"
	grep -q "refused: uid $(id -u nobody) is not the job's owner" "$d/coord.log"
	! grep -q 'started by' "$d/coord.log" || false
	# the plugin told node 1's coordinator how task 3 ended
	for ((i = 0; i < 200; i++)); do
		grep -q 'task 3 ended (exit 5), said by the Slurm plugin' "$d/nodes/n1/coord.log" && break
		sleep 0.1
	done
	run_logged cat "$d/nodes/n1/coord.log"
	grep -q 'task 3 ended (exit 5), said by the Slurm plugin' "$d/nodes/n1/coord.log"
	wait_log "$first" 'every task of node 1 ended (2 recorded)' 30
	grep -q 'task 2 ended (exit 0), said by the Slurm plugin' "$d/nodes/n1/coord.log"
	grep -q 'every task of node 1 ended: told the root' "$d/nodes/n1/coord.log"
	# the checkpoint signal through Slurm takes one
	run_logged as_user scancel --signal=USR2 "$first"
	[ "$status" -eq 0 ]
	wait_log "$first" 'started by SIGUSR2' 20
	wait_log "$first" 'generation 1 committed' 20
	# the owner asks the step's root with a munge credential and gets the
	# generation back (a request, unlike the signal, is not held back by
	# the 10 s --min-spacing after the last checkpoint)
	run_logged as_user "$P/bin/crest" checkpoint --job "$first"
	[ "$status" -eq 0 ]
	[ "$output" = 2 ]
	grep -q "checkpoint requested by uid $(id -u crest-test) .*(munge)" "$d/coord.log"
	grep -q 'generation 2 committed' "$d/coord.log"
	sleep 1
	run_logged as_user scancel "$first"
	wait_state "$first" CANCELLED 30
	d=$(step_dir "$first")
	wait_log "$first" 'a final checkpoint' 20
	grep -q 'generation 3 committed' "$d/coord.log"
	[ ! -e "$d/DONE" ]
	grep -q '^start 0$' "$W/out.$first"
	# every generation records tasks 2 and 3 as ended, with their status,
	# and has no image of node 1
	for g in 2 3; do	# generation 1 is pruned (keep 2)
		grep -qx 'ended n1 2 exit 0' "$d/gen-00000$g/MANIFEST"
		grep -qx 'ended n1 3 exit 5' "$d/gen-00000$g/MANIFEST"
		! grep -q '^n1/' "$d/gen-00000$g/MANIFEST" || false
	done
	# their results, and only theirs, were printed
	grep -qx "$(python3 "$W/slurm_app.py" --expect 2 30)" "$W/out.$first"
	grep -qx "$(python3 "$W/slurm_app.py" --expect 3 20)" "$W/out.$first"
	[ "$(grep -c '^result ' "$W/out.$first")" -eq 2 ]

	# a new job, on the two other nodes, from that job's folder
	submit -N2 --ntasks-per-node=2 -w "node[3-4]" --restart-from="$CKB/crest-test/$first" \
		--export=ALL,STEPS=250,SHORT_TASK=2:30+3:20:5 job.sh
	wait_state "$J" COMPLETED 90
	run_logged cat "$W/out.$J"
	check_results 250 "$J" "0 1"
	# it continued: no task started from the beginning, and tasks 2 and 3
	# ended again at once with their status, without running
	! grep -q '^start' "$W/out.$J" || false
	grep -q 'crest: task 2 had ended (exit 0) when generation 3 was taken' "$W/out.$J"
	grep -q 'crest: task 3 had ended (exit 5) when generation 3 was taken' "$W/out.$J"
	# srun ends with the status task 3 ended with in the first run
	grep -qx 'job done (srun exit 5)' "$W/out.$J"
	# and node 1 of the rerun, whose tasks all ended at once, told its root
	# too (the root's log is appended to by every run of the step)
	[ "$(grep -c 'every task of node 1 ended (2 recorded)' "$d/coord.log")" -eq 2 ]
	grep -q "restarts from generation 3" "$STATE/log/slurmd.node3.log"
	[ -e "$d/DONE" ]
}

@test "TCP connections between tasks: a ring of 4 tasks on 2 nodes, checkpointed every 2 s, scancel (a final checkpoint); an image of node 1 in it damaged, sbatch --restart-from on the two other nodes continues every rank from the generation before to the uninterrupted result" {
	local d first g prev img
	# ranks 0 and 1 on node1, 2 and 3 on node2: the connections 0->1 and
	# 2->3 stay within a node, 1->2 and 3->0 go between the nodes; 5 tokens
	# go round 100 times, 0.05 s at each rank (about 25 s)
	submit -N2 --ntasks-per-node=2 -w "node[1-2]" --checkpoint=2s --export=ALL,STEPS=100,DELAY=0.05 ring.sh
	first=$J
	wait_log "$first" 'generation 2 committed' 40
	run_logged as_user scancel "$first"
	wait_state "$first" CANCELLED 30
	d=$(step_dir "$first")
	wait_log "$first" 'a final checkpoint' 20
	run_logged grep -e 'committed (' -e 'a final checkpoint' "$d/coord.log"
	# the newest generation is the final checkpoint's (it may have joined
	# one the interval had started)
	g=$(sed -n 's/.*generation \([0-9]*\) committed (.*/\1/p' "$d/coord.log" | tail -n 1)
	[ "$g" -ge 3 ]
	[ "$(readlink "$d/latest")" = "$(printf 'gen-%06d' "$g")" ]
	[ ! -e "$d/DONE" ]
	run_logged cat "$W/out.$first"
	[ "$(grep -c '^start ' "$W/out.$first")" -eq 4 ]
	! grep -q -e '^result' -e '^FAIL' -e '^Traceback' "$W/out.$first" || false
	# one image of node 1 of the newest generation is damaged (a flipped
	# byte in its header): node 0 finds it, and both nodes restart from the
	# generation before (keep=2)
	prev=$((g - 1))
	[ -e "$d/$(printf 'gen-%06d' "$prev")/MANIFEST" ]
	img=$(ls "$d/$(printf 'gen-%06d' "$g")"/n1/*.img | head -n 1)
	[ -n "$img" ]
	flip_byte "$img" 100

	# a new job on the two other nodes: every connection now joins other
	# addresses, and each rank goes on with the data that was waiting
	submit -N2 --ntasks-per-node=2 -w "node[3-4]" --restart-from="$CKB/crest-test/$first" \
		--export=ALL,STEPS=100,DELAY=0.05 ring.sh
	wait_state "$J" 'COMPLETED|FAILED|CANCELLED' 60
	run_logged cat "$W/out.$J"
	[ "$(job_field "$J" JobState)" = COMPLETED ]
	check_ring_results 100 "$J"
	# it continued: no rank started from the beginning
	! grep -q '^start' "$W/out.$J" || false
	grep -q "step $J.0 restarts from generation $prev " "$STATE/log/slurmd.node3.log"
	grep -q "step $J.0 restarts from generation $prev " "$STATE/log/slurmd.node4.log"
	grep -q "generation $g in .* is damaged" "$STATE/log/slurmd.node3.log"
	[ -e "$d/DONE" ]
}

@test "Open MPI over 2 nodes (crest mpirun: mpirun in task 0, each orted a child of its node's task): checkpointed, scancel takes a final checkpoint, sbatch --restart-from on two other nodes continues it, with no complaint, to the uninterrupted result; ranks of srun --mpi=pmix refuse each checkpoint, saying why, and end right" {
	local first want alone d
	[ -x "$TOP/build/tests/cr/mpi_ring" ] || skip "mpi_ring was not built: no mpicc (scripts/install-deps.sh installs Open MPI)"
	cp "$TOP/build/tests/cr/mpi_ring" "$W/"
	chmod a+rx "$W/mpi_ring"
	cat >"$W/mpi.sh" <<'JOB'
#!/bin/bash
echo "run SLURM_RESTART_COUNT=${SLURM_RESTART_COUNT:-0} on $SLURM_JOB_NODELIST"
srun "$CREST_CMD" mpirun --oversubscribe -x MPI_RING_START_DELAY_MS -np 4 ./mpi_ring "$STEPS"
echo "job done (srun exit $?)"
JOB
	chmod a+rx "$W/mpi.sh"
	# the uninterrupted answer, meanwhile, outside Slurm and crest (the
	# answer does not depend on where the ranks run)
	as_user mpirun --oversubscribe -np 4 ./mpi_ring 300 >"$W/mpi-alone.out" 2>&1 3>&- &
	alone=$!
	# the ranks wait 5 s before their first message: the checkpoints of
	# this run have no connection between ranks, which Open MPI makes after
	# the restart on other nodes, bound to its old addresses and checking
	# where they come from (preload/net_wrappers.c)
	submit -N2 --ntasks-per-node=1 -c2 -w "node[1-2]" --checkpoint=2s \
		--export=ALL,STEPS=300,CREST_CMD="$P/bin/crest",MPI_RING_START_DELAY_MS=5000 mpi.sh
	first=$J
	wait_log "$first" 'generation 1 committed' 30
	d=$(step_dir "$first")
	# 2 ranks and an orted on node 2, under its task: in node 1's images
	# and in node 2's
	grep -q '^n1/' "$d/latest/MANIFEST"
	grep -qx 'node2 slots=2' "$d/mpi/$first.0/hostfile"
	run_logged as_user scancel "$first"
	wait_state "$first" CANCELLED 30
	wait_log "$first" 'a final checkpoint' 20
	run_logged cat "$W/out.$first"
	! grep -q '^RESULT' "$W/out.$first" || false
	# Open MPI's daemons close every descriptor of their children before
	# exec, crest's link too: nothing to tell the user
	! grep -q 'crest: libcrest: dropping the coordinator link' "$W/out.$first" || false
	# a new job on two other nodes: other hostnames, addresses and TMPDIRs
	# (mpirun's session folders are made again there)
	submit -N2 --ntasks-per-node=1 -c2 -w "node[3-4]" --restart-from="$CKB/crest-test/$first" \
		--export=ALL,STEPS=300,CREST_CMD="$P/bin/crest",MPI_RING_START_DELAY_MS=0 mpi.sh
	wait_state "$J" 'COMPLETED|FAILED|CANCELLED' 60
	wait "$alone"
	want=$(grep '^RESULT' "$W/mpi-alone.out")
	[ -n "$want" ]
	run_logged cat "$W/out.$J"
	[ "$(job_field "$J" JobState)" = COMPLETED ]
	grep -qx "$want" "$W/out.$J"
	grep -q 'mpi_ring: 4 ranks started' "$W/out.$first"
	! grep -q 'mpi_ring: 4 ranks started' "$W/out.$J" || false
	! grep -q -i -e 'cannot' -e 'unable' -e 'error' "$W/out.$J" || false
	grep -q "step $J.0 restarts from generation" "$STATE/log/slurmd.node3.log"
	grep -q "step $J.0 restarts from generation" "$STATE/log/slurmd.node4.log"

	# ranks of Slurm's PMIx (srun --mpi=pmix; one node: the cluster's
	# nodes share /tmp, where Slurm's PMIx folders would collide) refuse
	# each checkpoint, saying why once each, and the program goes on
	run_logged as_user srun -N1 -n2 -w node1 --mpi=pmix --checkpoint=2s ./mpi_ring 250
	[ "$status" -eq 0 ]
	grep -q '^RESULT ranks 2 steps 250 ' <<<"$output"
	[ "$(grep -c "checkpoint refused: it is an MPI rank of Slurm's PMI (srun --mpi=pmix)" <<<"$output")" -eq 2 ]
	grep -q 'crest mpirun' <<<"$output"
}

@test "the same command line twice in one job: the second step has its own folder; cancelled during it, the job restarted with --restart-from runs the first afresh and continues the second" {
	local jd k i n first r want
	submit -N2 --ntasks-per-node=2 -w "node[1-2]" --checkpoint=2s --export=ALL,STEPS=60 twice.sh
	first=$J
	jd=$CKB/crest-test/$first
	# the second step's folder, <key>.2, gets a generation
	for ((i = 0; i < 400; i++)); do
		k=$(ls -d "$jd"/*.2 2>/dev/null | head -n 1)
		[ -n "$k" ] && grep -q 'generation 1 committed' "$k/coord.log" 2>/dev/null && break
		sleep 0.1
	done
	[ -n "$k" ]
	grep -q 'generation 1 committed' "$k/coord.log"
	run_logged as_user scancel "$first"
	wait_state "$first" CANCELLED 30
	for ((i = 0; i < 200; i++)); do
		grep -q 'a final checkpoint' "$k/coord.log" && break
		sleep 0.1
	done
	run_logged ls -a "$jd" "$jd/.steps"/*
	# the first step finished (DONE), the second did not
	[ -e "${k%.2}/DONE" ]
	[ ! -e "$k/DONE" ]
	[ -e "$k/latest/MANIFEST" ]
	[ "$(ls "$jd/.steps"/*/ | wc -l)" -eq 2 ]
	run_logged cat "$W/out.$first"
	[ "$(grep -c '^start ' "$W/out.$first")" -eq 8 ]
	[ "$(grep -c '^result ' "$W/out.$first")" -eq 4 ]

	# the new job runs the script again from its first line
	submit -N2 --ntasks-per-node=2 -w "node[3-4]" --restart-from="$jd" --export=ALL,STEPS=60 twice.sh
	wait_state "$J" 'COMPLETED|FAILED|CANCELLED' 90
	run_logged cat "$W/out.$J"
	[ "$(job_field "$J" JobState)" = COMPLETED ]
	# the first step afresh (its 4 tasks start), the second continued
	n=$(grep -c '^start ' "$W/out.$J")
	[ "$n" -eq 4 ]
	[ "$(grep -c '^result ' "$W/out.$J")" -eq 8 ]
	for r in 0 1 2 3; do
		want=$(python3 "$W/slurm_app.py" --expect "$r" 60)
		[ "$(grep -cx "$want" "$W/out.$J")" -eq 2 ]
	done
	grep -q "step $J.1 restarts from generation" "$STATE/log/slurmd.node3.log"
	[ -e "$k/DONE" ]
}

@test "preemption (proctrack/cgroup: SIGTERM reaches only the tasks): a final checkpoint, the job is requeued and its rerun continues" {
	slurm_preemption
}

@test "node failure: a node of a running 2-node job dies; Slurm requeues the job and its rerun on other nodes continues from the last complete checkpoint, without the files the lost run made after it" {
	# each task makes a mark file every 10 steps with O_EXCL: the marks the
	# lost run made after the last checkpoint must be gone for the rerun
	# 40 s of work: the job is requeued (SlurmdTimeout=10) long before
	submit -N2 --ntasks-per-node=2 --requeue --checkpoint=2s --checkpoint-keep --export=ALL,STEPS=400,MARKS=$W/marks job.sh
	local job=$J before second
	wait_log "$job" 'generation 2 committed' 40
	before=$(job_field "$job" NodeList)
	second=$(SLURM_CONF=$STATE/etc/slurm.conf scontrol show hostnames "$before" | sed -n 2p)
	[ -n "$second" ]
	# the node's link goes down and everything on it dies
	FAILED_NODE=${second#node}
	"$TOP/tests/cluster/node.sh" --state "$STATE" fail "$FAILED_NODE"
	# Slurm notices (SlurmdTimeout=10), marks it down and requeues the job
	rerun_to_end "$job" 90
	run_logged cat "$W/out.$job"
	check_results 400 "$job"
	# it continued on nodes without the dead one: no task started over
	[ "$(grep -c '^start' "$W/out.$job")" -eq 4 ]
	# the step-start of the rerun took marks away and listed them (node 0
	# in the step's folder, the others in nodes/n<N>/)
	run_logged cat "$(step_dir "$job")"/REMOVED
	[[ "$output" == *"$W/marks/r"* ]]
	[ "$(find "$W/marks" -type f | wc -l)" -eq 160 ]
	run_logged job_field "$job" NodeList
	! SLURM_CONF=$STATE/etc/slurm.conf scontrol show hostnames "$output" | grep -qx "$second" || false
	"$TOP/tests/cluster/node.sh" --state "$STATE" return "$FAILED_NODE"
	FAILED_NODE=
}

@test "time limit (timelimit=checkpoint-requeue): a job with a 1-minute limit checkpoints before it, requeues itself and finishes across 2 requeues with the uninterrupted result" {
	# 50 s of work; each run checkpoints 40 s before its end (after less
	# than 20 s of work) and requeues itself
	submit -N2 --ntasks-per-node=2 --time=1 --requeue --checkpoint=0 --export=ALL,STEPS=500 job.sh
	release_until_done "$J" 300
	run_logged cat "$W/out.$J"
	[ "$(job_field "$J" Restarts)" -ge 2 ]
	grep -q 'run SLURM_RESTART_COUNT=2' "$W/out.$J"
	check_results 500 "$J"
	# each task started once, in the first run: every rerun continued
	[ "$(grep -c '^start' "$W/out.$J")" -eq 4 ]
	grep -q 'restarted from generation' "$W/out.$J"
	# the job ended well: its checkpoints are removed (no --checkpoint-keep)
	[ ! -e "$CKB/crest-test/$J" ]
	run_logged grep "crest: removed the job's checkpoints in $CKB/crest-test/$J" "$STATE"/log/slurmd.node*.log
}
