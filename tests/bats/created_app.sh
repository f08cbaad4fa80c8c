#!/bin/bash
# The application of created.bats: bash, mkdir, mv and python3 making files
# in folder W (its first argument), steered by files the test makes in
# CTL (its second):
#   start        makes W/before.txt, W/again.txt, W/rot.log, W/keep/,
#                W/keep/old.txt, W/real/ with W/real/f.txt and the symbolic
#                link W/ln -> real; prints "ready"
#   CTL/go       makes W/new.txt, W/made/ and W/made/in.txt, W/keep/moved.txt
#                (made as W/moved.tmp, then mv), replaces W/keep/old.txt
#                (W/old.tmp, then mv over it), appends to W/before.txt,
#                makes a python3 tempfile.mkstemp file in W and binds a
#                python3 AF_UNIX socket to W/sock (a relative path: W's
#                may be too long for an AF_UNIX address), removes W/again.txt and
#                makes it again, renames W/rot.log to W/rot.log.1 and makes
#                a new W/rot.log, replaces W/ln/f.txt (rm, then >), makes a
#                file and a folder with glibc's mkstemp and mkdtemp
#                (MAKE_TEMP, a program); removes CTL/go, prints "made"
#   CTL/end      lists W (find, sorted) into CTL/listing, prints PASS, exits
set -u
W=$1
CTL=$2
MAKE_TEMP=$3
mkdir -p "$W/keep" || exit 1
echo before >"$W/before.txt"
echo again >"$W/again.txt"
echo old >"$W/keep/old.txt"
echo rot >"$W/rot.log"
mkdir -p "$W/real" && echo f >"$W/real/f.txt" && ln -sfn real "$W/ln"
echo ready
while [ ! -e "$CTL/end" ]; do
	if [ -e "$CTL/go" ]; then
		echo new >"$W/new.txt"
		mkdir "$W/made" && echo in >"$W/made/in.txt"
		echo moved >"$W/moved.tmp" && mv "$W/moved.tmp" "$W/keep/moved.txt"
		echo replaced >"$W/old.tmp" && mv "$W/old.tmp" "$W/keep/old.txt"
		echo more >>"$W/before.txt"
		python3 -c 'import sys, tempfile; tempfile.mkstemp(prefix="py-", dir=sys.argv[1])' "$W"
		(cd "$W" && python3 -c 'import socket; socket.socket(socket.AF_UNIX).bind("sock")')
		rm "$W/again.txt" && echo "made again" >"$W/again.txt"
		mv "$W/rot.log" "$W/rot.log.1" && echo "new log" >"$W/rot.log"
		rm "$W/ln/f.txt" && echo "new f" >"$W/ln/f.txt"
		"$MAKE_TEMP" "$W" >/dev/null || exit 1
		rm -f "$CTL/go"
		echo made
	fi
	sleep 0.1
done
(cd "$W" && find . | sort) >"$CTL/listing"
echo PASS
