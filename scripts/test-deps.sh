#!/bin/sh
# Installs what spamgate's tests need on a Debian 12 machine: Postfix (smtpd, smtp-sink,
# smtp-source and postconf all ship in the "postfix" package), Redis, OpenLDAP and
# SpamAssassin's spamd, and chromium (the web UI's browser tests drive it headless). With the
# argument "bench" (make bench) also rspamd, Debian 12's 3.4, the peer the end-to-end
# benchmark measures side by side with spamgate.
#
# Idempotent and fast: when every binary is already there it exits without touching apt.
# The tests start their own throwaway instances of these servers on loopback ports, so the
# install must NOT leave system daemons running or configured (a system Postfix on port 25
# or a slapd with a database would only get in the way). Hence the debconf preselections and
# a temporary policy-rc.d that forbids service starts during the install (this machine has
# no systemd and the maintainer scripts would otherwise try to start them).
set -eu

# binary -> package; every binary the tests or the rig call directly.
needs='
/usr/sbin/postfix postfix
/usr/sbin/postconf postfix
/usr/sbin/smtp-sink postfix
/usr/sbin/smtp-source postfix
/usr/lib/postfix/sbin/master postfix
/usr/bin/redis-server redis-server
/usr/bin/redis-cli redis-tools
/usr/sbin/slapd slapd
/usr/sbin/slapadd slapd
/usr/bin/ldapsearch ldap-utils
/usr/bin/ldapadd ldap-utils
/usr/bin/xmllint libxml2-utils
/usr/sbin/spamd spamd
/usr/bin/spamassassin spamassassin
/usr/bin/arcsign python3-dkim
/usr/lib/python3/dist-packages/authres python3-authres
/usr/sbin/unbound unbound
/usr/bin/chromium chromium
'
if [ "${1:-}" = bench ]; then
	needs="$needs
/usr/bin/rspamd rspamd"
fi

missing=$(echo "$needs" | while read -r bin pkg; do
	[ -n "$bin" ] || continue
	[ -x "$bin" ] || echo "$pkg"
done | sort -u | tr '\n' ' ' | sed 's/ $//')

if [ -z "$missing" ]; then
	exit 0
fi

install_cmd="DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing"

if [ "$(id -u)" -ne 0 ]; then
	echo "test-deps: missing packages: $missing" >&2
	echo "test-deps: run as root:" >&2
	echo "  apt-get update && $install_cmd" >&2
	exit 1
fi

echo "test-deps: installing $missing" >&2

# "No configuration": Postfix installs its binaries, the postfix user and the postdrop
# group, but writes no main.cf and starts nothing. slapd likewise creates no database.
debconf-set-selections <<'EOF'
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string localhost
slapd slapd/no_configuration boolean true
EOF

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

# Belt and braces: if some maintainer script started a daemon anyway, stop it so that it does
# not hold ports 25, 6379, 389 or 11332-11334 (tests and benchmarks use their own instances
# on free loopback ports).
if [ -x /usr/sbin/postfix ] && postfix status >/dev/null 2>&1; then
	postfix stop >/dev/null 2>&1 || true
fi
for svc in redis-server slapd spamd rspamd; do
	if [ -x "/etc/init.d/$svc" ]; then
		"/etc/init.d/$svc" stop >/dev/null 2>&1 || true
	fi
done

echo "test-deps: done" >&2
