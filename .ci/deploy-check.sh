#!/usr/bin/env bash
# CI: check the deployment files in deploy/ with the tools that run them.
#
#   bash .ci/deploy-check.sh
#
# promtool (from Debian's `prometheus` package, installed here if missing) checks the scrape
# config and the alert rules and runs the rules' unit tests; the Grafana dashboard must be
# valid JSON; `systemd-analyze verify` checks the unit when systemd's tools are present (skipped
# with a message otherwise). Any failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "deploy-check: $*" >&2; }

PROMTOOL=$(command -v promtool || true)
if [ -z "$PROMTOOL" ] && [ -x /usr/bin/promtool ]; then
    PROMTOOL=/usr/bin/promtool
fi

install_prometheus() {
    if [ "$(id -u)" != 0 ]; then
        log "promtool is missing and we are not root: cannot install Debian's prometheus"
        return 1
    fi
    # Keep the package's maintainer scripts from starting the server (no systemd in a
    # container; even with one, CI must not leave a Prometheus running). policy-rc.d exit 101
    # = "action forbidden" for invoke-rc.d / deb-systemd-invoke. Keep an existing one.
    local made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=yes
    fi
    local before
    before=$(pgrep -x prometheus || true)
    log "installing Debian's prometheus package for promtool (apt-get)"
    local rc=0
    {
        DEBIAN_FRONTEND=noninteractive apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                prometheus </dev/null
    } >&2 || rc=$?
    if [ -n "$made_policy" ]; then
        rm -f /usr/sbin/policy-rc.d
    fi
    # If a server was started anyway, stop exactly the processes that appeared during install.
    local pid
    for pid in $(pgrep -x prometheus || true); do
        if ! grep -qx "$pid" <<<"$before"; then
            log "stopping the prometheus server (pid $pid) the package started"
            kill "$pid" 2>/dev/null || true
        fi
    done
    return "$rc"
}

if [ -z "$PROMTOOL" ]; then
    install_prometheus
    PROMTOOL=$(command -v promtool || echo /usr/bin/promtool)
    if [ ! -x "$PROMTOOL" ]; then
        log "prometheus installed but promtool not found"
        exit 1
    fi
fi
log "$("$PROMTOOL" --version 2>&1 | head -n 1)"

echo "== promtool check config deploy/prometheus/prometheus.yml"
"$PROMTOOL" check config deploy/prometheus/prometheus.yml

echo "== promtool check rules deploy/prometheus/copytrader-rules.yml"
"$PROMTOOL" check rules deploy/prometheus/copytrader-rules.yml

echo "== promtool test rules deploy/prometheus/copytrader-rules.test.yml"
"$PROMTOOL" test rules deploy/prometheus/copytrader-rules.test.yml

echo "== Grafana dashboard JSON"
PYTHON=python3
if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; fi
"$PYTHON" -m json.tool deploy/grafana/copytrader-dashboard.json >/dev/null
echo "deploy/grafana/copytrader-dashboard.json: valid JSON"

echo "== dashboard queries parse as PromQL (promtool check rules on a generated rule file)"
tmp_dir=$(mktemp -d)
trap 'rm -rf "$tmp_dir"' EXIT
# Grafana's variables are not PromQL: give them values, then let promtool parse each query as
# a recording rule.
"$PYTHON" - deploy/grafana/copytrader-dashboard.json >"$tmp_dir/dashboard-rules.yml" <<'PY'
import json
import sys

board = json.load(open(sys.argv[1]))
subst = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "15s"}
rules = []
for panel in board["panels"]:
    for target in panel.get("targets", []):
        expr = target["expr"]
        for var, value in subst.items():
            expr = expr.replace(var, value)
        expr = expr.replace("$instance", ".*").replace("$follower", ".*")
        record = f"dashboard:panel_{panel['id']}_{target['refId']}"
        rules.append({"record": record, "expr": expr})
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, sys.stdout, indent=1)
PY
"$PROMTOOL" check rules "$tmp_dir/dashboard-rules.yml"

echo "== bash -n deploy/systemd/copytrader-cli"
bash -n deploy/systemd/copytrader-cli

echo "== systemd-analyze verify deploy/systemd/copytrader.service"
if command -v systemd-analyze >/dev/null 2>&1; then
    # verify insists that ExecStart's binary exists: point it at this machine's python3 in a
    # copy. It only warns (exit 0) about unknown keys and bad values, so any output fails too.
    sed "s#/opt/copytrader/venv/bin/python#$(command -v python3)#" \
        deploy/systemd/copytrader.service >"$tmp_dir/copytrader.service"
    rc=0
    out=$(systemd-analyze verify "$tmp_dir/copytrader.service" 2>&1) || rc=$?
    if [ "$rc" != 0 ] || [ -n "$out" ]; then
        echo "$out"
        log "systemd-analyze verify failed (exit $rc)"
        exit 1
    fi
    echo "deploy/systemd/copytrader.service: ok"
else
    log "systemd-analyze not installed: skipping the unit check (not a failure)"
fi

echo "deploy-check: all ok"
