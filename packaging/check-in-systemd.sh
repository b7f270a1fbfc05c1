#!/bin/sh
# Run inside a booted Debian root by packaging_test.go (TestServiceUnderSystemd):
# installs the package under a real systemd and checks the service's life.
# Each finding is a line "OK: …" or "FAIL: …" in /cld-check.result.
exec >/cld-check.log 2>&1
set -x
result() { echo "$*" >>/cld-check.result; }
mainpid() { systemctl show -p MainPID --value cld.service; }
# wait_new OLD: until the service is active with a main PID other than OLD.
wait_new() {
	for i in $(seq 1 300); do
		p=$(mainpid)
		if systemctl is-active -q cld.service && [ "$p" != 0 ] && [ "$p" != "$1" ]; then return 0; fi
		sleep 0.1
	done
	return 1
}
# A quick watchdog for the test (the package's is 60 s).
mkdir -p /etc/systemd/system/cld.service.d
printf '[Service]\nWatchdogSec=4s\nRestartSec=1s\n' >/etc/systemd/system/cld.service.d/test.conf

dpkg -i /cld.deb
if wait_new 0; then
	result "OK: the install started cld"
else
	result "FAIL: the install did not start cld: $(systemctl status cld.service | tr '\n' ' ') $(journalctl -u cld.service --no-pager | tail -n 20 | tr '\n' ' ')"
fi
systemctl is-enabled -q cld.service && result "OK: enabled" || result "FAIL: the install did not enable cld"

p=$(mainpid)
systemctl restart cld.service
if wait_new "$p"; then result "OK: systemctl restart"; else result "FAIL: systemctl restart"; fi

p=$(mainpid)
systemctl reload cld.service
for i in $(seq 1 50); do journalctl -u cld.service --no-pager | grep -q "configuration reloaded" && break; sleep 0.1; done
if [ "$(mainpid)" = "$p" ] && journalctl -u cld.service --no-pager | grep -q "configuration reloaded"; then
	result "OK: systemctl reload (same process, configuration reloaded)"
else
	result "FAIL: systemctl reload: pid $p -> $(mainpid); $(journalctl -u cld.service --no-pager | tail -n 8 | tr '\n' ' ')"
fi

p=$(mainpid)
[ "$p" != 0 ] && kill -STOP "$p"
if wait_new "$p" && journalctl -u cld.service --no-pager | grep -qi "watchdog timeout"; then
	result "OK: the watchdog restarted a stopped daemon"
else
	result "FAIL: the watchdog did not restart the stopped daemon"
fi

p=$(mainpid)
[ "$p" != 0 ] && kill -SEGV "$p"
if wait_new "$p"; then result "OK: restarted after a crash"; else result "FAIL: no restart after a crash"; fi

# An upgrade restarts the running service and keeps its state.
id=$(grep -o '"installation_id": *"[^"]*"' /var/lib/cld/link.json)
p=$(mainpid)
dpkg -i /cld2.deb
if wait_new "$p" && cld version | grep -q '+2' && [ -n "$id" ] && grep -q "$id" /var/lib/cld/link.json; then
	result "OK: the upgrade restarted cld and kept its state"
else
	result "FAIL: the upgrade: pid $p -> $(mainpid), $(cld version), id $id"
fi

if journalctl -u cld.service --no-pager | grep -q "cld started"; then result "OK: the journal holds the daemon's log"; else result "FAIL: no daemon log in the journal"; fi

dpkg -r cld
sleep 0.5
if systemctl is-active -q cld.service; then result "FAIL: dpkg -r left cld running"; else result "OK: dpkg -r stopped cld"; fi
result "DONE"
systemctl poweroff
