#!/bin/sh
# Installs what the end-to-end benchmark (bench/postfix) needs beyond scripts/test-deps.sh:
# rspamd (Debian 12's 3.4), the peer measured side by side with spamgate.
#
# Idempotent and fast: when rspamd is already there it exits without touching apt.
# The benchmark starts its own rspamd on loopback ports with a private configuration, so the
# install must NOT leave the system service running (it would hold ports 11332-11334 and
# query the outside DNS). As in scripts/test-deps.sh: a temporary policy-rc.d forbids
# service starts during the install, and anything started anyway is stopped and disabled.
set -eu

# binary -> package; every binary the benchmark calls directly.
needs='
/usr/bin/rspamd rspamd
'

missing=$(echo "$needs" | while read -r bin pkg; do
	[ -n "$bin" ] || continue
	[ -x "$bin" ] || echo "$pkg"
done | sort -u | tr '\n' ' ' | sed 's/ $//')

if [ -z "$missing" ]; then
	exit 0
fi

install_cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing"

if [ "$(id -u)" -ne 0 ]; then
	echo "bench-deps: missing packages: $missing" >&2
	echo "bench-deps: run as root:" >&2
	echo "  apt-get update && $install_cmd" >&2
	exit 1
fi

echo "bench-deps: installing $missing" >&2

# Refuse every service start during the install (exit 101 = "action forbidden"), unless the
# machine already has a policy-rc.d of its own (container images often do): leave that alone.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	trap 'rm -f "$policy"' EXIT
fi

apt-get update -qq
# shellcheck disable=SC2086 # $missing is a list of package names
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null

# Belt and braces: if a maintainer script started the system rspamd anyway, stop it and keep
# it from starting at boot (the benchmark runs its own instance).
if [ -x /etc/init.d/rspamd ]; then
	/etc/init.d/rspamd stop >/dev/null 2>&1 || true
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now rspamd >/dev/null 2>&1 || true
elif command -v update-rc.d >/dev/null 2>&1; then
	update-rc.d rspamd disable >/dev/null 2>&1 || true
fi

echo "bench-deps: done" >&2
