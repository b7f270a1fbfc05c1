#!/bin/sh
# Run inside a booted Debian root by update_test.go (TestSelfUpdateUnderSystemd):
# the self-update end to end with real processes under a real systemd. The
# reference cloud serves on loopback (the container has a private network);
# the v1 package's daemon, linked to it, finds a published release at its
# scheduled check (the update schedule's clock is skewed ahead with
# CLD_TEST_UPDATE_SKEW, a cldtest build's hook, so no time is slept), first
# a v2 that exits at its start (rolled back: v1 runs again), then a good v2
# (it runs under systemd, the cloud's portal shows it, dpkg --verify stays
# clean). Each finding is a line "OK: …" or "FAIL: …" in /cld-check.result.
#
# Inputs: /cld1.deb, /cld-v2, /cld-v2bad, /cld-cloud, /checktool,
# /release.key, and /cld-update.env (V1, V2, VBAD: the versions).
exec >/cld-check.log 2>&1
set -x
. /cld-update.env
result() { echo "$*" >>/cld-check.result; }
oneline() { tr '\n' ' ' | cut -c1-1500; }
mainpid() { systemctl show -p MainPID --value cld.service; }
# field CMD PATH: a JSON field of a cld command's --json output.
field() { cld $1 --json 2>/dev/null | /checktool json "$2"; }
# until SECONDS CONDITION…: true once the condition holds (polled every 0.5 s).
until_() {
	n=$(($1 * 2)); shift
	for i in $(seq 1 "$n"); do
		if "$@"; then return 0; fi
		sleep 0.5
	done
	return 1
}
journal() { journalctl -u cld.service --no-pager -o cat | tail -n "${1:-25}" | oneline; }
now() { date +%s; }
# skew_to EPOCH: restart cld with its update clock this far ahead that the
# scheduled check at EPOCH (host time zone) comes in LEAD seconds.
LEAD=8
skew_to() {
	skew=$(($1 - $(now) - LEAD))
	printf '[Service]\nEnvironment=CLD_TEST_UPDATE_SKEW=%ss\n' "$skew" >/etc/systemd/system/cld.service.d/skew.conf
	systemctl daemon-reload
	systemctl restart cld.service
	due=$(($(now) + LEAD))
}
DATA=/srv/cloud
CLOUD=https://127.0.0.1:8443

# The reference cloud, on the container's loopback.
mkdir -p /etc/systemd/system/cld.service.d $DATA
/cld-cloud serve --data $DATA --listen 127.0.0.1:8443 --edge-listen off --demo >/cld-cloud.log 2>&1 &
if until_ 60 grep -q "listening on" /cld-cloud.log; then
	result "OK: the reference cloud serves on $CLOUD"
else
	result "FAIL: the reference cloud did not start: $(oneline </cld-cloud.log)"
fi
ca=$(sed -n 's/^CA certificate[^:]*: //p' /cld-cloud.log)

# The cloud's settings as flags in a drop-in (flags beat the file), so
# that the package's files, /etc/cld/cld.yaml included, stay as installed
# and dpkg --verify has nothing to say but what a self-update would change.
mkdir -p /etc/cld-test
install -m 0644 "$ca" /etc/cld-test/cloud-ca.pem
printf '[Service]\nExecStart=\nExecStart=/usr/bin/cld run --config /etc/cld/cld.yaml --cloud %s --cloud-ca /etc/cld-test/cloud-ca.pem\n' "$CLOUD" \
	>/etc/systemd/system/cld.service.d/cloud.conf
dpkg -i /cld1.deb
until_ 30 systemctl is-active -q cld.service || result "FAIL: the install did not start cld: $(journal)"
until_ 30 cld status >/dev/null 2>&1
sum=$(sha256sum /usr/bin/cld)
v=$(dpkg --verify cld 2>&1)
[ -z "$v" ] || result "FAIL: dpkg --verify cld before any update: $(echo "$v" | oneline)"
echo demo-password | cld link --username admin@demo.test --password-stdin --account 100001
sid=$(field status system_id)
if [ "$(field status state)" = linked ] && [ "$(field status version)" = "$V1" ]; then
	result "OK: v1 ($V1) from the package runs under systemd, linked as system $sid"
else
	result "FAIL: v1 is not linked: $(cld status 2>&1 | oneline) $(journal)"
fi
cld update schedule daily 03:00
target=$(date -d 'tomorrow 03:00' +%s)

# 1. A v2 that exits at its start: the launcher's trial rolls it back.
/cld-cloud release publish --data $DATA --stage production --binary /cld-v2bad --key /release.key --version "$VBAD" ||
	result "FAIL: publishing $VBAD"
skew_to "$target"
back() {
	[ "$(field 'update status' last_update.result)" = rolled_back ] && systemctl is-active -q cld.service &&
		[ "$(field status version)" = "$V1" ] && [ "$(readlink /proc/$(mainpid)/exe)" = /usr/bin/cld ]
}
if until_ 90 back; then
	took=$(($(now) - due))
	if [ "$took" -le 60 ]; then
		result "OK: $VBAD (exits at its start) was installed at the scheduled check and rolled back: v1 runs again ${took}s after the check was due"
	else
		result "FAIL: v1 ran again only ${took}s after the check was due (more than a minute)"
	fi
	result "OK: cld update status: $(field 'update status' last_update | cut -c1-400)"
else
	result "FAIL: $VBAD was not rolled back to v1: $(cld update status 2>&1 | oneline) $(journal 40)"
fi
if journalctl -u cld.service --no-pager | grep -q "failed its trial; rolling back"; then
	result "OK: the journal holds the failed trial"
else
	result "FAIL: no failed trial in the journal"
fi
reported() {
	/cld-cloud report show --data $DATA --system "$sid" 2>/dev/null >/tmp/report.json &&
		[ "$(/checktool json update_schedule.last_result </tmp/report.json)" = rolled_back ]
}
if until_ 30 reported; then
	result "OK: the next inventory report carries the rollback ($(/checktool json update_schedule.last_version </tmp/report.json) rolled_back)"
else
	result "FAIL: no inventory report with the rollback: $(/checktool json update_schedule </tmp/report.json)"
fi

# 2. A good v2, found at the next day's scheduled check.
/cld-cloud release publish --data $DATA --stage production --binary /cld-v2 --key /release.key --version "$V2" ||
	result "FAIL: publishing $V2"
skew_to $((target + 86400))
updated() {
	[ "$(field 'update status' last_update.result)" = updated ] && [ "$(field status version)" = "$V2" ] &&
		systemctl is-active -q cld.service && [ "$(readlink /proc/$(mainpid)/exe)" = /var/lib/cld/update/bin/cld ]
}
if until_ 120 updated; then
	result "OK: v2 ($V2) found at the scheduled check, downloaded, verified, swapped, tried and confirmed: it runs under systemd as the main process $(mainpid) ($(readlink /proc/$(mainpid)/exe)) $(($(now) - due))s after the check was due"
	result "OK: cld update status: $(field 'update status' last_update | cut -c1-400)"
else
	result "FAIL: v2 does not run: $(cld status 2>&1 | oneline) $(cld update status 2>&1 | oneline) pid $(mainpid) $(readlink /proc/$(mainpid)/exe) $(journal 40)"
fi
in=/var/lib/cld/update/installed.json
result "NOTE: $in: current $(/checktool json current.version <$in) confirmed $(/checktool json current.confirmed <$in), installed_at $(/checktool json current.installed_at <$in) (the host's clock: $(date -u +%Y-%m-%dT%H:%M:%SZ)), starts $(/checktool json current.starts <$in)"
if [ "$(field status state)" = linked ] && [ "$(field status system_id)" = "$sid" ]; then
	result "OK: v2 keeps the link (system $sid)"
else
	result "FAIL: v2 lost the link: $(cld status 2>&1 | oneline)"
fi
result "OK: cld version (the package's /usr/bin/cld, untouched) says $(cld version | head -n 1); /var/lib/cld/update/bin/cld version says $(/var/lib/cld/update/bin/cld version | head -n 1)"
if [ "$(sha256sum /usr/bin/cld)" = "$sum" ]; then result "OK: /usr/bin/cld unchanged"; else result "FAIL: /usr/bin/cld changed"; fi
v=$(dpkg --verify cld 2>&1)
if [ -z "$v" ]; then result "OK: dpkg --verify cld prints nothing"; else result "FAIL: dpkg --verify cld: $(echo "$v" | oneline)"; fi
portal() { /checktool portal --cloud $CLOUD --ca /etc/cld-test/cloud-ca.pem --email admin@demo.test --password demo-password --account 100001 >/tmp/portal.txt 2>&1; }
shows_v2() { portal && grep -q " $V2\$" /tmp/portal.txt; }
if until_ 30 shows_v2; then
	result "OK: the cloud's portal systems table shows the daemon $(oneline </tmp/portal.txt)"
else
	result "FAIL: the portal's systems table does not show $V2: $(oneline </tmp/portal.txt)"
fi
result "DONE"
systemctl poweroff
