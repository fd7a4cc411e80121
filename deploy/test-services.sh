#!/usr/bin/env bash
# Makes sure what the test suite talks to is installed and running on loopback:
# Debian's mbpoll and mosquitto clients (independent Modbus/MQTT peers), PostgreSQL on
# 5432 and Mosquitto on 1883; Debian's Chromium for the browser tests (Playwright drives
# /usr/bin/chromium, it never downloads a browser), CJK fonts for pages and PDFs in
# Chinese, ab (apache2-utils) for the dashboard benchmark, and Debian's victoria-metrics and
# influxdb (1.6) for the time-series tests, which start their own instances on free ports
# (the packages' services are not needed). Starts only what is not already running.
set -euo pipefail

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi; }
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

missing=()
command -v mbpoll >/dev/null || missing+=(mbpoll)
command -v mosquitto_pub >/dev/null || missing+=(mosquitto-clients)
command -v mosquitto >/dev/null || missing+=(mosquitto)
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)
command -v ab >/dev/null || missing+=(apache2-utils)
command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
command -v influxd >/dev/null || missing+=(influxdb)
for fonts in fonts-noto-cjk fonts-wqy-microhei; do
  dpkg-query -W -f='${Status}' "$fonts" 2>/dev/null | grep -q "ok installed" || missing+=("$fonts")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! listening 5432; then
  echo "starting PostgreSQL"
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
fi
if ! listening 1883; then
  echo "starting Mosquitto"
  as_root mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi

for _ in $(seq 50); do listening 5432 && listening 1883 && exit 0; sleep 0.2; done
echo "PostgreSQL (5432) or Mosquitto (1883) did not come up" >&2
exit 1
