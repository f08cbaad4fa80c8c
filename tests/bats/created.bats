#!/usr/bin/env bats
# Files and folders the computation makes after a checkpoint, in a run
# that is then killed, are taken away by the restart (common/created.h):
# files made by bash redirections, mkdir, mv, python3's mkstemp and an
# AF_UNIX socket's bind, glibc's mkstemp and mkdtemp; a file
# renamed over one older than the checkpoint, or made again where an older
# one was removed or renamed away (also through a symbolic link), stays
# with its new content; a file written but made
# before the checkpoint stays; crest's own files are never recorded; a
# computation that ended on its own keeps what it made.  The application is
# tests/bats/created_app.sh.
#
# Every test has its own directory under build/test-runs/bats-created/.

load helpers

CREATED_RUNS=$TOP/build/test-runs/bats-created
APP=$TOP/tests/bats/created_app.sh

setup_file() {
	runs_lock "$CREATED_RUNS"
}

setup() {
	app_setup "$CREATED_RUNS"
	W=$D/w
}

teardown() {
	app_teardown
}

# W as the application leaves it after "made"
MADE_LISTING='.
./again.txt
./before.txt
./dtmp-XXX
./keep
./keep/moved.txt
./keep/old.txt
./ln
./made
./made/in.txt
./new.txt
./py-XXX
./real
./real/f.txt
./rot.log
./rot.log.1
./sock
./tmp-XXX'

# W as it was at a checkpoint before "made" (old.txt and before.txt keep
# what they got after it: they were there before)
BEFORE_LISTING='.
./again.txt
./before.txt
./keep
./keep/old.txt
./ln
./real
./real/f.txt
./rot.log
./rot.log.1'

# the listing the application wrote at its end, py-* names made constant
listing() {
	sed -e 's|^\./py-.*|./py-XXX|' -e 's|^\./tmp-.*|./tmp-XXX|' -e 's|^\./dtmp-.*|./dtmp-XXX|' "$D/listing"
}

# the same of W now
w_listing() {
	(cd "$W" && find . | sort) | sed -e 's|^\./py-.*|./py-XXX|' -e 's|^\./tmp-.*|./tmp-XXX|' -e 's|^\./dtmp-.*|./dtmp-XXX|'
}

start_app() {
	start_bg "$CREST" launch --dir "$CK" --keep 3 -- bash "$APP" "$W" "$D" "$CR_BIN/make_temp"
	app=$BG
	wait_line '^ready$' 15
	note_coord
}

checkpoint() {
	run_logged timeout 60 "$CREST" checkpoint --dir "$CK"
	[ "$status" -eq 0 ]
}

make_files() {
	touch "$D/go"
	wait_line '^made$' 30
}

# restart ARGS..., then let the application end; its listing in $output
restart_to_end() {
	echo "--- restart ---" >>"$OUT"
	start_bg "$CREST" restart --dir "$CK" "$@"
	sleep 1
	touch "$D/end"
	wait_exit "$BG" 60
	[ "$rc" -eq 0 ]
	[ "$(tail -n 1 "$OUT")" = PASS ]
	run_logged listing
}

@test "what the computation made after the checkpoint is removed at restart; what was there before stays" {
	start_app
	checkpoint
	make_files
	[ -e "$CK/CREATED" ]
	kill_app "$app"
	restart_to_end
	[ "$output" = "$BEFORE_LISTING" ]
	# renamed over an older file, or made again where one was: their new
	# content; appended: kept
	[ "$(cat "$W/keep/old.txt")" = replaced ]
	[ "$(cat "$W/again.txt")" = "made again" ]
	# made where an older one was renamed away, or through a symbolic link
	[ "$(cat "$W/rot.log")" = "new log" ]
	[ "$(cat "$W/real/f.txt")" = "new f" ]
	[ "$(cat "$W/before.txt")" = "$(printf 'before\nmore')" ]
	grep -q 'removed 6 files and 2 folders the computation created after generation 1' "$OUT"
	[ "$(wc -l <"$CK/REMOVED")" -eq 8 ]
	grep -qx "$W/made/" "$CK/REMOVED"
	# the journal started again: only what the restarted run made
	! tr '\0' '\n' <"$CK/CREATED" | grep -q 'new.txt' || false
	tr '\0' '\n' <"$CK/CREATED" | grep -q "$D/listing\$"
}

@test "restart --generation 1 removes what was made before generation 2; a restart from generation 2 keeps it" {
	start_app
	checkpoint
	make_files
	checkpoint
	# what was made between 1 and 2 went with generation 2
	[ -s "$CK/gen-000002/n0/CREATED" ]
	[ ! -s "$CK/CREATED" ]
	# crest's own files (images, MANIFEST ...) are never in the record
	! cat "$CK"/gen-*/n0/CREATED | tr '\0' '\n' | grep -F "$CK" || false
	imgs=$(ls "$CK"/gen-000002/n0/*.img | wc -l)
	kill_app "$app"
	# from generation 2: everything was there then (killed again, so that
	# it does not end on its own)
	echo "--- restart ---" >>"$OUT"
	start_bg "$CREST" restart --dir "$CK" --generation 2
	app=$BG
	sleep 1
	run_logged w_listing
	[ "$output" = "$MADE_LISTING" ]
	! grep -q 'removed' "$OUT" || false
	kill_app "$app"

	restart_to_end --generation 1
	[ "$output" = "$BEFORE_LISTING" ]
	grep -q 'removed 6 files and 2 folders' "$OUT"
	# generation 2, made after generation 1, is still whole
	[ "$(ls "$CK"/gen-000002/n0/*.img | wc -l)" -eq "$imgs" ]
	[ -e "$CK/gen-000002/MANIFEST" ]
}

@test "restart --keep-created leaves what was made after the checkpoint" {
	start_app
	checkpoint
	make_files
	kill_app "$app"
	restart_to_end --keep-created
	[ "$output" = "$MADE_LISTING" ]
	! grep -q 'removed' "$OUT" || false
}

@test "a file made after the checkpoint and changed into another one since is not removed" {
	start_app
	checkpoint
	make_files
	kill_app "$app"
	# the same path, another file (inode): not the computation's any more
	rm "$W/new.txt"
	echo mine >"$W/new.txt"
	restart_to_end
	[ "$(cat "$W/new.txt")" = mine ]
	grep -q 'removed 5 files and 2 folders' "$OUT"
}

@test "a computation that ended on its own keeps what it made after its last checkpoint" {
	start_app
	checkpoint
	make_files
	touch "$D/end"
	wait_exit "$app" 30
	[ "$rc" -eq 0 ]
	rm "$D/end" "$D/listing"
	restart_to_end
	[ "$output" = "$MADE_LISTING" ]
	grep -q 'the computation ended on its own after generation 1; what it created since stays' "$OUT"
}
