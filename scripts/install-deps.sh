#!/bin/bash
# Install what building and testing crest needs, on Debian 12.
# --fuzz: also what `make fuzz` needs (clang and its libFuzzer).
# --soak: also what `make soak` runs (Debian's GROMACS).
# Idempotent: asks dpkg first and touches apt only when something is missing.
# Works without a terminal (CI=true, no stdin).
set -euo pipefail

PKGS=(build-essential libzstd-dev zstd bats python3 python3-numpy r-base-core
      procps util-linux iproute2 file busybox-static
      slurm-wlm slurm-client munge libslurm-dev
      openmpi-bin libopenmpi-dev)

# libFuzzer (libclang_rt.fuzzer-x86_64.a) is in libclang-rt-14-dev, which
# clang only recommends: libclang-rt-dev pulls the one matching clang
FUZZ_PKGS=(clang libclang-rt-dev)
SOAK_PKGS=(gromacs)

case "${1:-}" in
"") ;;
--fuzz) PKGS+=("${FUZZ_PKGS[@]}") ;;
--soak) PKGS+=("${SOAK_PKGS[@]}") ;;
*)
	echo "usage: $0 [--fuzz | --soak]" >&2
	exit 2
	;;
esac

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	if [ "$st" != "install ok installed" ]; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: not root; run as root, or:" >&2
	echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-deps: installing ${missing[*]}"
apt-get update </dev/null
apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
