"""Every metric template.yaml reads in the functions' namespace is one the
functions emit: the same name with the same dimensions, as the EMF lines
the whole test suite wrote say (the harness appends each to a file per test
process in the directory given). A dashboard search or an alarm on a name or
a dimension set nothing emits draws an empty line and never fires, and
nothing else would notice.

The references are read from the alarms (MetricStat metrics and Metrics
Insights queries), the dashboard (SEARCH expressions, metric arrays and Logs
Insights queries) and nothing else: the metric filters make their own
namespace's metrics from log lines, which tests/alarms.rs checks. Before
checking, it proves it can fail: a template reading a metric that nothing
emits, and one reading a real metric with dimensions it never has, must
both be caught.

Usage: python tests/metrics_referenced.py <emf-lines-dir> [template]
"""

import copy
import json
import pathlib
import re
import sys

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAMESPACE = "OtpLogin"


def emitted(directory):
    """(metric name, dimension names) of every metric the EMF lines make."""
    metrics = set()
    lines = 0
    for path in sorted(pathlib.Path(directory).glob("*.jsonl")):
        for line in path.read_text().splitlines():
            lines += 1
            record = json.loads(line)
            for directive in record["_aws"]["CloudWatchMetrics"]:
                if directive["Namespace"] != NAMESPACE:
                    continue
                for dimensions in directive["Dimensions"]:
                    for metric in directive["Metrics"]:
                        metrics.add((metric["Name"], frozenset(dimensions)))
    return metrics, lines


def alarm_references(resources):
    """(where, name, dimensions) of each metric the alarms read in the namespace."""
    found = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        props = resource.get("Properties", {})
        if props.get("Namespace") == NAMESPACE:
            dims = frozenset(d["Name"] for d in props.get("Dimensions", []))
            found.append((name, props["MetricName"], dims))
        for query in props.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric", {})
            if metric.get("Namespace") == NAMESPACE:
                dims = frozenset(d["Name"] for d in metric.get("Dimensions", []))
                found.append((name, metric["MetricName"], dims))
            expression = query.get("Expression")
            if isinstance(expression, str):
                found += insights_references(name, expression)
    return found


def insights_references(where, query):
    """A Metrics Insights query's metrics: SELECT FUNC(name) FROM SCHEMA(ns, dims…)."""
    found = []
    for schema in re.finditer(r"FROM\s+SCHEMA\(([^)]*)\)", query):
        parts = [p.strip().strip('"') for p in schema.group(1).split(",")]
        if parts[0] != NAMESPACE:
            continue
        for name in re.findall(r"SELECT\s+\w+\((\w+)\)", query):
            found.append((where, name, frozenset(parts[1:])))
    return found


def dashboard_references(resources):
    found = []
    for name, resource in resources.items():
        if resource.get("Type") != "AWS::CloudWatch::Dashboard":
            continue
        body = resource["Properties"]["DashboardBody"]
        body = body["Fn::Sub"][0] if isinstance(body, dict) else body
        text = body.replace('\\"', '"')
        for schema, metric in re.findall(r"SEARCH\('\{([^}]*)\}\s+MetricName=\"(\w+)\"", text):
            parts = [p.strip() for p in schema.split(",")]
            if parts[0] == NAMESPACE:
                found.append((name, metric, frozenset(parts[1:])))
        for metric in re.findall(r'\["' + NAMESPACE + r'",\s*"(\w+)"', text):
            found.append((name, metric, None))
        # Logs Insights reads the EMF lines' own fields: any dimensions.
        for query in re.findall(r'"query":\s*"((?:[^"\\]|\\.)*)"', body):
            for metric in re.findall(r"(?:sum|ispresent)\((\w+)\)", query):
                found.append((name, metric, None))
    return found


def check(template, metrics):
    failures = []
    resources = template["Resources"]
    references = alarm_references(resources) + dashboard_references(resources)
    names = {name for name, _ in metrics}
    for where, name, dims in references:
        if name not in names:
            failures.append(f"{where} reads {NAMESPACE}/{name}, which nothing emits")
        elif dims is not None and (name, dims) not in metrics:
            emitted_dims = sorted(sorted(d) for n, d in metrics if n == name)
            failures.append(f"{where} reads {NAMESPACE}/{name} by {sorted(dims)},"
                            f" which is emitted only by {emitted_dims}")
    if not references:
        failures.append(f"the template reads no metric of {NAMESPACE}")
    return failures


def a_metric_nothing_emits(template):
    alarm = template["Resources"]["PumpingAlarm"]["Properties"]["Metrics"][0]
    alarm["Expression"] = alarm["Expression"].replace("PumpingScore", "PumpingScores")


def a_dimension_set_nothing_emits(template):
    dashboard = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    dashboard[0] = dashboard[0].replace("{OtpLogin,Client,CallingCode} MetricName=\\\"ConfirmsExpired\\\"",
                                        "{OtpLogin} MetricName=\\\"ConfirmsExpired\\\"", 1)


def main():
    directory = sys.argv[1]
    path = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else ROOT / "template.yaml")
    template, matches = decode(str(path))
    if matches or template is None:
        print(f"{path}: cannot be read: {matches}")
        return 1
    metrics, lines = emitted(directory)
    if not metrics:
        print(f"no EMF lines in {directory}: the suite recorded none")
        return 1
    for breakage in [a_metric_nothing_emits, a_dimension_set_nothing_emits]:
        broken = copy.deepcopy(template)
        breakage(broken)
        if broken == template or not check(broken, metrics):
            print(f"the breakage {breakage.__name__} went unnoticed: the check cannot fail")
            return 1
    failures = check(template, metrics)
    for failure in failures:
        print(f"{path.name}: {failure}")
    if failures:
        return 1
    references = alarm_references(template["Resources"]) + dashboard_references(template["Resources"])
    print(f"{path.name}: all {len(references)} references to {NAMESPACE} metrics name metrics"
          f" the suite emitted ({len(metrics)} name and dimension sets, from {lines} EMF lines);"
          f" 2 deliberate breakages caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
