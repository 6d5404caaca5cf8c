"""The deployment files in deploy/ agree with the code: metric names, CLI, config, docs.

Fast checks without promtool or systemd (``.ci/deploy-check.sh`` runs those tools): every
metric an alert rule or a dashboard panel names is one the engine exports, the systemd unit
keeps its restart policy and hardening, and every runbook link lands on a docs heading.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from copytrader.cli import build_parser
from copytrader.config import MetricsConfig
from copytrader.metrics import Metrics

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
RULES = DEPLOY / "prometheus" / "copytrader-rules.yml"
RULES_TEST = DEPLOY / "prometheus" / "copytrader-rules.test.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "copytrader-dashboard.json"
UNIT = DEPLOY / "systemd" / "copytrader.service"
TOKENS_EXAMPLE = DEPLOY / "systemd" / "tokens.env.example"
OPERATIONS = REPO / "docs" / "operations.md"

#: Series Prometheus adds itself, whatever the target exports.
SCRAPE_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}

_SAMPLE_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}


# --- helpers -----------------------------------------------------------------------------


def exported_series_names() -> set[str]:
    """Every series name the engine's registry can expose (families have no samples until a
    labelled child exists, so names come from each family's type)."""
    names = set(SCRAPE_SERIES)
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in _SAMPLE_SUFFIXES[family.type])
    return names


def engine_label_names() -> dict[str, set[str]]:
    """Family name -> label names of every labelled metric the engine defines."""
    metrics = Metrics(process=False)
    out: dict[str, set[str]] = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            # _labelnames: prometheus_client exposes no public accessor for a family's labels
            out[value._name] = set(value._labelnames)
    return out


_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
}


def metric_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (Grafana's ``$vars`` allowed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values may look like names
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range durations, $__rate_interval
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![A-Za-z0-9_:.$])[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group()
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function call
        if word.lower() in _WORDS:
            continue
        names.add(word)
    return names


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # panels folded inside a collapsed row


def dashboard_exprs(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(board) for t in p.get("targets", [])]


def unit_settings() -> dict[str, dict[str, list[str]]]:
    """``[Section] -> key -> values`` of the systemd unit (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in UNIT.read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{UNIT}: setting outside a section: {line}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service() -> dict[str, str]:
    """The [Service] section, last value of each key (systemd's rule for scalar settings)."""
    return {key: values[-1] for key, values in unit_settings()["Service"].items()}


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def operations_anchors() -> set[str]:
    return {
        github_anchor(m.group(1))
        for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", OPERATIONS.read_text(), re.MULTILINE)
    }


# --- the name extractor itself ------------------------------------------------------------


def test_the_metric_name_extractor_skips_functions_labels_durations_and_keywords() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (follower, le) (rate(copytrader_latency_bucket{job="up", '
        'instance=~"$instance"}[$__rate_interval]))) > 0.5 or (up unless up offset 5m) '
        "and on(instance) process_cpu_seconds_total * 1e3"
    )
    assert metric_names_in(expr) == {"copytrader_latency_bucket", "up", "process_cpu_seconds_total"}


def test_the_exported_names_carry_the_prometheus_suffixes() -> None:
    names = exported_series_names()
    assert "copytrader_follower_orders_total" in names
    assert "copytrader_replication_latency_seconds_bucket" in names
    assert "copytrader_feed_connected" in names
    assert "process_resident_memory_bytes" in names
    assert "copytrader_follower_orders" not in names  # a counter is only ever seen as _total


# --- alert rules ----------------------------------------------------------------------------


def test_every_metric_an_alert_rule_uses_is_exported_by_the_engine() -> None:
    exported = exported_series_names()
    for rule in alert_rules():
        unknown = metric_names_in(rule["expr"]) - exported
        assert not unknown, f"alert {rule['alert']} uses unknown metrics {sorted(unknown)}"


def test_the_alert_rules_cover_every_failure_the_operator_must_hear_about() -> None:
    used = {name for rule in alert_rules() for name in metric_names_in(rule["expr"])}
    assert {
        "up",
        "copytrader_feed_connected",
        "copytrader_store_up",
        "copytrader_follower_quarantined",
        "copytrader_follower_paused",
        "copytrader_token_expiry_timestamp_seconds",
        "copytrader_intents_unresolved",
        "copytrader_actor_restarts_total",
        "copytrader_rate_limited_total",
        "copytrader_replication_latency_seconds_bucket",
    } <= used


def test_every_alert_has_a_severity_a_summary_a_description_and_a_runbook_section() -> None:
    anchors = operations_anchors()
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        annotations = rule["annotations"]
        assert annotations["summary"].strip() and annotations["description"].strip(), name
        doc, _, anchor = annotations["runbook_url"].partition("#")
        assert doc == "docs/operations.md", name
        assert anchor in anchors, f"{name}: no heading in docs/operations.md for #{anchor}"


def test_the_paused_follower_alert_says_it_is_the_token_expiry_signal() -> None:
    paused = next(r for r in alert_rules() if "copytrader_follower_paused" in r["expr"])
    description = paused["annotations"]["description"]
    assert "DH-901" in description
    assert "token" in description.lower() and "expiry" in description.lower()


def test_every_alert_has_a_promtool_test_that_fires_it_and_one_where_it_stays_quiet() -> None:
    tests = yaml.safe_load(RULES_TEST.read_text())
    assert tests["rule_files"] == [RULES.name]
    fired: set[str] = set()
    quiet: set[str] = set()
    for group in tests["tests"]:
        for case in group["alert_rule_test"]:
            (fired if case["exp_alerts"] else quiet).add(case["alertname"])
    alerts = {rule["alert"] for rule in alert_rules()}
    assert alerts - fired == set(), "alerts never seen firing in the promtool tests"
    assert alerts - quiet == set(), "alerts never asserted quiet in the promtool tests"


def test_every_series_fed_to_the_promtool_tests_is_one_the_engine_can_export() -> None:
    exported = exported_series_names()
    labels = engine_label_names()
    tests = yaml.safe_load(RULES_TEST.read_text())
    for group in tests["tests"]:
        for series in group["input_series"]:
            match = re.fullmatch(r"([A-Za-z_:][A-Za-z0-9_:]*)\{(.*)\}", series["series"])
            assert match, series["series"]
            name, matchers = match.groups()
            assert name in exported, series["series"]
            family = re.sub(r"(_total|_bucket|_sum|_count|_created)$", "", name)
            given = set(re.findall(r'([A-Za-z_]\w*)="', matchers)) - {"job", "instance", "le"}
            assert given <= labels.get(family, set()), f"{series['series']}: unknown labels"


# --- Prometheus scrape config ---------------------------------------------------------------


def test_the_scrape_config_scrapes_the_engine_port_every_15s_and_loads_the_rules() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert config["global"]["scrape_interval"] == "15s"
    assert [(PROMETHEUS.parent / f).resolve() for f in config["rule_files"]] == [RULES.resolve()]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "copytrader")
    targets = [t for sc in job["static_configs"] for t in sc["targets"]]
    assert targets == [f"{MetricsConfig().host}:{MetricsConfig().port}"]
    assert job.get("metrics_path", "/metrics") == "/metrics"


def test_the_alert_rules_select_the_scrape_job_by_its_configured_name() -> None:
    jobs = {j["job_name"] for j in yaml.safe_load(PROMETHEUS.read_text())["scrape_configs"]}
    for rule in alert_rules():
        for job in re.findall(r'job="([^"]+)"', rule["expr"]):
            assert job in jobs, rule["alert"]


# --- Grafana dashboard ----------------------------------------------------------------------


def test_every_dashboard_panel_has_a_datasource_and_queries() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert 36 <= board["schemaVersion"] <= 41
    all_panels = list(panels(board))
    assert len(all_panels) >= 10
    assert len({p["id"] for p in all_panels}) == len(all_panels), "panel ids must be unique"
    for panel in all_panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel
        assert panel["targets"], f"panel {panel['title']!r} has no queries"
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


def test_every_metric_a_dashboard_panel_uses_is_exported_by_the_engine() -> None:
    board = dashboard()
    exported = exported_series_names()
    exprs = dashboard_exprs(board)
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            metric = re.match(r"label_values\((?:([A-Za-z_:]\w*)\s*,)?", variable["definition"])
            assert metric, variable["definition"]
            if metric.group(1):
                exprs.append(metric.group(1))
    for expr in exprs:
        unknown = metric_names_in(expr) - exported
        assert not unknown, f"dashboard query {expr!r} uses unknown metrics {sorted(unknown)}"


def test_the_dashboard_shows_every_metric_the_engine_exports() -> None:
    used = {name for expr in dashboard_exprs(dashboard()) for name in metric_names_in(expr)}
    shown_families = {re.sub(r"(_total|_bucket|_sum|_count)$", "", name) for name in used}
    engine_families = {f.name for f in Metrics().registry.collect()}
    missing = {f for f in engine_families if f.startswith("copytrader_")} - shown_families
    assert not missing, f"no panel for {sorted(missing)}"
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total"} <= used


def test_the_dashboard_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in panels(dashboard()):
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


# --- systemd unit ----------------------------------------------------------------------------


def test_the_unit_restarts_the_engine_on_failure_but_not_for_a_bad_config() -> None:
    s = service()
    assert s["Type"] == "simple"
    assert s["Restart"] == "on-failure"
    assert float(s["RestartSec"]) > 0
    assert "2" in s["RestartPreventExitStatus"].split()  # exit 2 = bad config
    unit = {k: v[-1] for k, v in unit_settings()["Unit"].items()}
    assert int(unit["StartLimitBurst"]) >= 3 and int(unit["StartLimitIntervalSec"]) >= 60


def test_the_unit_gives_the_engine_more_than_its_10_s_to_stop_on_sigterm() -> None:
    s = service()
    assert s["KillSignal"] == "SIGTERM"
    assert 10 < int(s["TimeoutStopSec"]) <= 30
    assert s["ExecReload"] == "/bin/kill -HUP $MAINPID"


def test_the_unit_runs_as_its_own_user_in_its_state_directory_with_tokens_from_a_file() -> None:
    s = service()
    assert s["User"] == "copytrader"
    assert s["WorkingDirectory"] == "/var/lib/copytrader"
    assert s["EnvironmentFile"] == "/etc/copytrader/tokens.env"
    assert s["UMask"] == "0077"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/copytrader"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallFilter", "@system-service"),
        ("CapabilityBoundingSet", ""),
    ],
)
def test_the_unit_is_hardened(key: str, expected: str) -> None:
    assert service().get(key) == expected, f"{key}= must be {expected!r}"


def test_the_units_exec_start_is_a_command_line_the_cli_accepts() -> None:
    argv = shlex.split(service()["ExecStart"])
    assert argv[0].startswith("/opt/copytrader/venv/bin/python")
    assert argv[1:3] == ["-m", "copytrader"]
    args = build_parser().parse_args(argv[3:])
    assert args.command == "run"
    assert args.config == "/etc/copytrader/config.yaml"
    assert args.log_format == "json"


def test_the_tokens_example_sets_every_token_variable_the_example_config_uses() -> None:
    config_vars = set(re.findall(r"\$\{([A-Z0-9_]+_TOKEN)\b", (REPO / "config.yaml").read_text()))
    example = {
        line.split("=", 1)[0]
        for line in TOKENS_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    }
    assert config_vars
    assert config_vars <= example
