#!/bin/sh
# Build a Debian package of spamgate with dpkg-deb alone (no debhelper, no
# nfpm): a static binary, the systemd unit, the configuration as a conffile,
# the docs and the maintainer scripts from packaging/.
#
#   sh scripts/build-deb.sh [OUTDIR]      (default OUTDIR: dist, or $DEB_OUT_DIR)
#
# Environment:
#   VERSION       Debian version to use instead of one made from git describe
#   SPAMGATE_BIN  where the binary is built (default bin/spamgate)
#   MAINTAINER    the control file's Maintainer field
set -eu

out=${1:-${DEB_OUT_DIR:-dist}}
bin=${SPAMGATE_BIN:-bin/spamgate}
# Paths given relative to the caller's directory, before moving to the root.
case $out in /*) ;; *) out=$(pwd)/$out ;; esac
case $bin in /*) ;; *) bin=$(pwd)/$bin ;; esac
cd "$(dirname "$0")/.."

die() {
	echo "build-deb: $*" >&2
	exit 1
}

# debian_version turns `git describe --tags --always` into a Debian version:
# v1.2.0 → 1.2.0; v1.2.0-5-gabc1234 → 1.2.0+git20260101.5.abc1234; no tag
# at all (describe gives the bare hash) → 0.0.0+git20260101.abc1234. A "-"
# in a tag becomes "~" (v1.0-rc1 → 1.0~rc1, which sorts before 1.0). The
# date is the commit's, so one commit always gets the same version.
debian_version() {
	desc=$(git describe --tags --always 2>/dev/null) || return 1
	date=$(git log -1 --format=%cd --date=format:%Y%m%d) || return 1
	if ! git describe --tags >/dev/null 2>&1; then
		echo "0.0.0+git$date.$desc"
		return
	fi
	desc=${desc#v}
	case $desc in
	*-*-g*)
		tag=${desc%-*-g*}
		rest=${desc#"$tag"-}
		echo "$(echo "$tag" | tr - '~')+git$date.${rest%%-g*}.${rest#*-g}"
		;;
	*) echo "$desc" | tr - '~' ;;
	esac
}

# go_arch maps a Debian architecture to GOARCH; the binary is built for the
# machine the package is for.
go_arch() {
	case $1 in
	amd64 | arm64 | riscv64 | s390x) echo "$1" ;;
	i386) echo 386 ;;
	armhf) echo arm ;;
	ppc64el) echo ppc64le ;;
	*) return 1 ;;
	esac
}

command -v dpkg-deb >/dev/null || die "dpkg-deb not found (package dpkg)"
VERSION=${VERSION:-$(debian_version)} || die "no VERSION given and git describe failed"
case $VERSION in
[0-9]*) ;;
*) die "version '$VERSION' must start with a digit" ;;
esac
case $VERSION in
*[!A-Za-z0-9.+~]*) die "version '$VERSION' has characters Debian does not allow" ;;
esac
ARCH=$(dpkg --print-architecture)
goarch=$(go_arch "$ARCH") || die "no GOARCH known for Debian architecture $ARCH"
MAINTAINER=${MAINTAINER:-spamgate maintainers <spamgate@localhost>}

echo "build-deb: spamgate $VERSION for $ARCH" >&2
mkdir -p "$(dirname "$bin")" "$out"
CGO_ENABLED=0 GOOS=linux GOARCH=$goarch go build -trimpath \
	-ldflags "-s -w -X main.version=$VERSION" -o "$bin" ./cmd/spamgate ||
	die "go build failed"

stage=$(mktemp -d "${TMPDIR:-/tmp}/spamgate-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
trap 'exit 1' INT TERM
root=$stage/spamgate
doc=$root/usr/share/doc/spamgate
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/spamgate" "$doc"

cp "$bin" "$root/usr/bin/spamgate"
cp packaging/spamgate.service "$root/lib/systemd/system/"
# The packaged configuration listens on a unix socket inside Postfix's
# chroot (README.Debian): on inet:127.0.0.1 any local user could tie up the
# sessions Postfix needs. The repository's file keeps the built-in default.
inet_listen='listen = "inet:127.0.0.1:8891"'
deb_listen='listen = "unix:/var/spool/postfix/spamgate/milter.sock"'
[ "$(grep -cx "$inet_listen" etc/spamgate.toml)" = 1 ] ||
	die "etc/spamgate.toml has no single line '$inet_listen' to replace"
sed "s|^$inet_listen\$|$deb_listen|" etc/spamgate.toml >"$root/etc/spamgate/spamgate.toml"
cp README.md docs/BENCHMARKS.md packaging/copyright packaging/README.Debian "$doc/"
# No man page: the command's own usage text, as installed, instead.
"$bin" help >"$doc/spamgate.txt" || die "$bin help failed"
for s in postinst prerm postrm; do
	cp "packaging/$s" "$root/DEBIAN/"
done
echo /etc/spamgate/spamgate.toml >"$root/DEBIAN/conffiles"

# Modes fixed here, not taken from the checkout's umask.
find "$root" -type d -exec chmod 0755 {} +
find "$root" -type f -exec chmod 0644 {} +
chmod 0755 "$root/usr/bin/spamgate" "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: spamgate
Version: $VERSION
Architecture: $ARCH
Maintainer: $MAINTAINER
Installed-Size: $size
Depends: adduser
Recommends: postfix, redis-server
Section: mail
Priority: optional
Description: mail-policy milter for Postfix
 spamgate checks mail for Postfix over the milter protocol: DNSBLs, sender
 domain, SPF, DKIM verification and signing, DMARC with aggregate reports,
 per-recipient TLS policy and an smtp_tls_policy_maps socketmap.
 It runs as the spamgate user under a hardened systemd unit.
CONTROL

# File times from the commit, so a rebuild of one commit gives the same .deb.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
	export SOURCE_DATE_EPOCH
fi
deb=$out/spamgate_${VERSION}_$ARCH.deb
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null || die "dpkg-deb failed"
echo "$deb"
