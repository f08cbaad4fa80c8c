#!/bin/bash
# Runs CMD as the test cluster's user (crest-test), with SLURM_CONF of
# the cluster, in the current directory (which the user must be able to
# enter).  as-user.sh [--state DIR] CMD...
set -euo pipefail
STATE=/tmp/crest-cluster
if [ "${1:-}" = --state ]; then STATE=$2; shift 2; fi
# shellcheck disable=SC1091
. "$STATE/env.sh"
exec runuser -u "$CREST_CLUSTER_USER" -- env SLURM_CONF="$SLURM_CONF" PATH=/usr/local/bin:/usr/bin:/bin \
	HOME="$(getent passwd "$CREST_CLUSTER_USER" | cut -d: -f6)" "$@"
