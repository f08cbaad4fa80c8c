#!/usr/bin/env bats
# crest as a user would run it: no privileges.  Two cycles of checkpoint
# (plain, then zstd), kill -9 and restart of the threads program by the
# unprivileged user `nobody`, and the same result as an uninterrupted run.
# Run as root (to become nobody); skipped otherwise.

load helpers

setup() {
	require_core
	[ "$(id -u)" -eq 0 ] || skip "needs root to run as another user"
	command -v runuser >/dev/null || skip "runuser is missing"
	D=$(mktemp -d /tmp/crest-unpriv.XXXXXX)
	chmod 0755 "$D"
	cp "$CR_BIN/threads" "$D/threads"
	chmod 0755 "$D/threads"
	# an installed copy the user can reach (the checkout may be private to root)
	local b=$TOP/build
	mkdir -p "$D/inst/bin" "$D/inst/lib" "$D/inst/libexec/crest"
	cp "$b/bin/crest" "$b/bin/crest-coord" "$D/inst/bin/"
	cp "$b/lib/libcrest.so" "$D/inst/lib/"
	cp "$b/libexec/crest/crest-restart" "$D/inst/libexec/crest/"
	chmod -R a+rX "$D/inst"
	UCREST=$D/inst/bin/crest
	chown nobody "$D"
}

teardown() {
	pkill -9 -u nobody -f "$D/threads" 2>/dev/null
	local pid
	pid=$(awk '/^pid/ {print $2}' "$D/ck/COORD" 2>/dev/null)
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	[ -n "${D:-}" ] && rm -rf "$D"
	true
}

@test "checkpoint and restart as an unprivileged user, twice, same result" {
	local CREST=$UCREST
	cat >"$D/cycle.sh" <<EOF
set -u
cd "$D"
exec 3>&- 4>&-
"$CREST" launch --dir "$D/ck" -- "$D/threads" >"$D/out1" 2>&1 </dev/null &
app=\$!
sleep 1.2
"$CREST" checkpoint --dir "$D/ck" || exit 11
kill -9 \$app; wait \$app 2>/dev/null
"$CREST" restart --dir "$D/ck" >"$D/out2" 2>&1 </dev/null &
app=\$!
sleep 1.2
"$CREST" checkpoint --dir "$D/ck" --compress zstd || exit 12
kill -9 \$app; wait \$app 2>/dev/null
timeout 120 "$CREST" restart --dir "$D/ck" >"$D/out3" 2>&1 </dev/null || exit 13
EOF
	chmod 0755 "$D/cycle.sh"
	run_logged timeout 300 runuser -u nobody -- bash "$D/cycle.sh" 2>&1
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = 1 ]
	[ "${lines[1]}" = 2 ]
	# images belong to the user, private
	[ "$(stat -c %U "$D/ck")" = nobody ]
	[ "$(stat -c %a "$D/ck")" = 700 ]
	local img
	img=$(ls "$D"/ck/latest/n0/*.img)
	[ "$(stat -c '%U %a' "$img")" = "nobody 600" ]
	# same result as an uninterrupted run
	local want
	want=$("$CR_BIN/threads" | grep '^RESULT')
	cat "$D/out3"
	grep -qxF "$want" "$D/out3"
	tail -1 "$D/out3" | grep -qx PASS
}
