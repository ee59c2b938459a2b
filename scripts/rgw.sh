#!/usr/bin/env bash
# A single-node Ceph cluster with the RADOS Gateway on 127.0.0.1, for the S3 integration tests: a real S3
# implementation that checks signatures, expiry and POST policies. Memstore OSD, no authentication inside the
# cluster, S3 credentials for one user. Needs Debian's radosgw, ceph-mon, ceph-osd and ceph-common.
#
#   scripts/rgw.sh up      # prints the S3 endpoint; about 15 s
#   scripts/rgw.sh down
#   scripts/rgw.sh env     # AWS_* variables for the tests
set -euo pipefail
DIR=${DEEPREAD_RGW_DIR:-/tmp/deepread-rgw}
PORT=${DEEPREAD_RGW_PORT:-7480}
MON_PORT=${DEEPREAD_RGW_MON_PORT:-6789}
ACCESS=deepread-test-access
SECRET=deepread-test-secret-0123456789abcdef
CONF=$DIR/ceph.conf
CEPH=(ceph -c "$CONF" --connect-timeout 10)

env_lines() {
  echo "AWS_S3_ENDPOINT_URL=http://127.0.0.1:$PORT"
  echo "AWS_ACCESS_KEY_ID=$ACCESS"
  echo "AWS_SECRET_ACCESS_KEY=$SECRET"
  echo "AWS_S3_REGION_NAME=us-east-1"
}

down() {
  for pidfile in "$DIR"/run/*.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  pkill -f "ceph-.* -c $CONF" 2>/dev/null || true
  pkill -f "radosgw -c $CONF" 2>/dev/null || true
  # A daemon left by an interrupted run must be gone before a new cluster starts: an old monitor still holding
  # the port makes the new OSD fail with "wrong fsid".
  for _ in $(seq 20); do
    pgrep -f "(ceph-mon|ceph-osd|radosgw) .*-c $CONF" >/dev/null || break
    sleep 0.5
  done
  pkill -9 -f "(ceph-mon|ceph-osd|radosgw) .*-c $CONF" 2>/dev/null || true
  sleep 0.5
  rm -rf "$DIR"
}

up() {
  for tool in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph-authtool; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install radosgw ceph-mon ceph-osd ceph-common" >&2; exit 2; }
  done
  down
  mkdir -p "$DIR"/{mon,osd,rgw,run,log}
  fsid=$(cat /proc/sys/kernel/random/uuid)
  cat > "$CONF" <<CONF
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$MON_PORT
mon initial members = a
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
osd objectstore = memstore
memstore device bytes = 2147483648
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
admin socket = $DIR/run/\$name.asok
keyring = $DIR/keyring
ms bind ipv6 = false
[mon.a]
mon data = $DIR/mon
[osd.0]
osd data = $DIR/osd
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$PORT
rgw data = $DIR/rgw
rgw enable usage log = false
CONF
  ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --add a "v1:127.0.0.1:$MON_PORT" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/keyring"
  ceph-mon -c "$CONF" -i a
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  "${CEPH[@]}" osd new "$osd_uuid" 0 >/dev/null
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>&1
  ceph-osd -c "$CONF" -i 0
  for _ in $(seq 60); do
    "${CEPH[@]}" osd stat 2>/dev/null | grep -q "1 up" && break
    sleep 0.5
  done
  radosgw -c "$CONF" -n client.rgw
  for _ in $(seq 120); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
    sleep 0.5
  done
  radosgw-admin -c "$CONF" user create --uid=deepread --display-name=DeepRead \
    --access-key="$ACCESS" --secret-key="$SECRET" >/dev/null
  echo "RGW up on http://127.0.0.1:$PORT"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) env_lines ;;
  *) echo "usage: $0 up|down|env" >&2; exit 2 ;;
esac
