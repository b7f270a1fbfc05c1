#!/usr/bin/env bash
# Runs the reference cloud (with its tunnel edge), a simulated telephony host
# (cld-simhost) and the daemon with its dashboard on this machine, with the
# cloud's demo accounts, until Ctrl-C. Everything lives in .demo/ (fresh each
# run); logs go to .demo/*.log.
#
# PLATFORM picks the simulated host (default msl):
#   msl      MSL 12.1 with MiVoice Business and MBG, and a CloudLink Gateway
#            core (a stand-in the daemon starts, as it does the real one)
#   mxone    MiVoice MX-ONE 8.1: Service Node Manager, Provisioning Manager
#   smbc     the SMB Controller Manager 2.2, and a CloudLink Gateway core
#   osv      an OpenScape Voice V10R3 node: Assistant, SOAP interface
#   generic  a generic platform in the daemon's config, two tunnels
# For all but generic, cld-simhost writes the host's file tree to .demo/host
# (as cld's adapter for it reads it) and serves its management UIs on free
# loopback ports; the daemon's config points host_root at the tree, so the
# daemon finds that platform and offers its tunnels.
#
# Environment: PLATFORM, CLOUD_ADDR (default 127.0.0.1:8443), EDGE_ADDR
# (default 127.0.0.1:8444), DASHBOARD_ADDR (default 127.0.0.1:8087); for
# generic SM_ADDR and MBG_ADDR (the simulated UIs, default 127.0.0.1:9443 and
# 127.0.0.1:9444).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
demo="$root/.demo"
platform=${PLATFORM:-msl}
cloud_addr=${CLOUD_ADDR:-127.0.0.1:8443}
dash_addr=${DASHBOARD_ADDR:-127.0.0.1:8087}
edge_addr=${EDGE_ADDR:-127.0.0.1:8444}
sm_addr=${SM_ADDR:-127.0.0.1:9443}
mbg_addr=${MBG_ADDR:-127.0.0.1:9444}
edge_domain=edge.localhost
cloud_port=${cloud_addr##*:}
cloud_url="https://localhost:${cloud_port}/"
dash_url="http://${dash_addr}/"
password=demo-password

case "$platform" in
msl | mxone | smbc | osv | generic) ;;
*)
	echo "demo: PLATFORM=$platform is not one of msl, mxone, smbc, osv, generic" >&2
	exit 2
	;;
esac

pids=()
stop() {
	trap - INT TERM EXIT
	if [ ${#pids[@]} -gt 0 ]; then
		echo
		echo "Stopping the daemon, the simulated host and the cloud…"
		kill "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
	echo "demo: $*" >&2
	exit 1
}

# port_busy HOST:PORT succeeds when something already listens there.
port_busy() {
	(exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

# wait_for SECONDS DESCRIPTION COMMAND…: retry COMMAND until it succeeds.
wait_for() {
	local secs=$1 what=$2
	shift 2
	for ((i = 0; i < secs * 10; i++)); do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	fail "timed out waiting for $what (see the logs in .demo/)"
}

addrs=("$cloud_addr" "$edge_addr" "$dash_addr")
if [ "$platform" = generic ]; then
	addrs+=("$sm_addr" "$mbg_addr")
fi
for a in "${addrs[@]}"; do
	if port_busy "$a"; then
		fail "$a is already in use; set CLOUD_ADDR / EDGE_ADDR / DASHBOARD_ADDR$([ "$platform" = generic ] && echo " / SM_ADDR / MBG_ADDR") to free addresses"
	fi
done

rm -rf "$demo"
mkdir -p "$demo/cloud" "$demo/state" "$demo/simhost"
chmod 700 "$demo/state"

# The demo's own release key: bin/cld is built with it, and a second build,
# one build number newer, is published as the production release, so that
# "Update now" can be pressed and watched.
echo "Building bin/cld, bin/cld-cloud and bin/cld-simhost, and a newer demo release of cld…"
make --no-print-directory build CLD_OUT=bin/cld-keygen >/dev/null
rm -f bin/cld-keygen
bin/cld-cloud release keygen --out "$demo/release" >/dev/null
release_key=$(tail -n 1 "$demo/release/release.pub")
build=$(git rev-list --count HEAD 2>/dev/null || echo 0)
version="$(cat VERSION)+$build"
next_version="$(cat VERSION)+$((build + 1))"
make --no-print-directory build RELEASE_KEY="$release_key" BUILD="$build" >/dev/null
make --no-print-directory build RELEASE_KEY="$release_key" BUILD="$((build + 1))" CLD_OUT="$demo/cld-next" >/dev/null

echo "Starting the reference cloud on $cloud_url, its tunnel edge on $edge_addr (log: .demo/cloud.log)…"
bin/cld-cloud serve --data "$demo/cloud" --listen "$cloud_addr" --demo \
	--edge-listen "$edge_addr" --edge-domain "$edge_domain" --public-url "$cloud_url" >"$demo/cloud.log" 2>&1 &
pids+=($!)
wait_for 30 "the cloud's CA file" test -s "$demo/cloud/ca.pem"
wait_for 30 "the cloud to answer" curl -fsS --cacert "$demo/cloud/ca.pem" -o /dev/null "${cloud_url}ca.pem"
bin/cld-cloud release publish --data "$demo/cloud" --stage production --binary "$demo/cld-next" \
	--key "$demo/release/release.key" --version "$next_version" --arch "$(go env GOARCH)" \
	--notes "Demo release: the same daemon, one build newer" >/dev/null

echo "Starting the simulated $platform host's management UIs (log: .demo/simhost.log)…"
if [ "$platform" = generic ]; then
	sim_args=(--platform generic --listen-server-manager "$sm_addr" --listen-mbg "$mbg_addr")
else
	sim_args=(--platform "$platform" --root "$demo/host" --cld "${dash_url%/}")
fi
bin/cld-simhost "${sim_args[@]}" --dir "$demo/simhost" >"$demo/simhost.out" 2>"$demo/simhost.log" &
pids+=($!)
# It lists its UIs, then "cld config: FILE" last: host_root and the platform
# section for the daemon's config.
wait_for 30 "the simulated host (.demo/simhost.out)" grep -q '^cld config: ' "$demo/simhost.out"
while read -r id url _; do
	case "$id" in '#'* | '' | clgw-rest:) continue ;; esac
	wait_for 30 "the simulated UI of ${id%:}" curl -fsS --cacert "$demo/simhost/cert.pem" -o /dev/null "${url}/health"
done <"$demo/simhost/addresses.yaml"
gateway_status=$(sed -n 's/^CloudLink Gateway core .*: \(http[^ ]*\) .*/\1/p' "$demo/simhost.out")

# A short heartbeat, so that a system removed in the portal shows as unlinked
# on the dashboard within half a minute; then the simulated host: its tree
# (host_root) and platform (detected, or forced with the served UIs'
# addresses; generic: its two tunnels), whose UIs have self-signed
# certificates, as appliances ship them.
{
	cat <<YAML
heartbeat_interval: 30s
clock:
  interval: 30s
YAML
	cat "$demo/simhost/cld-platform.yaml"
} >"$demo/cld.yaml"

echo "Starting the daemon with its dashboard on $dash_url (log: .demo/cld.log)…"
bin/cld run --config "$demo/cld.yaml" --state "$demo/state" --socket "$demo/cld.sock" --cloud "$cloud_url" \
	--cloud-ca "$demo/cloud/ca.pem" --listen "$dash_addr" >"$demo/cld.log" 2>&1 &
pids+=($!)
wait_for 30 "the daemon's socket" test -S "$demo/cld.sock"
# The dashboard answers (on MX-ONE it refuses with 401 until signed in to
# the SNM, whose session it checks).
wait_for 30 "the dashboard to answer" curl -sS -o /dev/null "${dash_url}"
dash_line="$dash_url
                  user admin, password $password"

printf '%s' "$password" | bin/cld dashboard-user --socket "$demo/cld.sock" --username admin --password-stdin >/dev/null
pm_try=""
if [ "$platform" = mxone ]; then
	# Provisioning Manager's subsystem credential, and its API on the SNM.
	printf '%s\n' "$password" | bin/cld pm credential --socket "$demo/cld.sock" --username pm-admin --password-stdin >/dev/null
	snm_url=$(sed -n 's/^mxone-snm-web: *\(https:[^ ]*\).*/\1/p' "$demo/simhost/addresses.yaml")
	dash_line="${snm_url%/}/cld/ (served by the SNM's web server)
                  signed in by the SNM: sign in there first (admin / admin);
                  the daemon checks the SNM session (its own address answers
                  401 without one)"
	pm_try="

  Provisioning    PM's CloudLink Daemon subsystem: ${snm_url%/}/cld (user
  Manager         pm-admin, password $password; docs/pm-api.md). Once linked,
                  sync users and devices as PM does; they show in the cloud
                  portal's Directory:
                    curl --cacert .demo/simhost/cert.pem -u pm-admin:$password \\
                      -H 'Content-Type: application/json' \\
                      -d '{\"users\":[{\"email\":\"anna.berg@example.com\",\"extension\":\"2001\",
                           \"first_name\":\"Anna\",\"services\":[\"zoom-client\"]}]}' \\
                      ${snm_url%/}/cld/pm/v1/sync
                    bin/cld pm status --socket .demo/cld.sock"
fi
if [ -n "$gateway_status" ]; then
	wait_for 30 "the CloudLink Gateway core the daemon starts ($gateway_status)" curl -fsS -o /dev/null "$gateway_status"
fi

# The simulated host's UIs, as cld-simhost listed them.
sim_list=$(grep -v '^cld config: ' "$demo/simhost.out" | sed -e 's/^/                  /')
gateway_try=""
if [ -n "$gateway_status" ]; then
	gateway_try="
    bin/cld gateway status --socket .demo/cld.sock"
fi

cat <<MSG

┌──────────────────────────────────────────────────────────────────────────────┐
  CloudLink demo is running

  Dashboard       $dash_line

  Simulated host  PLATFORM=$platform (make demo PLATFORM=msl|mxone|smbc|osv|generic)
${sim_list}
                  user admin, password admin (self-signed: .demo/simhost/cert.pem)

  Cloud portal    $cloud_url
                  admin@demo.test  administrator of 100001 "Demo Account" and
                                   100002 "Second Account" (asks which one)
                  user@demo.test   not an administrator (linking is refused)
                  password         $password

  Cloud CA        .demo/cloud/ca.pem
                  The browser must trust it for the sign-in page: import it as
                  an authority (Chromium: Settings › Privacy and security ›
                  Security › Manage certificates › Authorities › Import), or
                  accept the certificate warning once on $cloud_url

  Try
    bin/cld status --socket .demo/cld.sock
    printf $password | bin/cld link --socket .demo/cld.sock \\
        --username admin@demo.test --account 100001 --password-stdin
    bin/cld unlink --socket .demo/cld.sock${gateway_try}${pm_try}

  Tunnels         Once linked, start the tunnels on the dashboard (Tunnels:
                  Start, or Start all tunnels) or with
                    bin/cld tunnel start-all --socket .demo/cld.sock
                    bin/cld tunnel list --socket .demo/cld.sock
                  Each started tunnel gets a public URL
                    https://<uuid>.<region>.${edge_domain}:${edge_addr##*:}/
                  shown in the dashboard's debug view ("Switch to debug view")
                  and on the cloud's systems page. Open it in the browser
                  (*.localhost resolves to this machine; the cloud CA above
                  also issues the edge's certificates): the edge asks you to
                  sign in to the portal (admin@demo.test), then shows the
                  simulated UI (admin / admin). Stop the tunnel and the URL
                  shows the edge's "Tunnel not started" page.

  Clock drift     Make the cloud's clock run ahead, live:
                    bin/cld-cloud clock offset --data .demo/cloud 44s
                  Within 30 s the dashboard warns "Clock drift detected: 44s";
                  at 50s started tunnels stop with that reason; set it back
                  to 0s and they come up again by themselves.
                    bin/cld doctor --socket .demo/cld.sock

  Self-update     This daemon is $version; the cloud offers $next_version
                  (signed with the demo's key, .demo/release/). Once linked,
                  press "Update now" in the dashboard's CloudLink Daemon Update
                  section, or
                    bin/cld update now --socket .demo/cld.sock
                    bin/cld update status --socket .demo/cld.sock
                  It downloads, verifies, restarts into the new version, tries
                  it for 15 s and confirms it (or rolls it back).

  Logs            .demo/cloud.log  .demo/cld.log  .demo/simhost.log
  Config          .demo/cld.yaml (the platform part from cld-simhost)
  Ctrl-C stops everything.
└──────────────────────────────────────────────────────────────────────────────┘
MSG

# Wait until Ctrl-C, or until one of them stops by itself.
set +e
wait -n "${pids[@]}"
status=$?
set -e
echo "demo: a process stopped by itself (exit status $status); last lines of the logs:" >&2
tail -n 5 "$demo/cloud.log" "$demo/simhost.log" "$demo/cld.log" >&2 || true
exit 1
