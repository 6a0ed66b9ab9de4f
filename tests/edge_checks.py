"""Checks of the edge (docs/deploying.md, "Throttling and the edge") that linters do not
make, run by `make test` with the project venv's Python:

- template.yaml: API Gateway's route throttles are a cost backstop at least
  ten times the clients' combined peak (the derivation in docs/deploying.md); with
  EdgeWebAclArn set, a CloudFront distribution with that web ACL stands in
  front of the API, sends the origin secret the functions require, runs the
  viewer-address function on every request and caches nothing; the
  functions are told the secret and may read it, and only it;
- the viewer-address function itself, run under Node on CloudFront
  Functions' event shape: it writes the address the viewer connected from
  over any the viewer claims, and changes nothing else;
- edge/waf.yaml: a CLOUDFRONT web ACL with a rate-based rule per source
  address, AWS's IP reputation list, metrics, an alarm on its blocks and
  the ARN output the main stack takes.

Each check first proves it catches a set of deliberate breakages.

Usage: python tests/edge_checks.py  (exit 1 on any failure)
"""

import json
import pathlib
import subprocess
import sys
import tempfile

from template_checks import template_passes

ROOT = pathlib.Path(__file__).resolve().parent.parent
FUNCTIONS = ["RequestOtpFunction", "ConfirmOtpFunction", "IssueTokenFunction",
             "DeliveryEventsFunction"]
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
# docs/deploying.md, "Throttling and the edge": a client may send 100 codes a minute
# (sends_per_client_per_minute) and check each up to 5 times (max_attempts):
# 100 / 60 × 5 ≈ 8.3 confirms a second at its peak. The route throttles are
# a backstop at least ten times one client's peak.
CLIENT_PEAK_PER_SECOND = 100 / 60 * 5
BACKSTOP_FACTOR = 10
EDGE_SECRET_GRANT = {"Fn::If": ["HasEdge", {
    "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
    "Resource": {"Ref": "EdgeOriginSecret"}}, {"Ref": "AWS::NoValue"}]}


def viewer_function_failures(code):
    """Runs the function under Node on a viewer that claims an address."""
    harness = code + """
const claimed = {viewer: {ip: '2001:db8::7'}, request: {method: 'POST', uri: '/v1/otp/request',
  headers: {'x-edge-viewer-address': {value: '198.51.100.1'}, 'content-type': {value: 'application/json'}}}};
const out = handler(claimed);
console.log(JSON.stringify(out));
"""
    with tempfile.NamedTemporaryFile("w", suffix=".js", delete=False) as f:
        f.write(harness)
    run = subprocess.run(["node", f.name], capture_output=True, text=True)
    pathlib.Path(f.name).unlink()
    if run.returncode != 0:
        return [f"the viewer-address function fails under Node: {run.stderr.strip()[:200]}"]
    out = json.loads(run.stdout)
    expected = {"x-edge-viewer-address": {"value": "2001:db8::7"},
                "content-type": {"value": "application/json"}}
    if out.get("headers") != expected or out.get("uri") != "/v1/otp/request":
        return [f"the viewer-address function does not write the viewer's own address: {out}"]
    return []


def check_template(template):
    failures = []
    params = template["Parameters"]
    rate = params["OtpRouteRateLimit"]["Default"]
    if rate < BACKSTOP_FACTOR * CLIENT_PEAK_PER_SECOND:
        failures.append(f"OtpRouteRateLimit {rate} is under {BACKSTOP_FACTOR} times one client's"
                        f" peak of {CLIENT_PEAK_PER_SECOND:.1f} a second: one client closes the gateway")
    if params["OtpRouteBurstLimit"]["Default"] < rate:
        failures.append("OtpRouteBurstLimit is under OtpRouteRateLimit")
    if params.get("EdgeWebAclArn", {}).get("Default") != "":
        failures.append("EdgeWebAclArn is not an optional parameter")
    if template.get("Conditions", {}).get("HasEdge") != {
            "Fn::Not": [{"Fn::Equals": [{"Ref": "EdgeWebAclArn"}, ""]}]}:
        failures.append("no HasEdge condition on EdgeWebAclArn")
    resources = template["Resources"]
    for name in ["EdgeOriginSecret", "EdgeViewerAddress", "EdgeDistribution"]:
        if resources.get(name, {}).get("Condition") != "HasEdge":
            failures.append(f"{name} is not there exactly when the edge is")
    config = resources.get("EdgeDistribution", {}).get("Properties", {}).get("DistributionConfig", {})
    if config.get("WebACLId") != {"Ref": "EdgeWebAclArn"}:
        failures.append("the distribution does not use the web ACL")
    origins = config.get("Origins", [])
    api = {"Fn::Sub": "${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    if len(origins) != 1 or origins[0].get("DomainName") != api:
        failures.append("the distribution's origin is not the API")
    else:
        origin = origins[0]
        if origin.get("CustomOriginConfig", {}).get("OriginProtocolPolicy") != "https-only":
            failures.append("the distribution reaches the API other than by HTTPS")
        headers = {h["HeaderName"].lower(): h["HeaderValue"] for h in origin.get("OriginCustomHeaders", [])}
        if "EdgeOriginSecret" not in json.dumps(headers.get("x-origin-verify")):
            failures.append("the distribution does not send the origin secret in X-Origin-Verify")
    behaviour = config.get("DefaultCacheBehavior", {})
    if behaviour.get("CachePolicyId") != CACHING_DISABLED:
        failures.append("the distribution may cache answers (codes' tokens, bearer tokens)")
    if behaviour.get("ViewerProtocolPolicy") != "https-only":
        failures.append("the distribution takes plain HTTP")
    if "POST" not in behaviour.get("AllowedMethods", []):
        failures.append("the distribution refuses POST")
    associations = behaviour.get("FunctionAssociations", [])
    if associations != [{"EventType": "viewer-request", "FunctionARN": {
            "Fn::GetAtt": ["EdgeViewerAddress", "FunctionMetadata.FunctionARN"]}}]:
        failures.append("the viewer-address function does not run on every viewer request")
    function = resources.get("EdgeViewerAddress", {}).get("Properties", {})
    if function.get("FunctionConfig", {}).get("Runtime") != "cloudfront-js-2.0":
        failures.append("the viewer-address function is not on cloudfront-js-2.0")
    failures += viewer_function_failures(function.get("FunctionCode", ""))
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    if environment.get("OTP_EDGE_SECRET_ARN") != {
            "Fn::If": ["HasEdge", {"Ref": "EdgeOriginSecret"}, ""]}:
        failures.append("the functions are not told the edge's secret")
    for name in FUNCTIONS:
        statements = resources[name]["Properties"]["Policies"][0]["Statement"]
        if statements.count(EDGE_SECRET_GRANT) != 1:
            failures.append(f"{name} may not read the edge's secret, and only it, only with an edge")
    output = template.get("Outputs", {}).get("EdgeUrl", {})
    if output.get("Condition") != "HasEdge":
        failures.append("no EdgeUrl output with the edge")
    return failures


def distribution(t):
    return t["Resources"]["EdgeDistribution"]["Properties"]["DistributionConfig"]


def without_the_web_acl(t):
    del distribution(t)["WebACLId"]


def without_the_origin_secret(t):
    distribution(t)["Origins"][0]["OriginCustomHeaders"] = []


def without_the_viewer_function(t):
    distribution(t)["DefaultCacheBehavior"]["FunctionAssociations"] = []


def trusting_the_viewers_claim(t):
    function = t["Resources"]["EdgeViewerAddress"]["Properties"]
    function["FunctionCode"] = function["FunctionCode"].replace(
        "request.headers['x-edge-viewer-address'] = { value: event.viewer.ip };", "")


def caching_answers(t):
    distribution(t)["DefaultCacheBehavior"]["CachePolicyId"] = "658327ea-f89d-4fab-a63d-7e88639e58f6"


def the_old_route_throttles(t):
    t["Parameters"]["OtpRouteRateLimit"]["Default"] = 20
    t["Parameters"]["OtpRouteBurstLimit"]["Default"] = 40


def edge_secret_for_one_function_only(t):
    statements = t["Resources"]["IssueTokenFunction"]["Properties"]["Policies"][0]["Statement"]
    statements.remove(EDGE_SECRET_GRANT)


def secret_not_passed(t):
    del t["Globals"]["Function"]["Environment"]["Variables"]["OTP_EDGE_SECRET_ARN"]


TEMPLATE_BREAKAGES = [
    without_the_web_acl, without_the_origin_secret, without_the_viewer_function,
    trusting_the_viewers_claim, caching_answers, the_old_route_throttles,
    edge_secret_for_one_function_only, secret_not_passed,
]


def rules(acl):
    return {rule["Name"]: rule for rule in acl["Properties"].get("Rules", [])}


def check_waf(waf):
    failures = []
    resources = waf["Resources"]
    acls = [r for r in resources.values() if r.get("Type") == "AWS::WAFv2::WebACL"]
    if len(acls) != 1:
        return [f"{len(acls)} web ACLs, not one"]
    acl = acls[0]
    props = acl["Properties"]
    if props.get("Scope") != "CLOUDFRONT":
        failures.append("the web ACL is not for CloudFront")
    if props.get("DefaultAction") != {"Allow": {}}:
        failures.append("the web ACL does not let the rest through")
    if not props.get("VisibilityConfig", {}).get("CloudWatchMetricsEnabled"):
        failures.append("the web ACL has no metrics")
    statements = [rule.get("Statement", {}) for rule in rules(acl).values()]
    managed = [s["ManagedRuleGroupStatement"] for s in statements if "ManagedRuleGroupStatement" in s]
    if {"VendorName": "AWS", "Name": "AWSManagedRulesAmazonIpReputationList"} not in managed:
        failures.append("no AWS IP reputation list")
    rated = [(rule, rule["Statement"]["RateBasedStatement"]) for rule in rules(acl).values()
             if "RateBasedStatement" in rule.get("Statement", {})]
    if not any(r.get("AggregateKeyType") == "IP" and r.get("Limit") == {"Ref": "RequestsPerAddress"}
               and "Block" in rule.get("Action", {}) for rule, r in rated):
        failures.append("no rate-based block per source address at RequestsPerAddress")
    # The providers' callbacks come from a few addresses each: a limit of
    # their own, and the general one leaves them out.
    callbacks = {"ByteMatchStatement": {
        "FieldToMatch": {"UriPath": {}}, "PositionalConstraint": "STARTS_WITH",
        "SearchString": "/v1/delivery/", "TextTransformations": [{"Priority": 0, "Type": "NONE"}]}}
    scopes = {json.dumps(r.get("ScopeDownStatement"), sort_keys=True): r.get("Limit") for _, r in rated}
    if scopes.get(json.dumps(callbacks, sort_keys=True)) != {"Ref": "CallbacksPerAddress"}:
        failures.append("no per-address limit of the delivery callbacks' own at CallbacksPerAddress")
    if scopes.get(json.dumps({"NotStatement": {"Statement": callbacks}}, sort_keys=True)) != {
            "Ref": "RequestsPerAddress"}:
        failures.append("the per-address limit counts the delivery callbacks too")
    if not all(rule.get("VisibilityConfig", {}).get("CloudWatchMetricsEnabled")
               for rule in rules(acl).values()):
        failures.append("a rule has no metrics")
    alarms = [r["Properties"] for r in resources.values() if r.get("Type") == "AWS::CloudWatch::Alarm"]
    name = props.get("Name")
    if not any(a.get("Namespace") == "AWS/WAFV2" and a.get("MetricName") == "BlockedRequests"
               and {"Name": "WebACL", "Value": name} in a.get("Dimensions", [])
               and {"Name": "Rule", "Value": "ALL"} in a.get("Dimensions", [])
               and a.get("AlarmActions") for a in alarms):
        failures.append("no alarm on the web ACL's blocked requests")
    if waf.get("Outputs", {}).get("WebAclArn", {}).get("Value") != {"Fn::GetAtt": ["WebAcl", "Arn"]}:
        failures.append("no WebAclArn output")
    return failures


def web_acl(t):
    return t["Resources"]["WebAcl"]["Properties"]


def regional_scope(t):
    web_acl(t)["Scope"] = "REGIONAL"


def callbacks_under_the_general_limit(t):
    for rule in web_acl(t)["Rules"]:
        rule["Statement"].get("RateBasedStatement", {}).pop("ScopeDownStatement", None)


def rate_by_forwarded_address(t):
    for rule in web_acl(t)["Rules"]:
        if "RateBasedStatement" in rule["Statement"]:
            rule["Statement"]["RateBasedStatement"]["AggregateKeyType"] = "FORWARDED_IP"


def no_reputation_list(t):
    web_acl(t)["Rules"] = [r for r in web_acl(t)["Rules"] if "ManagedRuleGroupStatement" not in r["Statement"]]


def alarm_on_allowed_requests(t):
    t["Resources"]["BlockedRequestsAlarm"]["Properties"]["MetricName"] = "AllowedRequests"


WAF_BREAKAGES = [regional_scope, rate_by_forwarded_address, no_reputation_list, alarm_on_allowed_requests,
                 callbacks_under_the_general_limit]


def main():
    total = 0
    for path, breakages, check in [
        (ROOT / "template.yaml", TEMPLATE_BREAKAGES, check_template),
        (ROOT / "edge" / "waf.yaml", WAF_BREAKAGES, check_waf),
    ]:
        if not template_passes(path, breakages, check):
            return 1
        total += len(breakages)
    print(f"the edge: route throttles a backstop; CloudFront with the web ACL, the origin secret and"
          f" the viewer-address function (run under Node); edge/waf.yaml's per-address limit,"
          f" reputation list and alarm; {total} deliberate breakages all caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
