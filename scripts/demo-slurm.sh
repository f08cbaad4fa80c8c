#!/bin/bash
# crest under Slurm, the whole story on the test cluster of tests/cluster/
# (4 nodes in network namespaces on this machine; needs root): a job in the
# preemptible partition, checkpointed by `--checkpoint`, is preempted by a
# high-priority job; crest takes a final checkpoint, Slurm requeues the job,
# and its rerun continues where it was.  Run through `make demo-slurm`.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
demo=/tmp/crest-demo-slurm
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\033[31mdemo FAILED: %s\033[0m\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "the test cluster needs root"

cleanup() { "$top/tests/cluster/down.sh" --state "$demo/cluster" >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
rm -rf "$demo"
mkdir -p "$demo/ck" "$demo/work"
chmod 0755 "$demo"
chmod 1777 "$demo/ck"

say "1. install crest into $demo/prefix and start Slurm: munge, slurmctld, 4 slurmd"
make -C "$top" -s install PREFIX="$demo/prefix" >/dev/null
chmod -R a+rX "$demo/prefix"
CREST_PLUGSTACK_ARGS="dir=$demo/ck/%u interval_min=1s" \
	"$top/tests/cluster/up.sh" --state "$demo/cluster" --prefix "$demo/prefix" >/dev/null
. "$demo/cluster/env.sh"
sinfo
cat "$demo/cluster/etc/plugstack.conf"
as_user() { (cd "$demo/work" && "$top/tests/cluster/as-user.sh" --state "$demo/cluster" "$@"); }
chown crest-test "$demo/work"
cp "$top/tests/bats/slurm_app.py" "$demo/work/app.py"
cat >"$demo/work/job.sh" <<'JOB'
#!/bin/bash
#SBATCH -N2 --ntasks-per-node=2 -p low --requeue --checkpoint=5s --open-mode=append -o job.out
echo "== run ${SLURM_RESTART_COUNT:-0} of job $SLURM_JOB_ID on $SLURM_JOB_NODELIST"
srun python3 app.py 300 0.1
JOB
chmod 0755 "$demo/work/job.sh"

say "2. the user submits a 4-task job on 2 nodes, checkpointed every 5 s (#SBATCH --checkpoint=5s)"
cat "$demo/work/job.sh"
job=$(as_user sbatch --parsable job.sh)
echo "job $job"
step=
for ((i = 0; i < 300; i++)); do
	step=$(ls -d "$demo/ck/crest-test/$job"/*/ 2>/dev/null | head -n 1 || true)
	[ -n "$step" ] && [ -e "$step/latest" ] && break
	sleep 0.1
done
[ -n "$step" ] && [ -e "$step/latest" ] || fail "no checkpoint appeared"
sleep 4
echo "its checkpoints: $step"
ls "$step"

say "3. a high-priority job needs every node: the low job is preempted"
as_user sbatch --parsable -p high -N4 --ntasks-per-node=2 -o /dev/null --wrap "sleep 3"
for ((i = 0; i < 400; i++)); do
	grep -q 'a final checkpoint' "$step/coord.log" 2>/dev/null && break
	sleep 0.1
done
grep 'final checkpoint' "$step/coord.log" || fail "no final checkpoint"

say "4. Slurm requeues it at the end of the grace time; we let it start again at once"
for ((i = 0; i < 240; i++)); do
	[ "$(scontrol show job "$job" -o | grep -o 'Restarts=[0-9]*')" = Restarts=1 ] && break
	sleep 0.5
done
scontrol update JobId="$job" StartTime=now 2>/dev/null || true
for ((i = 0; i < 600; i++)); do
	st=$(scontrol show job "$job" -o | grep -o 'JobState=[A-Z]*')
	[ "$st" = JobState=COMPLETED ] && break
	sleep 0.5
done
[ "$st" = JobState=COMPLETED ] || fail "the job did not complete ($st)"

say "5. the job's output: the rerun printed no 'start' lines — each task continued"
cat "$demo/work/job.out"
for r in 0 1 2 3; do
	want=$(python3 "$demo/work/app.py" --expect "$r" 300)
	grep -qx "$want" "$demo/work/job.out" || fail "task $r: expected '$want'"
done
[ "$(grep -c '^start' "$demo/work/job.out")" -eq 4 ] || fail "a task started over"
say "demo OK: the answers equal an uninterrupted run's"
