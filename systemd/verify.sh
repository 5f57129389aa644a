#!/usr/bin/env bash
# Checks systemd/workermand.service and workermand.socket with systemd-analyze verify, inside a
# scratch root that holds the real binary at /usr/bin/workermand (verify
# fails when an Exec binary is missing) and a copy of the system's units, so
# nothing is installed on the machine itself. A unit that verifies prints
# nothing; any output (even a warning) fails this script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:?usage: verify.sh path/to/workermand}
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/usr/bin" "$root/etc/systemd/system" "$root/etc/workermand"
install -m 0755 "$bin" "$root/usr/bin/workermand"
for d in /usr/lib/systemd /lib/systemd /etc/systemd; do
	[ -d "$d" ] && mkdir -p "$root$d" && cp -a "$d/." "$root$d/" 2>/dev/null || true
done
cp "$here/workermand.service" "$here/workermand.socket" "$root/etc/systemd/system/"
out=$(systemd-analyze verify --root="$root" workermand.service workermand.socket 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
	echo "$out"
	exit 1
fi
echo "systemd/workermand.service and workermand.socket verify"
