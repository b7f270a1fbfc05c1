#!/bin/sh
# After installing or upgrading cld (deb: postinst configure [OLD]; rpm: %post 1|2).
# A first install enables the service and starts it when systemd runs; an
# upgrade restarts a running service (the link and the tunnels' chosen state
# live in /var/lib/cld and are kept). Without a running systemd (a container,
# a chroot) the service is only enabled, for the next boot.
set -e
action=install
case "$1" in
configure) [ -n "$2" ] && action=upgrade ;;
abort-upgrade | abort-remove | abort-deconfigure) action=upgrade ;;
2) action=upgrade ;;
esac
mkdir -p /var/lib/cld
chmod 0700 /var/lib/cld
command -v systemctl >/dev/null 2>&1 || exit 0
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if [ "$action" = install ]; then
		systemctl enable --now cld.service || echo "cld: the service did not start; see: systemctl status cld, journalctl -u cld" >&2
	else
		# A self-update's swap in progress ends first (the update lock; the
		# new start's launcher then sees this package's version).
		if command -v flock >/dev/null 2>&1 && [ -e /var/lib/cld/update/lock ]; then
			flock -w 120 /var/lib/cld/update/lock true || true
		fi
		systemctl try-restart cld.service || echo "cld: the service did not restart; see: systemctl status cld, journalctl -u cld" >&2
	fi
elif [ "$action" = install ]; then
	systemctl enable cld.service >/dev/null 2>&1 || true
fi
exit 0
