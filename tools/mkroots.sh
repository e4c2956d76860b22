#!/bin/sh
# Builds, once per machine, the minimal Debian roots whose interpreters the tests run under
# chroot (issue 12): Debian unstable for python3.14 and python3.15, Debian 13 (trixie) for
# python3.13, each with its -dbg package (the detached debug info, and the python3.Xd debug
# build).  The roots live outside the repository, in $TG_ROOTS (default
# /var/tmp/tgattach-roots), and are reused: a root whose stamp lists the same packages is
# left alone.  The archive's Release files may be older than the clock allows, hence
# Acquire::Check-Valid-Until=false.  Exit 0 when every root is ready, 1 otherwise (the tests
# then skip that root's interpreters, saying why).
set -u
ROOTS="${TG_ROOTS:-/var/tmp/tgattach-roots}"
MIRROR="${TG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
APT="-o Acquire::Check-Valid-Until=false -o Acquire::Retries=3 -q"

log() { echo "tgattach roots: $*" >&2; }

need_debootstrap() {
	command -v debootstrap >/dev/null 2>&1 && return 0
	log "installing debootstrap"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
}

# build_root NAME SUITE PACKAGE...
build_root() {
	name=$1 suite=$2
	shift 2
	dir="$ROOTS/$name"
	want="$suite $*"
	if [ -f "$dir/.tgattach-ready" ] && [ "$(cat "$dir/.tgattach-ready")" = "$want" ]; then
		return 0
	fi
	need_debootstrap || { log "debootstrap is not available"; return 1; }
	log "building $dir ($suite: $*), once per machine"
	rm -rf "$dir.tmp" || return 1
	if ! debootstrap --variant=minbase "$suite" "$dir.tmp" "$MIRROR" >"$ROOTS/$name.log" 2>&1; then
		log "debootstrap $suite failed, see $ROOTS/$name.log"
		return 1
	fi
	# shellcheck disable=SC2086
	if ! chroot "$dir.tmp" apt-get $APT update >>"$ROOTS/$name.log" 2>&1 ||
		! DEBIAN_FRONTEND=noninteractive chroot "$dir.tmp" apt-get $APT install -y \
			--no-install-recommends "$@" >>"$ROOTS/$name.log" 2>&1; then
		log "apt-get install in $suite failed, see $ROOTS/$name.log"
		return 1
	fi
	chroot "$dir.tmp" apt-get clean >/dev/null 2>&1
	rm -rf "$dir" && mv "$dir.tmp" "$dir" && echo "$want" >"$dir/.tgattach-ready"
}

if [ "$(id -u)" != 0 ]; then
	log "not root: debootstrap and chroot need root; the roots are not built"
	exit 1
fi
mkdir -p "$ROOTS" || exit 1
exec 9>"$ROOTS/.lock"
flock 9
status=0
build_root unstable unstable python3.14 python3.14-dbg python3.15 python3.15-dbg || status=1
build_root trixie trixie python3.13 python3.13-dbg || status=1
exit $status
