#!/usr/bin/env bash
# Checks the deployment files under deploy/ (and the Dockerfile's placeholder trick) without
# Docker, a cluster or a build:
#   - promtool: prometheus.yml, the alert rules, their unit tests, and every dashboard query;
#   - every YAML file parses (PyYAML), the dashboard is valid JSON;
#   - alerts and dashboard use only the metric names tolmach exports (read from
#     src/telemetry/metrics.rs), the dashboard
#     only the provisioned datasource, every alert has severity, summary, description and a
#     runbook_url whose anchor is a heading of docs/operations.md, and a unit test;
#   - the Kubernetes ConfigMap's tolmach.toml uses only keys of config/default.toml;
#   - deploy/docker/cargo-stubs.sh gives every target Cargo.toml declares a source file, and the
#     Dockerfile copies every workspace member's manifest.
# Optional, when installed: kubernetes-validate (pip install kubernetes-validate) for the
# Kubernetes manifests, docker compose for the compose file.
#
# Usage: bash deploy/check.sh      (from any directory)
# Needs: promtool (Debian/Ubuntu: apt-get install -y prometheus), python3 (3.11+ for the TOML
# checks), PyYAML for the YAML checks (pip install pyyaml; skipped with a note when missing).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# Every metric name tolmach exports, read from the one table that defines them
# (src/telemetry/metrics.rs: `Variant: Kind "name"`), plus the standard process metrics
# (metrics-process). Histograms also appear as <name>_bucket, <name>_sum and <name>_count.
table() {
    grep -oE "^[[:space:]]+[A-Za-z]+: $1 \"tolmach_[a-z_]+\"" src/telemetry/metrics.rs \
        | grep -oE 'tolmach_[a-z_]+'
}
METRICS_COUNTERS="$(table Counter) process_cpu_seconds_total"
METRICS_HISTOGRAMS="$(table Histogram)"
METRICS_GAUGES="$(table Gauge)
process_resident_memory_bytes
process_virtual_memory_bytes
process_open_fds
process_max_fds
process_start_time_seconds
process_threads"
if [ "$(echo "$METRICS_COUNTERS" | wc -w)" -lt 10 ] || [ -z "$METRICS_HISTOGRAMS" ]; then
    echo "deploy/check.sh: cannot read the metric table in src/telemetry/metrics.rs" >&2
    exit 1
fi
export METRICS_COUNTERS METRICS_HISTOGRAMS METRICS_GAUGES

if ! command -v promtool >/dev/null 2>&1; then
    echo "deploy/check.sh: promtool not found. Install it (Debian/Ubuntu: apt-get install -y prometheus) and run again." >&2
    exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "deploy/check.sh: python3 not found." >&2
    exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

step() { printf '\n== %s\n' "$*"; }

step "promtool check config deploy/prometheus/prometheus.yml"
promtool check config deploy/prometheus/prometheus.yml

step "promtool check rules deploy/prometheus/alerts.yml"
promtool check rules deploy/prometheus/alerts.yml

step "promtool test rules deploy/prometheus/alerts_test.yml"
promtool test rules deploy/prometheus/alerts_test.yml

step "dashboard JSON"
python3 -m json.tool deploy/grafana/dashboards/tolmach.json >/dev/null
echo "deploy/grafana/dashboards/tolmach.json: valid JSON"

step "python checks"
python3 - "$tmp" <<'PY'
import glob
import json
import os
import re
import sys

tmp = sys.argv[1]
errors = []
notes = []

def err(msg):
    errors.append(msg)

try:
    import yaml
except ImportError:
    yaml = None
    notes.append("PyYAML missing (pip install pyyaml): YAML parsing and the alert, datasource "
                 "and ConfigMap checks were skipped")
try:
    import tomllib
except ImportError:
    tomllib = None
    notes.append("tomllib missing (Python < 3.11): the TOML and Cargo target checks were skipped")

counters = set(os.environ["METRICS_COUNTERS"].split())
histograms = set(os.environ["METRICS_HISTOGRAMS"].split())
gauges = set(os.environ["METRICS_GAUGES"].split())
known = counters | histograms | gauges

def check_metric_names(path, text):
    names = set(re.findall(r"\b(?:tolmach|process)_[a-z0-9_]*[a-z0-9]", text))
    for name in sorted(names):
        if name in known:
            continue
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if base != name and base in histograms:
            continue
        err(f"{path}: unknown metric name {name}")
    return names

# --- YAML files parse -----------------------------------------------------------------------
yaml_files = sorted(glob.glob("deploy/**/*.yml", recursive=True)
                    + glob.glob("deploy/**/*.yaml", recursive=True))
if yaml:
    for f in yaml_files:
        try:
            with open(f) as fh:
                list(yaml.safe_load_all(fh))
        except yaml.YAMLError as e:
            err(f"{f}: invalid YAML: {e}")
    print(f"{len(yaml_files)} YAML files parse")

# --- dashboard --------------------------------------------------------------------------------
dash_path = "deploy/grafana/dashboards/tolmach.json"
with open(dash_path) as fh:
    dash_text = fh.read()
dash = json.loads(dash_text)

ds_uid = None
if yaml:
    with open("deploy/grafana/provisioning/datasources/prometheus.yml") as fh:
        ds = yaml.safe_load(fh)
    uids = [d["uid"] for d in ds.get("datasources", []) if d.get("type") == "prometheus"]
    if len(uids) != 1:
        err("provisioning/datasources/prometheus.yml: expected exactly one Prometheus datasource")
    else:
        ds_uid = uids[0]

exprs = []
def walk(node, where):
    if isinstance(node, dict):
        d = node.get("datasource")
        if isinstance(d, dict) and d.get("type") == "prometheus" and ds_uid and d.get("uid") != ds_uid:
            err(f"{dash_path}: {where}: datasource uid {d.get('uid')!r}, provisioned is {ds_uid!r}")
        if "expr" in node and isinstance(node["expr"], str):
            exprs.append((where, node["expr"]))
        for k, v in node.items():
            walk(v, node.get("title", where) if isinstance(node.get("title"), str) else where)
    elif isinstance(node, list):
        for v in node:
            walk(v, where)

walk(dash, "dashboard")
ids = [p.get("id") for p in dash.get("panels", [])]
if len(ids) != len(set(ids)):
    err(f"{dash_path}: duplicate panel ids")
if not str(dash.get("schemaVersion", "")).isdigit():
    err(f"{dash_path}: schemaVersion missing")
check_metric_names(dash_path, dash_text)

# Every panel query as a recording rule, for promtool to parse.
with open(os.path.join(tmp, "dashboard_rules.yml"), "w") as fh:
    fh.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, (where, e) in enumerate(exprs):
        e = e.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$instance", ".*")
        fh.write(f"      - record: dashboard:query_{i}\n        expr: {json.dumps(e)}\n")
print(f"{dash_path}: {len(dash.get('panels', []))} panels, {len(exprs)} queries")

# --- alerts -----------------------------------------------------------------------------------
for path in ("deploy/prometheus/alerts.yml", "deploy/prometheus/alerts_test.yml"):
    with open(path) as fh:
        check_metric_names(path, fh.read())

def github_anchor(heading):
    a = heading.strip().lower()
    a = re.sub(r"[^\w\- ]", "", a)
    return a.replace(" ", "-")

with open("docs/operations.md") as fh:
    runbook = fh.read()
anchors = {github_anchor(m.group(2)): m.group(2).strip()
           for m in re.finditer(r"^(#{1,6})\s+(.+)$", runbook, re.M)}

if yaml:
    with open("deploy/prometheus/alerts.yml") as fh:
        rules = yaml.safe_load(fh)
    with open("deploy/prometheus/alerts_test.yml") as fh:
        tests = yaml.safe_load(fh)
    tested = {t["alertname"] for case in tests.get("tests", [])
              for t in case.get("alert_rule_test", [])}
    n = 0
    for group in rules["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert")
            if not name:
                continue
            n += 1
            sev = rule.get("labels", {}).get("severity")
            if sev not in ("critical", "warning", "info"):
                err(f"alert {name}: severity label {sev!r}")
            ann = rule.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not ann.get(key):
                    err(f"alert {name}: annotation {key} missing")
            url = ann.get("runbook_url", "")
            anchor = url.partition("#")[2]
            if "docs/operations.md#" not in url:
                err(f"alert {name}: runbook_url does not point into docs/operations.md")
            elif anchor not in anchors:
                err(f"alert {name}: docs/operations.md has no heading for #{anchor}")
            elif anchors[anchor] != name:
                err(f"alert {name}: its runbook heading is {anchors[anchor]!r}, not the alert name")
            if name not in tested:
                err(f"alert {name}: no test in alerts_test.yml")
    print(f"deploy/prometheus/alerts.yml: {n} alerts, each with severity, annotations, a runbook "
          f"section and a test")

# --- Kubernetes ConfigMap: tolmach.toml keys ----------------------------------------------------
def flatten(table, prefix=""):
    out = set()
    for k, v in table.items():
        path = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out |= flatten(v, path)
        else:
            out.add(path)
    return out

if yaml and tomllib:
    with open("config/default.toml", "rb") as fh:
        defaults = flatten(tomllib.load(fh))
    with open("deploy/k8s/configmap.yaml") as fh:
        cm = yaml.safe_load(fh)
    try:
        conf = tomllib.loads(cm["data"]["tolmach.toml"])
    except tomllib.TOMLDecodeError as e:
        err(f"deploy/k8s/configmap.yaml: tolmach.toml is not valid TOML: {e}")
        conf = {}
    for key in sorted(flatten(conf)):
        if key.startswith("providers."):
            continue  # provider tables are named by the operator
        if key not in defaults:
            err(f"deploy/k8s/configmap.yaml: tolmach.toml key {key} is not in config/default.toml")
    print("deploy/k8s/configmap.yaml: tolmach.toml uses known keys")

# --- Dockerfile placeholders ------------------------------------------------------------------
if tomllib:
    import shutil
    import subprocess
    with open("Cargo.toml", "rb") as fh:
        ws = tomllib.load(fh)
    members = ws.get("workspace", {}).get("members", [])
    manifests = ["Cargo.toml"] + [f"{m}/Cargo.toml" for m in members]
    with open("Dockerfile") as fh:
        dockerfile = fh.read()
    for m in manifests[1:]:
        if not re.search(rf"^COPY\s+{re.escape(m)}\s", dockerfile, re.M):
            err(f"Dockerfile: the workspace member manifest {m} is not copied")
    stub_calls = re.findall(r"^RUN\s+sh\s+/usr/local/bin/cargo-stubs\s+([^\\\n&]+)", dockerfile, re.M)
    for call in stub_calls:
        for m in manifests:
            if m not in call.split():
                err(f"Dockerfile: cargo-stubs is not given {m}")
    if len(stub_calls) < 2:
        err("Dockerfile: expected two cargo-stubs calls (dependency layer and source layer)")

    sim = os.path.join(tmp, "stubs")
    for m in manifests:
        os.makedirs(os.path.join(sim, os.path.dirname(m)), exist_ok=True)
        shutil.copy(m, os.path.join(sim, m))
    r = subprocess.run(["sh", os.path.join(os.getcwd(), "deploy/docker/cargo-stubs.sh")] + manifests,
                       cwd=sim, capture_output=True, text=True)
    if r.returncode != 0:
        err(f"deploy/docker/cargo-stubs.sh failed: {r.stderr.strip()}")
    defaults_dir = {"bench": "benches", "test": "tests", "example": "examples"}
    n = 0
    for m in manifests:
        d = os.path.dirname(m)
        with open(m, "rb") as fh:
            man = tomllib.load(fh)
        pkg = man.get("package", {}).get("name")
        want = [man.get("lib", {}).get("path", "src/lib.rs")]
        for kind in ("bin", "bench", "test", "example"):
            for t in man.get(kind, []):
                if "path" in t:
                    want.append(t["path"])
                elif kind == "bin":
                    want.append("src/main.rs" if t["name"] == pkg else f"src/bin/{t['name']}.rs")
                else:
                    want.append(f"{defaults_dir[kind]}/{t['name']}.rs")
        for p in want:
            n += 1
            if not os.path.exists(os.path.join(sim, d, p)):
                err(f"deploy/docker/cargo-stubs.sh: no placeholder for {os.path.join(d, p)} ({m})")
    print(f"Dockerfile: cargo-stubs.sh covers all {n} declared targets of {', '.join(manifests)}")

for n in notes:
    print(f"note: {n}")
if errors:
    print("\n".join(f"error: {e}" for e in errors), file=sys.stderr)
    sys.exit(1)
PY

step "dashboard queries (promtool check rules)"
promtool check rules "$tmp/dashboard_rules.yml" | sed "s|$tmp/||"

step "optional checks"
if command -v kubernetes-validate >/dev/null 2>&1; then
    kubernetes-validate --strict --quiet \
        deploy/k8s/namespace.yaml deploy/k8s/configmap.yaml deploy/k8s/service.yaml \
        deploy/k8s/statefulset.yaml deploy/k8s/secret.example.yaml
    echo "kubernetes-validate: Kubernetes manifests valid"
else
    echo "skipped: kubernetes-validate not installed (pip install kubernetes-validate)"
fi
if command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    docker compose -f deploy/docker-compose.yml config --quiet
    echo "docker compose: deploy/docker-compose.yml valid"
else
    echo "skipped: docker compose not available"
fi

printf '\ndeploy/check.sh: all checks passed\n'
