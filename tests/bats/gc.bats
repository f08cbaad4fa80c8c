#!/usr/bin/env bats
# crest ls and crest gc on real checkpoint folders: a counter under crest
# checkpointed with `crest checkpoint --kill` (restartable), and the same
# with DONE written by `crest step-stop --ok` (done), arranged as a base of
# job folders BASE/<jobid>/<step key>/ and made old with `touch -d`.
# Every test has its own BASE under build/test-runs/bats-gc/.

load helpers

GC_RUNS=$TOP/build/test-runs/bats-gc
TEMPLATE=$GC_RUNS/template-step

setup_file() {
	runs_lock "$GC_RUNS"
	rm -rf "$TEMPLATE"
}

setup() {
	app_setup "$GC_RUNS"
	BASE=$D/base
	MNT=
}

teardown() {
	[ -n "$MNT" ] && umount "$MNT" 2>/dev/null
	app_teardown
}

# checkpointed_step DIR: a counter under crest in DIR, one checkpoint that
# ends it: a step folder with one complete generation and no DONE
checkpointed_step() {
	CK=$1
	start_bg "$CREST" launch --dir "$CK" -- "$CR_BIN/counter"
	wait_registered
	run_logged timeout 60 "$CREST" checkpoint --kill --dir "$CK"
	[ "$status" -eq 0 ]
	wait_exit "$BG" 20
	wait_coord_gone "$CK" 15
	[ -f "$CK/$(readlink "$CK/latest")/MANIFEST" ]
}

# step KEYDIR [done|zero]: a copy of the one real step folder this file
# makes; with `done`, ended as the Slurm plugin ends a step whose tasks all
# exited, `zero`: all with status 0
step() {
	if [ ! -d "$TEMPLATE" ]; then
		checkpointed_step "$TEMPLATE"
		CK=$D/ck
	fi
	mkdir -p "$(dirname "$1")"
	cp -a "$TEMPLATE" "$1"
	if [ "${2:-}" = done ] || [ "${2:-}" = zero ]; then
		run_logged "$CREST" step-stop --dir "$1" --node 0 --nodes 1 --ok $([ "$2" = zero ] && echo --zero)
		[ "$status" -eq 0 ]
		[ -f "$1/DONE" ]
	fi
}

# everything in $1 last modified 10 days ago (links themselves too)
make_old() {
	find "$1" -exec touch -h -d '10 days ago' {} +
}

# a listing of what is under $1, with sizes (but of a coordinator's log,
# which grows as it likes), for before/after comparisons
tree_of() {
	find "$1" \( -name coord.log -printf '%P %y\n' \) -o -printf '%P %y %s\n' | sort
}

# the standard base: 101 done and old, 102 restartable and old, 103 done
# and young, and a folder that is not crest's
standard_base() {
	step "$BASE/101/counter-1x1-aaaa0001" done
	step "$BASE/102/counter-1x1-bbbb0002"
	step "$BASE/103/counter-1x1-cccc0003" done
	mkdir -p "$BASE/notes"
	echo keep >"$BASE/notes/todo.txt"
	make_old "$BASE/101"
	make_old "$BASE/102"
	make_old "$BASE/notes"
}

# ls_json: `crest ls --checkpoint-dir $BASE --json` must be valid JSON; it is in $D/ls.json
ls_json() {
	run_logged bash -c "'$CREST' ls --checkpoint-dir '$BASE' --json >'$D/ls.json' && python3 -m json.tool '$D/ls.json'"
	[ "$status" -eq 0 ]
}

# json_check PYTHON: asserts about j, the object in $D/ls.json
json_check() {
	run_logged python3 -c "
import json, sys
j = json.load(open(sys.argv[1]))
f = {d['job']: d for d in j['folders']}
$1
" "$D/ls.json"
	[ "$status" -eq 0 ]
}

@test "ls of an empty base says so, --json too; a missing --checkpoint-dir is an error" {
	mkdir -p "$BASE"
	run_logged "$CREST" ls --checkpoint-dir "$BASE"
	[ "$status" -eq 0 ]
	[[ "$output" == *"no checkpoint folders in $BASE"* ]]
	ls_json
	json_check "assert j['base'] == '$BASE' and j['folders'] == [] and j['skipped'] == []"
	run_logged "$CREST" ls --checkpoint-dir "$D/no-such-base"
	[ "$status" -eq 1 ]
	[[ "$output" == *no-such-base*"No such file"* ]]
}

@test "ls shows a done and a restartable job: generation, time, size, state; --json parses" {
	step "$BASE/101/counter-1x1-aaaa0001" done
	step "$BASE/102/counter-1x1-bbbb0002"
	gen=$(readlink "$TEMPLATE/latest")
	gen=$((10#${gen#gen-}))
	run_logged "$CREST" ls --checkpoint-dir "$BASE"
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" =~ ^JOB\ +STEP\ +STATE\ +GEN\ +TAKEN\ +SIZE\ +MODIFIED$ ]]
	[[ "${lines[2]}" =~ ^101\ +counter-1x1-aaaa0001\ +done\ +$gen\ +20[0-9-]+\ [0-9:]+\ +[0-9.]+\ [KM]iB ]]
	[[ "${lines[3]}" =~ ^102\ +counter-1x1-bbbb0002\ +restartable\ +$gen\ +20[0-9-]+\ [0-9:]+\ +[0-9.]+\ [KM]iB ]]
	ls_json
	json_check "
s1, s2 = f['101']['steps'][0], f['102']['steps'][0]
assert (s1['state'], s2['state']) == ('done', 'restartable'), (s1, s2)
assert s1['generation'] == s2['generation'] == $gen
assert s1['taken'] > 0 and s1['bytes'] > 100000 and f['101']['bytes'] >= s1['bytes']
assert s1['path'] == '$BASE/101/counter-1x1-aaaa0001'
"
	# --dir: one job folder, or one step folder
	run_logged "$CREST" ls --dir "$BASE/102" --json
	[ "$status" -eq 0 ]
	[[ "$output" == *'"job":"102"'*'"state":"restartable"'* ]]
	run_logged "$CREST" ls --dir "$BASE/101/counter-1x1-aaaa0001"
	[ "$status" -eq 0 ]
	[[ "${lines[1]}" =~ ^-\ +counter-1x1-aaaa0001\ +done ]]
}

@test "ls without options takes the base from plugstack.conf (dir=, %u), or says to give --checkpoint-dir" {
	mkdir -p "$D/etc/plugstack.conf.d" "$D/ck/$(id -un)"
	echo "ClusterName=x" >"$D/etc/slurm.conf"
	echo "optional /usr/lib/other/spank_other.so" >"$D/etc/plugstack.conf"
	echo "required /usr/local/lib/crest/spank_crest.so keep=2 dir=$D/ck/%u  # the site's" \
		>"$D/etc/plugstack.conf.d/crest.conf"
	step "$D/ck/$(id -un)/77/counter-1x1-dddd0004" done
	run_logged env SLURM_CONF="$D/etc/slurm.conf" "$CREST" ls
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "base: $D/ck/$(id -un)" ]
	[[ "${lines[2]}" =~ ^77\ +counter-1x1-dddd0004\ +done ]]
	rm "$D/etc/plugstack.conf.d/crest.conf"
	run_logged env SLURM_CONF="$D/etc/slurm.conf" "$CREST" ls
	[ "$status" -eq 1 ]
	[[ "$output" == *"$D/etc/plugstack.conf"*spank_crest.so*"--checkpoint-dir BASE"* ]]
}

@test "gc --dry-run says what it would remove and removes nothing" {
	standard_base
	before=$(tree_of "$BASE")
	run_logged "$CREST" gc --older-than 7d --dry-run --include-restartable --checkpoint-dir "$BASE"
	[ "$status" -eq 0 ]
	[[ "$output" == *"would remove $BASE/101 (done, "*", modified 10d ago)"* ]]
	[[ "$output" == *"would remove $BASE/102 (restartable, "* ]]
	[[ "$output" == *"kept $BASE/103: modified "*" ago, not older than 7d"* ]]
	[ "$(tree_of "$BASE")" = "$before" ]
}

@test "gc removes the old done job, keeps the restartable one, the young one and what is not crest's" {
	standard_base
	run_logged "$CREST" gc --older-than 7d --checkpoint-dir "$BASE"
	[ "$status" -eq 0 ]
	[[ "$output" == *"removed $BASE/101 (done, "* ]]
	[[ "$output" == *"kept $BASE/102: step counter-1x1-bbbb0002 can restart from generation"*"--include-restartable"* ]]
	[[ "$output" == *"kept $BASE/103: modified"* ]]
	[[ "$output" == *"left alone $BASE/notes: not a crest folder"* ]]
	[ ! -e "$BASE/101" ]
	[ -f "$BASE/102/counter-1x1-bbbb0002/latest/MANIFEST" ]
	[ -f "$BASE/103/counter-1x1-cccc0003/DONE" ]
	[ "$(cat "$BASE/notes/todo.txt")" = keep ]
	# the restartable one goes when asked; the young one still stays
	run_logged "$CREST" gc --older-than 7d --include-restartable --checkpoint-dir "$BASE"
	[ "$status" -eq 0 ]
	[[ "$output" == *"removed $BASE/102 (restartable, "* ]]
	[ ! -e "$BASE/102" ]
	[ -d "$BASE/103" ]
	[ -d "$BASE/notes" ]
	# --dir: that folder alone
	run_logged "$CREST" gc --older-than 0s --dir "$BASE/103/counter-1x1-cccc0003"
	[ "$status" -eq 0 ]
	[[ "$output" == *"removed $BASE/103/counter-1x1-cccc0003 (done, "* ]]
	[ ! -e "$BASE/103/counter-1x1-cccc0003" ]
	run_logged "$CREST" gc --older-than 0s --dir "$BASE/notes"
	[ "$status" -eq 1 ]
	[[ "$output" == *"left alone $BASE/notes: not a crest folder"* ]]
	[ -f "$BASE/notes/todo.txt" ]
}

@test "gc never touches the folder of a running computation, nor one whose coordinator does not answer" {
	CK=$BASE/200/sleep-1x1-eeee0005
	mkdir -p "$BASE/200"
	start_bg "$CREST" launch --dir "$CK" -- sleep 120
	app=$BG
	wait_registered
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
	make_old "$BASE/200"
	run_logged "$CREST" ls --checkpoint-dir "$BASE"
	[[ "${lines[2]}" =~ ^200\ +sleep-1x1-eeee0005\ +running ]]
	before=$(tree_of "$BASE")
	run_logged "$CREST" gc --older-than 0s --include-restartable --checkpoint-dir "$BASE"
	[ "$status" -eq 0 ]
	[[ "$output" == *"kept $BASE/200: its coordinator (pid $(coord_pid), in sleep-1x1-eeee0005) is running"* ]]
	[ "$(tree_of "$BASE")" = "$before" ]
	is_alive "$app"

	# its coordinator killed: COORD stays and names a dead pid; that may
	# be a coordinator on another node, so the folder stays too
	kill_coord
	[ -f "$CK/COORD" ]
	run_logged "$CREST" ls --checkpoint-dir "$BASE"
	[[ "${lines[2]}" =~ ^200\ +sleep-1x1-eeee0005\ +unreachable ]]
	[[ "$output" == *"names coordinator pid $coord, which does not answer from this host"* ]]
	run_logged "$CREST" gc --older-than 0s --include-restartable --checkpoint-dir "$BASE"
	[ "$status" -eq 0 ]
	[[ "$output" == *"kept $BASE/200: sleep-1x1-eeee0005/COORD names coordinator pid $coord"* ]]
	[ -f "$CK/latest/MANIFEST" ]
	is_alive "$app"
}

@test "gc refuses a bad or missing AGE, and --dir with --checkpoint-dir, with a clear message" {
	mkdir -p "$BASE"
	for age in 7x 7 -1d 1.5h d "7 d" ""; do
		run_logged "$CREST" gc --older-than "$age" --checkpoint-dir "$BASE"
		[ "$status" -eq 2 ]
		[[ "$output" == *"--older-than $age: expected an age with its unit, such as 7d, 12h, 30m or 90s"* ]]
	done
	run_logged "$CREST" gc --checkpoint-dir "$BASE"
	[ "$status" -eq 2 ]
	[[ "$output" == *"needs --older-than AGE"* ]]
	run_logged "$CREST" gc --older-than 1d --checkpoint-dir "$BASE" --dir "$BASE"
	[ "$status" -eq 2 ]
	[[ "$output" == *"one at a time"* ]]
	run_logged "$CREST" ls --no-such-option
	[ "$status" -eq 2 ]
	[[ "$output" == *no-such-option* ]]
}

@test "a symbolic link under BASE or inside a job folder is never followed; its target survives" {
	# targets that gc would remove if it followed links: an old done job
	# folder, and a folder with a file
	step "$D/elsewhere/900/counter-1x1-ffff0006" done
	make_old "$D/elsewhere"
	mkdir -p "$D/victim"
	echo precious >"$D/victim/file"
	step "$BASE/101/counter-1x1-aaaa0001" done
	ln -s "$D/elsewhere/900" "$BASE/900"
	ln -s "$D/victim" "$BASE/101/counter-1x1-aaaa0001/$(readlink "$TEMPLATE/latest")/escape"
	make_old "$BASE"
	run_logged "$CREST" ls --checkpoint-dir "$BASE"
	[ "$status" -eq 0 ]
	[[ "$output" == *"left alone: $BASE/900: a symbolic link (not followed)"* ]]
	run_logged "$CREST" gc --older-than 7d --include-restartable --checkpoint-dir "$BASE"
	[ "$status" -eq 0 ]
	[[ "$output" == *"removed $BASE/101 "* ]]
	[[ "$output" == *"left alone $BASE/900: a symbolic link (not followed)"* ]]
	[ ! -e "$BASE/101" ]
	[ -L "$BASE/900" ]
	[ "$(cat "$D/victim/file")" = precious ]
	[ -f "$D/elsewhere/900/counter-1x1-ffff0006/DONE" ]
	run_logged "$CREST" gc --older-than 0s --dir "$BASE/900"
	[ "$status" -eq 1 ]
	[[ "$output" == *"symbolic link"* ]]
	[ -f "$D/elsewhere/900/counter-1x1-ffff0006/DONE" ]
}

@test "gc keeps a job folder that holds another user's file or another file system (root)" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to chown to nobody and mount a tmpfs"
	step "$BASE/101/counter-1x1-aaaa0001" done
	step "$BASE/102/counter-1x1-bbbb0002" done
	touch "$BASE/101/counter-1x1-aaaa0001/theirs"
	chown nobody "$BASE/101/counter-1x1-aaaa0001/theirs"
	mkdir "$BASE/102/counter-1x1-bbbb0002/mnt"
	mount -t tmpfs -o size=1m crest-gc-test "$BASE/102/counter-1x1-bbbb0002/mnt" || skip "cannot mount tmpfs"
	MNT=$BASE/102/counter-1x1-bbbb0002/mnt
	echo inside >"$MNT/file"
	make_old "$BASE"
	run_logged "$CREST" gc --older-than 7d --checkpoint-dir "$BASE"
	[ "$status" -eq 0 ]
	[[ "$output" == *"kept $BASE/101: counter-1x1-aaaa0001/theirs is owned by uid $(id -u nobody), not by you"* ]]
	[[ "$output" == *"kept $BASE/102: counter-1x1-bbbb0002/mnt is another file system (a mount point)"* ]]
	[ -f "$BASE/101/counter-1x1-aaaa0001/theirs" ]
	[ -f "$BASE/102/counter-1x1-bbbb0002/DONE" ]
	[ "$(cat "$MNT/file")" = inside ]
}

@test "job-end (the plugin, at a job's end): removes a job folder whose steps all ended with status 0, keeps one with a step that did not, and a missing one is fine" {
	step "$BASE/201/counter-1x1-aaaa0001" zero
	step "$BASE/201/counter-1x1-aaaa0002" zero
	grep -qx 'exit 0' "$BASE/201/counter-1x1-aaaa0001/DONE"
	run_logged "$CREST" job-end --dir "$BASE/201"
	[ "$status" -eq 0 ]
	grep -q 'removed the job.s checkpoints' <<<"$output"
	[ ! -e "$BASE/201" ]
	# one step exited non-zero on some task, or did not end at all: kept
	step "$BASE/202/counter-1x1-aaaa0001" zero
	step "$BASE/202/counter-1x1-aaaa0002" done
	grep -qx 'exit nonzero' "$BASE/202/counter-1x1-aaaa0002/DONE"
	run_logged "$CREST" job-end --dir "$BASE/202"
	[ "$status" -eq 0 ]
	grep -q 'kept .*step counter-1x1-aaaa0002' <<<"$output"
	[ -d "$BASE/202/counter-1x1-aaaa0001" ]
	step "$BASE/203/counter-1x1-aaaa0001"
	run_logged "$CREST" job-end --wait 1 --dir "$BASE/203"
	grep -q 'kept' <<<"$output"
	[ -d "$BASE/203/counter-1x1-aaaa0001" ]
	run_logged "$CREST" job-end --dir "$BASE/204"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}
