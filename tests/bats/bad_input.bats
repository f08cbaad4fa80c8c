#!/usr/bin/env bats
# Damaged and foreign checkpoints: crest inspect and crest restart must
# refuse them with a message, never start the application, and leave the
# other generations as they were.
#
# setup_file takes two checkpoints of tests/cr/counter (generations 1 and
# 2) and kills it; every test works on its own copy and damages the newest.

load helpers

MARK=bad_input_marker

setup_file() {
	BASE=$BATS_RUNS/bad_input-base
	export BASE
	rm -rf "$BASE"
	mkdir -p "$BASE"
	[ -x "$CREST" ] && [ -e "$TOP/build/lib/libcrest.so" ] || return 0
	(exec_clean "$CREST" launch --dir "$BASE/ck" --keep 3 -- "$CR_BIN/counter" "$MARK" \
		>"$BASE/app.out" 2>&1 </dev/null &)
	sleep 1
	{
		timeout 60 "$CREST" checkpoint --dir "$BASE/ck" &&
		sleep 0.5 &&
		timeout 60 "$CREST" checkpoint --dir "$BASE/ck" &&
		touch "$BASE/ok"
	} >"$BASE/checkpoint.out" 2>&1
	pkill -9 -f "$CR_BIN/counter $MARK" || true
	wait_coord_gone "$BASE/ck" 20 || true
}

teardown_file() {
	pkill -9 -f "$CR_BIN/counter $MARK" || true
}

setup() {
	require_core
	if [ ! -e "$BASE/ok" ]; then
		cat "$BASE/checkpoint.out" "$BASE/app.out" 2>/dev/null
		echo "the two base checkpoints of counter failed (see $BASE)"
		return 1
	fi
	D=$(test_dir)
	cp -a "$BASE/ck" "$D/ck"
	CK=$D/ck
	OLD=$(ls -d "$CK"/gen-* | sort | head -n 1)
	NEW=$(ls -d "$CK"/gen-* | sort | tail -n 1)
	[ "$OLD" != "$NEW" ]
	NEWGEN=$(basename "$NEW" | sed 's/^gen-0*//')
	IMG=$(find "$NEW" -name '*.img' | head -n 1)
	[ -f "$IMG" ]
	(cd "$OLD" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$D/old.sums"
}

# the older generation is byte for byte what it was, and verifies
assert_old_untouched() {
	(cd "$OLD" && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$D/old.sums.after"
	run_logged diff "$D/old.sums" "$D/old.sums.after"
	[ "$status" -eq 0 ]
	run_logged "$CREST" inspect "$OLD"
	[ "$status" -eq 0 ]
}

# the application did not run: no output of it, no process of it
assert_not_started() {
	[[ "$output" != *"counter:"* ]]
	[[ "$output" != *RESULT* ]]
	run pgrep -f "$CR_BIN/counter $MARK"
	[ "$status" -ne 0 ]
}

restart_logged() {
	run_logged timeout -s KILL 60 bash -c "$(declare -f exec_clean); exec_clean \"\$@\"" _ "$CREST" restart "$@"
}

@test "the base checkpoints verify" {
	run_logged "$CREST" inspect "$NEW"
	[ "$status" -eq 0 ]
	assert_old_untouched
}

@test "a flipped byte in an image: inspect and restart refuse, app not started" {
	off=$(img_payload_middle "$IMG")
	flip_byte "$IMG" "$off"
	run_logged "$CREST" inspect "$NEW"
	[ "$status" -ne 0 ]
	[[ "${output,,}" =~ damage|checksum|corrupt|mismatch ]]
	restart_logged --dir "$CK" --generation "$NEWGEN"
	[ "$status" -ne 0 ] && [ "$status" -ne 137 ]
	[[ "${output,,}" =~ damage|checksum|corrupt|mismatch ]]
	assert_not_started
	assert_old_untouched
}

@test "a truncated image: inspect and restart refuse, app not started" {
	size=$(stat -c %s "$IMG")
	truncate -s $((size / 2)) "$IMG"
	run_logged "$CREST" inspect "$NEW"
	[ "$status" -ne 0 ]
	[[ "${output,,}" =~ damage|truncat|short|size|bytes ]]
	restart_logged --dir "$CK" --generation "$NEWGEN"
	[ "$status" -ne 0 ] && [ "$status" -ne 137 ]
	[[ "${output,,}" =~ damage|truncat|short|size|bytes ]]
	assert_not_started
	assert_old_untouched
}

@test "a missing directory: clear error" {
	run_logged "$CREST" inspect "$D/no-such-dir"
	[ "$status" -ne 0 ]
	[[ "$output" == *no-such-dir* ]]
	restart_logged --dir "$D/no-such-dir"
	[ "$status" -ne 0 ] && [ "$status" -ne 137 ]
	[[ "$output" == *no-such-dir* ]]
	assert_not_started
	[ ! -e "$D/no-such-dir" ]
	assert_old_untouched
}

@test "a generation without MANIFEST: inspect says incomplete, restart refuses it" {
	rm "$NEW/MANIFEST"
	run_logged "$CREST" inspect "$NEW"
	[ "$status" -ne 0 ]
	[[ "${output,,}" =~ incomplete|manifest ]]
	restart_logged --dir "$CK" --generation "$NEWGEN"
	[ "$status" -ne 0 ] && [ "$status" -ne 137 ]
	[[ "${output,,}" =~ incomplete|manifest ]]
	assert_not_started
	assert_old_untouched
}

@test "an image of another format version: clear refusal" {
	patch_header "$IMG" 8 99 "$NEW/MANIFEST"
	run_logged "$CREST" inspect "$NEW"
	[ "$status" -ne 0 ]
	[[ "${output,,}" == *version* ]]
	restart_logged --dir "$CK" --generation "$NEWGEN"
	[ "$status" -ne 0 ] && [ "$status" -ne 137 ]
	[[ "${output,,}" == *version* ]]
	assert_not_started
	assert_old_untouched
}

@test "an image of another architecture: clear refusal" {
	patch_header "$IMG" 16 183 "$NEW/MANIFEST"	# EM_AARCH64
	run_logged "$CREST" inspect "$NEW"
	[ "$status" -ne 0 ]
	[[ "${output,,}" =~ arch ]]
	restart_logged --dir "$CK" --generation "$NEWGEN"
	[ "$status" -ne 0 ] && [ "$status" -ne 137 ]
	[[ "${output,,}" =~ arch ]]
	assert_not_started
	assert_old_untouched
}

@test "a checkpoint directory owned by another user: restart refuses" {
	[ "$(id -u)" -eq 0 ] || skip "needs root to chown the directory"
	id nobody >/dev/null 2>&1 || skip "no user nobody"
	chown -R nobody "$CK"
	restart_logged --dir "$CK"
	[ "$status" -ne 0 ] && [ "$status" -ne 137 ]
	[[ "${output,,}" =~ owne|uid|user|permission ]]
	assert_not_started
	chown -R root "$CK"
	assert_old_untouched
}
