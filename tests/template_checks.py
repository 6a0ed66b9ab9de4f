"""Checks of template.yaml that linters do not make, run by `make test` with the
project venv's Python: least-privilege IAM per function, throttled OTP routes,
the table's durability settings, the server secret kept out of parameters and
environment, every route served (the route set equals the routeKeys of
events/, each of which tests/events.rs replays through its real handler), and
events/env.json overriding only variables the template declares (`sam local`
silently ignores the others) while the deployed endpoints stay AWS's own.

Before checking, it breaks copies of the template in the ways it guards
against and requires each to be caught, so the check itself can fail.

Usage: python tests/template_checks.py [template]  (exit 1 on any failure)
"""

import copy
import json
import pathlib
import re
import sys

from cfnlint.decode import decode

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Which actions each function needs is not listed here: tests/iam_from_calls.py
# derives it from the calls the functions make in the tests.
FUNCTIONS = {"RequestOtpFunction", "ConfirmOtpFunction", "IssueTokenFunction",
             "DeliveryEventsFunction"}
# The table itself, or the index of challenges by number (delivery-events).
TABLE_RESOURCES = [[{"Fn::GetAtt": ["Table", "Arn"]}], [{"Fn::Sub": "${Table.Arn}/index/sent_to"}]]
OTP_FUNCTIONS = {"RequestOtpFunction", "ConfirmOtpFunction"}
# Signing goes through the stack's alias, the next key's and the previous
# key's: exactly these.
SIGNING_ALIASES = [
    {"Ref": "SigningKeyAlias"},
    {"Fn::Sub": "${SigningKeyAlias}-next"},
    {"Fn::Sub": "${SigningKeyAlias}-previous"},
]
# Endpoint variables the template declares, and the AWS host each must name.
ENDPOINT_HOSTS = {
    "AWS_ENDPOINT_URL_DYNAMODB": "dynamodb",
    "AWS_ENDPOINT_URL_SNS": "sns",
    "AWS_ENDPOINT_URL_KMS": "kms",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER": "secretsmanager",
}


# What the functions count (shared/src/metrics.rs), which the dashboard shows.
METRICS_SOURCE = ROOT / "shared" / "src" / "metrics.rs"
METRIC_NAMESPACE = "OtpLogin"


def metric_names():
    text = METRICS_SOURCE.read_text()
    names = re.findall(r'=> "([A-Za-z]+)",', text)
    assert len(names) >= 10, f"no metric names found in {METRICS_SOURCE}"
    return names


DELIVERY_QUERY = ("SELECT SUM(SmsDeliveryMissScore) FROM SCHEMA(OtpLogin, CallingCode)"
                  " GROUP BY CallingCode")
PUMPING_QUERY = ("SELECT SUM(PumpingScore) FROM SCHEMA(OtpLogin, CallingCode, Client)"
                 " GROUP BY Client, CallingCode")


def dashboard_body(template):
    for resource in template["Resources"].values():
        if isinstance(resource, dict) and resource.get("Type") == "AWS::CloudWatch::Dashboard":
            body = resource["Properties"]["DashboardBody"]
            return body["Fn::Sub"][0] if isinstance(body, dict) else body
    return None


def check_dashboard_and_pumping(template, resources):
    failures = []
    body = dashboard_body(template)
    if body is None:
        return ["no dashboard"]
    try:
        json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    except ValueError as e:
        failures.append(f"the dashboard body is not JSON: {e}")
    if f"{{{METRIC_NAMESPACE}," not in body:
        failures.append(f"the dashboard does not read the namespace {METRIC_NAMESPACE}")
    for name in metric_names():
        if f'\\"{name}\\"' not in body:
            failures.append(f"the dashboard does not show {name}")
    for function in sorted(FUNCTIONS):
        for metric in ["Duration", "Errors"]:
            if f'"AWS/Lambda", "{metric}", "FunctionName", "${{{function}}}"' not in body:
                failures.append(f"the dashboard does not show {function}'s {metric}")
    if "by Client, CallingCode" not in body or "sum(ConfirmsSucceeded) / sum(CodesSent)" not in body:
        failures.append("the dashboard has no conversion per client and calling code")

    # Pumping: one Metrics Insights alarm over every client and calling code
    # (the functions count +1 a send and -100/PumpingConversionPercent a
    # confirm on PumpingScore), at PumpingMinSendsPerHour.
    pumping = [
        (name, alarm) for name, alarm in resources.items()
        if alarm.get("Type") == "AWS::CloudWatch::Alarm"
        and "PumpingScore" in json.dumps(alarm.get("Properties", {}).get("Metrics", []))
    ]
    if len(pumping) != 1:
        failures.append(f"{len(pumping)} pumping alarms, not one over every client and calling code")
    for name, alarm in pumping:
        props = alarm["Properties"]
        queries = [m.get("Expression", "") for m in props.get("Metrics", [])]
        if queries != [PUMPING_QUERY] or alarm.get("Condition"):
            failures.append(f"{name} is not the query over every client and calling code: {queries}")
        if props.get("Threshold") != {"Ref": "PumpingMinSendsPerHour"}:
            failures.append(f"{name} does not fire at PumpingMinSendsPerHour")
        if not props.get("AlarmActions"):
            failures.append(f"{name} notifies no one")
    # Delivery (DESIGN §13.3): one alarm per calling code on the missed
    # SMS beyond DeliveryMissedPercent (delivery-events counts
    # SmsDeliveryMissScore), at DeliveryMissedMinPerHour.
    delivery = [
        alarm for alarm in resources.values()
        if alarm.get("Type") == "AWS::CloudWatch::Alarm"
        and "SmsDeliveryMissScore" in json.dumps(alarm.get("Properties", {}).get("Metrics", []))
    ]
    if [[m.get("Expression") for m in a["Properties"]["Metrics"]] for a in delivery] != [[DELIVERY_QUERY]]:
        failures.append("no one delivery alarm over every calling code's missed SMS")
    for alarm in delivery:
        props = alarm["Properties"]
        if props.get("Threshold") != {"Ref": "DeliveryMissedMinPerHour"} or not props.get("AlarmActions"):
            failures.append("the delivery alarm does not notify at DeliveryMissedMinPerHour")
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    if environment.get("OTP_DELIVERY_MISSED_PERCENT") != {"Ref": "DeliveryMissedPercent"}:
        failures.append("the functions are not told DeliveryMissedPercent, which SmsDeliveryMissScore counts with")
    if environment.get("OTP_PUMPING_CONVERSION_PERCENT") != {"Ref": "PumpingConversionPercent"}:
        failures.append("the functions are not told PumpingConversionPercent, which PumpingScore counts with")
    return failures


def as_list(value):
    return value if isinstance(value, list) else [value]


def route_keys_of_events():
    keys = set()
    for path in (ROOT / "events").glob("*.json"):
        event = json.loads(path.read_text())
        if "routeKey" in event:
            keys.add(event["routeKey"])
    return keys


def sam_local_overrides():
    """Every variable events/env.json sets, globally or for one function."""
    sections = json.loads((ROOT / "events" / "env.json").read_text())
    return {name for variables in sections.values() for name in variables}


def check(template):
    failures = []
    resources = template["Resources"]
    functions = {
        name: r for name, r in resources.items() if r["Type"] == "AWS::Serverless::Function"
    }
    if set(functions) != FUNCTIONS:
        failures.append(f"functions are {sorted(functions)}")

    routes = set()
    for name, function in functions.items():
        props = function["Properties"]
        policies = props.get("Policies", [])
        if any(not isinstance(p, dict) or set(p) != {"Statement"} for p in policies):
            failures.append(f"{name}: a policy that is not a plain statement list"
                            " (SAM policy templates and managed policies grant unseen actions)")
        statements = [s for p in policies if isinstance(p, dict) for s in p.get("Statement", [])]
        actions = set()
        for statement in statements:
            if statement.get("Effect") != "Allow":
                continue
            these = set(as_list(statement["Action"]))
            targets = as_list(statement["Resource"])
            actions |= these
            if any("*" in a for a in these):
                failures.append(f"{name}: wildcard action in {sorted(these)}")
            # Publishing to a number and message feedback have no resource
            # type: IAM takes only "*" for them.
            if "*" in targets and these not in ({"sns:Publish"}, {"sms-voice:PutMessageFeedback"}):
                failures.append(f"{name}: {sorted(these)} on every resource")
            if any(a.startswith("dynamodb:") for a in these) and targets not in TABLE_RESOURCES:
                failures.append(f"{name}: {sorted(these)} on {targets}, not only the table")
            if any(a.startswith("kms:") for a in these):
                aliases = statement.get("Condition", {}).get("ForAnyValue:StringEquals", {})
                if as_list(aliases.get("kms:ResourceAliases", [])) != SIGNING_ALIASES:
                    failures.append(f"{name}: {sorted(these)} not limited to the signing aliases")
        if "sns:Publish" in actions and name != "RequestOtpFunction":
            failures.append(f"{name}: may send SMS")
        variables = props.get("Environment", {}).get("Variables", {})
        if "OTP_SERVER_SECRET" in variables:
            failures.append(f"{name}: the server secret is an environment value")
        if "LoggingConfig" in props:
            failures.append(f"{name}: logs otherwise than the functions' global JSON")

        for event_name, event in props.get("Events", {}).items():
            if event["Type"] != "HttpApi":
                continue
            e = event["Properties"]
            routes.add(f"{e['Method']} {e['Path']}")
            throttled = {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(e.get("RouteSettings", {}))
            if name in OTP_FUNCTIONS and not throttled:
                failures.append(f"{name}.{event_name}: OTP route without throttling")

    expected_routes = route_keys_of_events()
    if routes != expected_routes:
        failures.append(
            f"routes differ from events/: missing {sorted(expected_routes - routes)}, "
            f"extra {sorted(routes - expected_routes)}"
        )

    reserved = functions.get("RequestOtpFunction", {}).get("Properties", {})
    if "ReservedConcurrentExecutions" not in reserved:
        failures.append("request-otp has no reserved concurrency")

    table = resources.get("Table", {})
    props = table.get("Properties", {})
    if table.get("DeletionPolicy") != "Retain":
        failures.append("the table is not retained on delete")
    if props.get("BillingMode") != "PAY_PER_REQUEST":
        failures.append("the table is not on-demand")
    if props.get("TimeToLiveSpecification") != {"AttributeName": "expires_at", "Enabled": True}:
        failures.append("the table's TTL is not expires_at")
    if not props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
        failures.append("the table has no point-in-time recovery")
    secret = resources.get("ServerSecret", {})
    if secret.get("DeletionPolicy") != "Retain" or secret.get("UpdateReplacePolicy") != "Retain":
        failures.append("the server secret is not kept with the table: the table's keys are"
                        " hashes under it, and would match nothing again")

    globals_ = template["Globals"]["Function"]
    environment = globals_["Environment"]["Variables"]
    if "OTP_SERVER_SECRET" in environment:
        failures.append("the server secret is an environment value")
    # The alarms' metric filters match JSON log lines (tests/alarms.rs logs
    # as the deployed functions do, from this setting).
    if globals_.get("LoggingConfig", {}).get("LogFormat") != "JSON":
        failures.append("the functions do not log JSON: the log-metric alarms would never fire")
    if any("secret" in p.lower() for p in template.get("Parameters", {})):
        failures.append("a parameter carries a secret")
    for name, host in ENDPOINT_HOSTS.items():
        regional = {"Fn::Sub": f"https://{host}.${{AWS::Region}}.${{AWS::URLSuffix}}"}
        if environment.get(name) != regional:
            failures.append(f"{name} is {environment.get(name)}, not AWS's regional endpoint")
    undeclared = sam_local_overrides() - set(environment)
    if undeclared:
        failures.append(f"events/env.json sets {sorted(undeclared)}, which sam local ignores:"
                        " the template does not declare them")

    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    watched = {a["Properties"].get("MetricName") for a in alarms} | {
        m.get("MetricStat", {}).get("Metric", {}).get("MetricName")
        for a in alarms for m in a["Properties"].get("Metrics", [])
    }
    for metric in ["5xx", "SmsRefused", "SmsCeilingReached", "NumberOfNotificationsFailed",
                   "SMSMonthToDateSpentUSD", "ClientSettingsInvalid", "TestNumbersInProduction"]:
        if metric not in watched:
            failures.append(f"no alarm on {metric}")

    failures += check_dashboard_and_pumping(template, resources)

    for output in ["ApiUrl", "Issuer", "JwksUrl", "TableName", "DashboardUrl"]:
        if output not in template.get("Outputs", {}):
            failures.append(f"no output {output}")
    failures += check_issuer(template, environment)
    return failures


# The API's own URL: what the functions derive from the request context
# (shared/src/http/mod.rs, `api_url`) when no issuer is set.
API_URL = {"Fn::Sub": "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}


def check_issuer(template, environment):
    """The tokens' issuer is the stack's (the Issuer parameter, else the
    API's URL), and the Issuer output a JWT authorizer is pointed at names
    exactly the one the functions use."""
    failures = []
    if environment.get("OTP_ISSUER") != {"Ref": "Issuer"}:
        failures.append(f"OTP_ISSUER is {environment.get('OTP_ISSUER')}, not the Issuer parameter")
    output = template.get("Outputs", {}).get("Issuer", {}).get("Value")
    if output != {"Fn::If": ["HasIssuer", {"Ref": "Issuer"}, API_URL]}:
        failures.append(f"the Issuer output is {output}: not the parameter, else the API's URL")
    if template.get("Conditions", {}).get("HasIssuer") != {
            "Fn::Not": [{"Fn::Equals": [{"Ref": "Issuer"}, ""]}]}:
        failures.append("HasIssuer does not test whether the Issuer parameter is set")
    return failures


def statements_of(template, function):
    return template["Resources"][function]["Properties"]["Policies"][0]["Statement"]


def widen_table_access(t):
    statements_of(t, "IssueTokenFunction")[0]["Action"] = "dynamodb:*"


def publish_from_confirm(t):
    statements_of(t, "ConfirmOtpFunction").append(
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"})


def secret_on_every_resource(t):
    statements_of(t, "RequestOtpFunction")[1]["Resource"] = "*"


def sign_with_any_key(t):
    statements_of(t, "IssueTokenFunction")[2].pop("Condition")


def unthrottle_a_route(t):
    events = t["Resources"]["ConfirmOtpFunction"]["Properties"]["Events"]
    next(iter(events.values()))["Properties"].pop("RouteSettings")


def drop_a_route(t):
    events = t["Resources"]["IssueTokenFunction"]["Properties"]["Events"]
    events.pop(next(iter(events)))


def delete_the_table_with_the_stack(t):
    t["Resources"]["Table"].pop("DeletionPolicy")


def delete_the_secret_with_the_stack(t):
    del t["Resources"]["ServerSecret"]["DeletionPolicy"]


def secret_in_environment(t):
    t["Globals"]["Function"]["Environment"]["Variables"]["OTP_SERVER_SECRET"] = "x"


def no_spend_alarm(t):
    t["Resources"].pop("SmsSpendAlarm")


def undeclare_a_local_override(t):
    t["Globals"]["Function"]["Environment"]["Variables"].pop("AWS_ENDPOINT_URL_DYNAMODB")


def redirect_an_endpoint(t):
    t["Globals"]["Function"]["Environment"]["Variables"]["AWS_ENDPOINT_URL_KMS"] = "http://10.0.0.1"


def every_resource_as_a_list(t):
    statements_of(t, "ConfirmOtpFunction")[0]["Resource"] = ["*"]


def every_table(t):
    statements_of(t, "IssueTokenFunction")[0]["Resource"] = {
        "Fn::Sub": "arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/*"}


def a_sam_policy_template(t):
    t["Resources"]["RequestOtpFunction"]["Properties"]["Policies"].append(
        {"DynamoDBCrudPolicy": {"TableName": {"Ref": "Table"}}})


def sign_through_any_alias(t):
    condition = statements_of(t, "ConfirmOtpFunction")[2]["Condition"]["ForAnyValue:StringEquals"]
    condition["kms:ResourceAliases"] = condition["kms:ResourceAliases"] + [
        {"Fn::Sub": "alias/${AWS::StackName}/*"}]


def secret_in_a_functions_environment(t):
    t["Resources"]["IssueTokenFunction"]["Properties"]["Environment"] = {
        "Variables": {"OTP_SERVER_SECRET": "x"}}


def no_ceiling_alarm(t):
    t["Resources"].pop("SmsCeilingAlarm")


def plain_text_logs(t):
    t["Globals"]["Function"]["LoggingConfig"].pop("LogFormat")


def one_function_logs_text(t):
    t["Resources"]["RequestOtpFunction"]["Properties"]["LoggingConfig"] = {"LogFormat": "Text"}


def dashboard_body_list(t):
    return t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]


def dashboard_without_a_refusal(t):
    body = dashboard_body_list(t)
    body[0] = body[0].replace("RefusedPumpingCap", "RefusedNothing")


def dashboard_without_latency(t):
    body = dashboard_body_list(t)
    body[0] = body[0].replace('"Duration"', '"Invocations"')


def no_pumping_alarm(t):
    t["Resources"].pop("PumpingAlarm")


def pumping_query(t):
    return t["Resources"]["PumpingAlarm"]["Properties"]["Metrics"][0]


def pumping_threshold_hard_coded(t):
    t["Resources"]["PumpingAlarm"]["Properties"]["Threshold"] = 50


def pumping_alarm_on_sends_only(t):
    pumping_query(t)["Expression"] = PUMPING_QUERY.replace("PumpingScore", "CodesSent")


def pumping_alarm_per_calling_code_only(t):
    pumping_query(t)["Expression"] = PUMPING_QUERY.replace("GROUP BY Client, CallingCode",
                                                           "GROUP BY CallingCode")


def delivery_alarm_on_failures_only(t):
    t["Resources"]["DeliveryAlarm"]["Properties"]["Metrics"][0]["Expression"] = (
        DELIVERY_QUERY.replace("SmsDeliveryMissScore", "SmsReportedFailed"))


def delivery_share_not_passed(t):
    del t["Globals"]["Function"]["Environment"]["Variables"]["OTP_DELIVERY_MISSED_PERCENT"]


def conversion_not_passed(t):
    del t["Globals"]["Function"]["Environment"]["Variables"]["OTP_PUMPING_CONVERSION_PERCENT"]


def no_alarm_on_invalid_client_settings(t):
    t["Resources"].pop("ClientSettingsInvalidAlarm")


def issuer_not_passed(t):
    del t["Globals"]["Function"]["Environment"]["Variables"]["OTP_ISSUER"]


def issuer_output_ignores_the_parameter(t):
    t["Outputs"]["Issuer"]["Value"] = API_URL


BREAKAGES = [
    widen_table_access, publish_from_confirm, secret_on_every_resource,
    sign_with_any_key, unthrottle_a_route, drop_a_route, delete_the_table_with_the_stack,
    delete_the_secret_with_the_stack,
    secret_in_environment, no_spend_alarm, undeclare_a_local_override, redirect_an_endpoint,
    every_resource_as_a_list, every_table, a_sam_policy_template, sign_through_any_alias,
    secret_in_a_functions_environment, no_ceiling_alarm, plain_text_logs, one_function_logs_text,
    dashboard_without_a_refusal, dashboard_without_latency, no_pumping_alarm,
    pumping_threshold_hard_coded, pumping_alarm_on_sends_only, pumping_alarm_per_calling_code_only,
    conversion_not_passed, no_alarm_on_invalid_client_settings,
    delivery_alarm_on_failures_only, delivery_share_not_passed,
    issuer_not_passed, issuer_output_ignores_the_parameter,
]


def proven_failures(name, subject, breakages, check):
    """The failures `check` finds in `subject`, after proving it catches each
    of `breakages` (each breaks a copy of `subject` in place); None, with a
    line printed, when a breakage cannot be applied or goes unnoticed."""
    for breakage in breakages:
        broken = copy.deepcopy(subject)
        try:
            breakage(broken)
        except (KeyError, IndexError, StopIteration):
            print(f"{name}: cannot apply the breakage {breakage.__name__}")
            return None
        if not check(broken):
            print(f"{name}: the breakage {breakage.__name__} went unnoticed")
            return None
    return check(subject)


def template_passes(path, breakages, check):
    """Reads the template at `path`, proves `check` catches each of
    `breakages`, and prints what `check` finds in it; whether it found
    nothing."""
    template = read_template(path)
    failures = template and proven_failures(path.name, template, breakages, check)
    if failures is None:
        return False
    for failure in failures:
        print(f"{path.name}: {failure}")
    return not failures


def read_template(path):
    template, matches = decode(str(path))
    if matches or template is None:
        print(f"{path}: cannot be read: {matches}")
        return None
    return template


def main():
    path = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ROOT / "template.yaml")
    if not template_passes(path, BREAKAGES, check):
        return 1
    print(f"{path.name}: IAM, routes, throttling, table, secret, alarms, dashboard,"
          f" pumping alarms, outputs and sam local overrides as required;"
          f" {len(BREAKAGES)} deliberate breakages all caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
