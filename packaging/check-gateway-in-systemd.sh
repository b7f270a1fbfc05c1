#!/bin/bash
# Run inside a booted Debian root by gateway_test.go (TestGatewayUnderSystemd):
# the daemon drives a co-located CloudLink Gateway core under a real systemd
# over its D-Bus. The core is the gateway package's stand-in (fakegw) in
# /opt/mitel/clgw/default, run by the template unit clgw@.service
# (Restart=on-failure, RestartSec=1s: a crashing core is systemd's to
# restart). The package's cld, with its hardened unit as shipped, starts,
# stops and restarts it; a core that crashes is restarted by systemd (one
# crash) or given up at systemd's start limit (a crash at every start: cld
# warns, and starts it again once repaired); a second instance directory
# is warned about with the guide's remedy. Each finding is a line "OK: …"
# or "FAIL: …" in /cld-check.result; snapshots of `cld status --json` are
# left in /cld-gw-*.json for the test to read.
#
# Inputs: /cld.deb, /checktool, the instance and unit the test put in the
# root, and /cld-gateway.env (PORT, PORT2, VERSION).
exec >/cld-check.log 2>&1
set -x
. /cld-gateway.env
result() { echo "$*" >>/cld-check.result; }
oneline() { tr '\n' ' ' | cut -c1-1500; }
U=clgw@default.service
H=/opt/mitel/clgw/default
# gw PATH: a field of `cld gateway status --json`; st PATH: of `cld status --json`.
gw() { cld gateway status --json 2>/dev/null | /checktool json "$1"; }
st() { cld status --json 2>/dev/null | /checktool json "$1"; }
prop() { systemctl show -p "$1" --value "$U"; }
# until_ SECONDS CONDITION…: true once the condition holds (polled every 0.25 s).
until_() {
	local tries=$(($1 * 4)) i
	shift
	for i in $(seq 1 "$tries"); do
		if "$@"; then return 0; fi
		sleep 0.25
	done
	return 1
}
journal() { journalctl -u cld.service -u "$U" --no-pager -o short-monotonic | tail -n "${1:-30}" | oneline; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
snap() { cld status --json >"/cld-gw-$1.json" 2>&1; }
view() { echo "cld: status $(gw status), healthy $(gw healthy), manager $(gw manager); systemd: $(systemctl is-active "$U") ($(prop SubState)), MainPID $(prop MainPID), NRestarts $(prop NRestarts)"; }
# health: the core's REST interface answers its health path (bash's /dev/tcp:
# the minimal root has no curl).
health() {
	timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET /api/v1/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3 && head -n 1 <&3 | grep -q " 200 "' health "$PORT" 2>/dev/null
}
# crash: POST /crash, fakegw's own hook (it exits with status 3).
crash() {
	timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "POST /crash HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n" >&3 && cat <&3 >/dev/null' crash "$PORT"
}
is_() { [ "$(gw status)" = "$1" ]; }
running_healthy() { is_ running && [ "$(gw healthy)" = true ]; }
warned() { cld status --json 2>/dev/null | /checktool json warnings | grep -q "\"code\":\"$1\""; }

dpkg -i /cld.deb
until_ 30 systemctl is-active -q cld.service || result "FAIL: the install did not start cld: $(journal)"
until_ 30 cld status >/dev/null 2>&1 || result "FAIL: cld status does not answer: $(journal)"
result "NOTE: $(cld version | head -n 1) under $(systemctl --version | head -n 1); the unit $(systemctl show -p FragmentPath --value cld.service) with CapabilityBoundingSet=$(systemctl show -p CapabilityBoundingSet --value cld.service), RestrictAddressFamilies=$(systemctl show -p RestrictAddressFamilies --value cld.service), ProtectSystem=$(systemctl show -p ProtectSystem --value cld.service), User=$(systemctl show -p User --value cld.service) (root)"

# 1. Found: installed, instance default, driven by systemd; the unit is not
# enabled, so the core is stopped until cld starts it.
snap found
if [ "$(st gateway.installed)" = true ] && [ "$(st gateway.instances)" = '["default"]' ] && [ "$(gw manager)" = systemd ] &&
	[ "$(gw version)" = "$VERSION" ] && is_ stopped && ! systemctl is-active -q "$U"; then
	result "OK: cld found the gateway: installed, instances [default], version $VERSION, manager systemd, status stopped (systemd: $(systemctl is-active "$U"))"
else
	result "FAIL: cld's gateway at its start: $(cld gateway status --json 2>&1 | oneline) $(journal)"
fi
journalctl -u cld.service --no-pager | grep -q 'CloudLink Gateway found.*manager=systemd' &&
	result "OK: the journal: $(journalctl -u cld.service --no-pager -o cat | grep 'CloudLink Gateway found' | tail -n 1 | cut -c1-300)"

# 2. cld gateway start: over D-Bus, from the daemon under its hardened unit.
t=$(now)
if out=$(cld gateway start 2>&1); then
	pid=$(prop MainPID)
	snap started
	if is_ running && systemctl is-active -q "$U" && [ "$pid" != 0 ]; then
		result "OK: cld gateway start ($(elapsed "$t")s): cld says $(gw status), systemd says $(systemctl is-active "$U") ($(prop SubState)), MainPID $pid $(readlink /proc/"$pid"/exe)"
	else
		result "FAIL: after cld gateway start: $(view) $(echo "$out" | oneline)"
	fi
	result "NOTE: right after the start cld's health check said healthy=$(gw healthy), gateway_down $(warned gateway_down && echo raised || echo not raised) (the check runs as soon as systemd's start job of the Type=simple unit is done, and is made again at the next poll)"
	c=$(busctl --system --no-legend list 2>/dev/null | awk -v p="$(systemctl show -p MainPID --value cld.service)" '$2 == p { print $1 }' | head -n 1)
	result "NOTE: the daemon's D-Bus connection: $([ -n "$c" ] && echo "$c on the system bus (busctl list: $(busctl --system --no-legend list | awk -v c="$c" '$1 == c' | oneline))" || echo "none on the system bus (systemd's private socket)")"
	if until_ 40 running_healthy; then
		result "OK: cld reports the core running and healthy $(elapsed "$t")s after the start; its REST interface answers (health: $(health && echo 200))"
	else
		result "FAIL: cld does not report the core healthy 40 s after its start: $(view) $(journal)"
	fi
else
	result "FAIL: cld gateway start, from the daemon under its hardened unit as shipped: $(echo "$out" | oneline) | $(view) | $(journal 12) | dbus: $(journalctl -u dbus.service --no-pager -o cat | tail -n 5 | oneline)"
fi

# 3. cld gateway stop.
t=$(now)
if out=$(cld gateway stop 2>&1) && is_ stopped && [ "$(systemctl is-active "$U")" = inactive ] && ! health; then
	result "OK: cld gateway stop ($(elapsed "$t")s): cld says $(gw status), systemctl is-active $U says $(systemctl is-active "$U"), MainPID $(prop MainPID), its REST port closed"
else
	result "FAIL: cld gateway stop: $(echo "$out" | oneline) | $(view)"
fi

# 4. cld gateway restart: from stopped it starts; from running a new MainPID.
cld gateway restart >/dev/null 2>&1
until_ 10 health
pid=$(prop MainPID)
t=$(now)
if out=$(cld gateway restart 2>&1) && is_ running && systemctl is-active -q "$U" && [ "$(prop MainPID)" != "$pid" ] && [ "$(prop MainPID)" != 0 ]; then
	until_ 10 health
	result "OK: cld gateway restart ($(elapsed "$t")s): running with MainPID $pid -> $(prop MainPID), cld says $(gw status); its REST interface answers again: $(health && echo yes || echo no)"
else
	result "FAIL: cld gateway restart: $(echo "$out" | oneline) | $(view) (MainPID before $pid)"
fi

# 5. One crash: systemd restarts the core after RestartSec; cld, at its next
# poll (every 30 s), reports it running and healthy.
pid=$(prop MainPID) n=$(prop NRestarts)
t=$(now)
crash
back() { systemctl is-active -q "$U" && [ "$(prop MainPID)" != "$pid" ] && [ "$(prop NRestarts)" -gt "$n" ] && health; }
if until_ 15 back; then
	took=$(elapsed "$t")
	result "OK: a crash (POST /crash, exit status 3): systemd restarted the core after ${took}s (RestartSec=$(prop RestartUSec)): MainPID $pid -> $(prop MainPID), NRestarts $n -> $(prop NRestarts)"
else
	result "FAIL: no restart after a crash: $(view) $(journal)"
fi
# Past the daemon's next poll, so that what it says was read after the crash.
sleep 32
if running_healthy && ! warned gateway_down; then
	result "OK: $(elapsed "$t")s after the crash cld reports the core running and healthy again, no gateway_down warning"
else
	result "FAIL: after the crash and systemd's restart: $(view) warnings $(st warnings | cut -c1-600)"
fi

# 6. A crash at every start (fakegw's crash file): systemd restarts it with
# RestartSec between the starts until its start limit, then gives up; cld
# reports it failed and warns gateway_down; repaired, cld gateway start
# (which resets the failure) runs it again and the warning goes.
pid=$(prop MainPID) n=$(prop NRestarts)
touch "$H/crash"
t=$(now)
crash
gaveup() { [ "$(systemctl is-active "$U")" = failed ]; }
if until_ 30 gaveup; then
	starts=$(journalctl -u "$U" --no-pager -o short-unix | awk -v t="${t%.*}" '$1 >= t && /Started/ { print $1 }')
	gaps=$(echo "$starts" | awk 'NR > 1 { printf "%s%.2fs", sep, $1 - p; sep = " " } { p = $1 }')
	min=$(echo "$starts" | awk 'NR > 1 { g = $1 - p; if (m == "" || g < m) m = g } { p = $1 } END { printf "%.2f", m }')
	if awk -v m="$min" 'BEGIN { exit !(m >= 1.0) }'; then
		result "OK: a core crashing at every start: systemd restarted it $(($(prop NRestarts) - n)) times (NRestarts $n -> $(prop NRestarts)), the starts $gaps apart (at least RestartSec=1s), then gave up after $(elapsed "$t")s: $(systemctl is-active "$U"), Result=$(prop Result); the journal: $(journalctl -u "$U" --no-pager -o cat | grep -m 1 'repeated too quickly')"
	else
		result "FAIL: restarts less than RestartSec apart: $gaps"
	fi
	result "NOTE: systemd 252 has no RestartSteps: its backoff is RestartSec between the starts and StartLimitBurst=$(systemctl show -p StartLimitBurst --value "$U") starts in StartLimitIntervalUSec=$(systemctl show -p StartLimitIntervalUSec --value "$U")"
else
	result "FAIL: systemd did not give up on a core crashing at every start: $(view) $(journal)"
fi
if until_ 40 is_ failed && until_ 5 warned gateway_down; then
	snap failed
	result "OK: cld reports it failed $(elapsed "$t")s after the first crash, with the warning gateway_down: $(st warnings | grep -o '{[^{}]*"gateway_down"[^{}]*}' | cut -c1-400)"
else
	result "FAIL: cld does not report the failed core: $(view) warnings $(st warnings | cut -c1-600)"
fi
rm -f "$H/crash"
t=$(now)
if out=$(cld gateway start 2>&1) && is_ running && systemctl is-active -q "$U"; then
	result "OK: repaired, cld gateway start ($(elapsed "$t")s) ran it again: cld says $(gw status), systemd $(systemctl is-active "$U") ($(prop SubState)), MainPID $(prop MainPID)"
	result "NOTE: right after this start cld's health check said healthy=$(gw healthy), gateway_down $(warned gateway_down && echo "still raised: $(st warnings | grep -o '{[^{}]*"gateway_down"[^{}]*}' | grep -o '"text":"[^"]*"')" || echo cleared)"
else
	result "FAIL: cld gateway start after the start limit: $(echo "$out" | oneline) | $(view)"
fi
if until_ 40 running_healthy && until_ 5 eval '! warned gateway_down'; then
	result "OK: cld reports it healthy and gateway_down is gone $(elapsed "$t")s after the start"
else
	result "FAIL: after the repair: $(view) warnings $(st warnings | cut -c1-600)"
fi

# 7. A second instance (as restored from a clustered CLGW's backup): at its
# next start cld warns with the guide's remedy, lists both and controls
# neither; the core under systemd keeps running.
mkdir -p /opt/mitel/clgw/second/etc
echo "$VERSION" >/opt/mitel/clgw/second/VERSION
printf 'REST_PORT=%s\nREST_SCHEME=http\n' "$PORT2" >/opt/mitel/clgw/second/etc/clgw.conf
p=$(systemctl show -p MainPID --value cld.service)
systemctl restart cld.service
until_ 30 eval '[ "$(systemctl show -p MainPID --value cld.service)" != "$p" ] && cld status >/dev/null 2>&1'
snap multi
if warned gateway_clgw-multiple-instances && [ "$(st gateway.instances)" = '["default","second"]' ]; then
	result "OK: with a second instance directory cld warns: $(st warnings | grep -o '{[^{}]*"gateway_clgw-multiple-instances"[^{}]*}' | cut -c1-900)"
	result "OK: cld gateway status: instances $(gw instances), status $(gw status), manager '$(gw manager)', error: $(gw error | cut -c1-300)"
else
	result "FAIL: no warning of two instances: $(cld status --json 2>&1 | oneline) $(journal)"
fi
if out=$(cld gateway stop 2>&1); then
	result "FAIL: cld gateway stop with two instances succeeded: $(echo "$out" | oneline)"
else
	result "OK: cld gateway stop with two instances is refused: $(echo "$out" | oneline | cut -c1-300)"
fi
if systemctl is-active -q "$U" && health; then
	result "OK: $U keeps running under systemd ($(systemctl is-active "$U"), MainPID $(prop MainPID))"
else
	result "FAIL: $U: $(view)"
fi
result "DONE"
systemctl poweroff
