#!/bin/sh
# Installs what the build and the tests need, with apt-get, only when something is missing.
set -e
need=""
for pkg in libelf-dev libdw-dev libcriterion-dev gnuplot-nox pkg-config python3.11-dbg libc6-dbg \
           gcc make libxml2-utils gunicorn python3-flask apache2-utils clang libclang-rt-14-dev \
           libprotobuf-c-dev protobuf-c-compiler zlib1g-dev chromium uwsgi-core uwsgi-plugin-python3; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
		need="$need $pkg"
done
[ -z "$need" ] && exit 0
echo "tgattach: installing missing packages:$need" >&2
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
else
	SUDO=
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
