#!/bin/sh
# Before removing cld (deb: prerm remove|upgrade|deconfigure; rpm: %preun 0|1).
# A removal stops and disables the service; an upgrade leaves it running (the
# new package restarts it).
set -e
case "$1" in
remove | deconfigure | 0) ;;
*) exit 0 ;;
esac
command -v systemctl >/dev/null 2>&1 || exit 0
if [ -d /run/systemd/system ]; then
	systemctl disable --now cld.service >/dev/null 2>&1 || true
else
	systemctl disable cld.service >/dev/null 2>&1 || true
fi
exit 0
