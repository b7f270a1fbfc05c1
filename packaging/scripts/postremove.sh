#!/bin/sh
# After removing cld (deb: postrm remove|purge|upgrade|…; rpm: %postun 0|1).
# A purge (deb) removes the state and the configuration: the link's
# credentials, the dashboard accounts, the tunnels' chosen state. A plain
# removal (deb remove, rpm -e) keeps /etc/cld and /var/lib/cld, so that
# installing again finds the host linked.
set -e
case "$1" in
purge)
	rm -rf /var/lib/cld /etc/cld /run/cld
	;;
esac
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
