#!/usr/bin/env bash
# Runs the reference cloud (with its tunnel edge), a simulated telephony host
# (cld-simhost: two management web UIs) and the daemon with its dashboard on
# this machine, with the cloud's demo accounts, until Ctrl-C. The daemon's
# config describes a generic platform whose two tunnels lead to the simulated
# UIs. Everything lives in .demo/ (fresh each run); logs go to .demo/*.log.
#
# Environment: CLOUD_ADDR (default 127.0.0.1:8443), EDGE_ADDR (default
# 127.0.0.1:8444), DASHBOARD_ADDR (default 127.0.0.1:8087), SM_ADDR and
# MBG_ADDR (the simulated UIs, default 127.0.0.1:9443 and 127.0.0.1:9444).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
demo="$root/.demo"
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

for a in "$cloud_addr" "$edge_addr" "$dash_addr" "$sm_addr" "$mbg_addr"; do
	if port_busy "$a"; then
		fail "$a is already in use; set CLOUD_ADDR / EDGE_ADDR / DASHBOARD_ADDR / SM_ADDR / MBG_ADDR to free addresses"
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

echo "Starting the simulated host's management UIs (log: .demo/simhost.log)…"
bin/cld-simhost --listen-server-manager "$sm_addr" --listen-mbg "$mbg_addr" --dir "$demo/simhost" >"$demo/simhost.log" 2>&1 &
pids+=($!)
wait_for 30 "the simulated host's certificate" test -s "$demo/simhost/cert.pem"
wait_for 30 "the simulated Server Manager" curl -fsS --cacert "$demo/simhost/cert.pem" -o /dev/null "https://${sm_addr}/health"
wait_for 30 "the simulated MBG administration" curl -fsS --cacert "$demo/simhost/cert.pem" -o /dev/null "https://${mbg_addr}/health"

# A short heartbeat, so that a system removed in the portal shows as unlinked
# on the dashboard within half a minute; a generic platform whose two tunnels
# lead to the simulated host's UIs (self-signed certificates, as appliances
# ship them).
cat >"$demo/cld.yaml" <<YAML
heartbeat_interval: 30s
clock:
  interval: 30s
platform:
  type: generic
  name: Simulated PBX host
  version: "1.0"
  tunnels:
    - id: msl-server-manager
      component: MSL
      name: Server Manager
      description: Remote access via Mitel Administration
      local_address: https://${sm_addr}
      accept_self_signed: true
    - id: mbg-admin
      component: MiVoice Border Gateway
      name: administration web interface
      description: Remote access via Mitel Administration
      local_address: https://${mbg_addr}
      accept_self_signed: true
YAML

echo "Starting the daemon with its dashboard on $dash_url (log: .demo/cld.log)…"
bin/cld run --config "$demo/cld.yaml" --state "$demo/state" --socket "$demo/cld.sock" --cloud "$cloud_url" \
	--cloud-ca "$demo/cloud/ca.pem" --listen "$dash_addr" >"$demo/cld.log" 2>&1 &
pids+=($!)
wait_for 30 "the daemon's socket" test -S "$demo/cld.sock"
wait_for 30 "the dashboard to answer" curl -fsS -o /dev/null "${dash_url}login"

printf '%s' "$password" | bin/cld dashboard-user --socket "$demo/cld.sock" --username admin --password-stdin >/dev/null

cat <<MSG

┌──────────────────────────────────────────────────────────────────────────────┐
  CloudLink demo is running

  Dashboard       $dash_url
                  user admin, password $password

  Simulated host  MSL Server Manager                     https://${sm_addr}/
                  MiVoice Border Gateway administration  https://${mbg_addr}/
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
    bin/cld unlink --socket .demo/cld.sock

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
