#!/usr/bin/env python3
"""Do pages reach on-call? Reads the synthesized template, recreates its topics and subscriptions on
moto (in process, no network) with the template's own filter policies, puts an SQS stand-in behind
each subscriber (the e-mail subscription, and the Slack channel, which AWS Chatbot subscribes to
its topics without a filter), then publishes:
  - a CloudWatch alarm notification exactly as CloudWatch sends it: a JSON body, a subject, and no
    message attributes, to the topic the alarms notify;
  - the functions' alerts with their `severity` attribute, to the alert topic.
The e-mail stand-in must receive every alarm and the critical/high alerts, the Slack stand-in all.
Then the tamper rules: CloudTrail-shaped API calls against the trail's group, keys, buckets and
archive stream must match one of the template's EventBridge patterns (moto's TestEventPattern, the
template's intrinsics resolved to stand-in names), the same calls on other resources and the
functions' everyday calls must match none, and every rule must target the topic the e-mail
receives unfiltered. moto's EventBridge does not deliver to SNS targets, hence the pattern test.
Then the recorded-shape fixtures (infra/cdk/test/fixtures/cloudtrail/, full EventBridge events as
CloudTrail and S3 deliver them, `${NAME}` placeholders filled from the template): pages/ must match a
rule that targets the alarm topic, quiet/ no rule, pipeline/ (CloudFormation in a session of the
pipeline's execution role) only rules that target the Slack-only pipeline topic.

    scripts/alarm-routing-test.py TEMPLATE.json
"""
import json, os, re, sys

os.environ.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="eu-west-1")
import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

template = json.load(open(sys.argv[1]))
res = template["Resources"]
by_type = lambda t: {k: v for k, v in res.items() if v["Type"] == t}
topics = by_type("AWS::SNS::Topic")
alarms = by_type("AWS::CloudWatch::Alarm")
alarm_topic_ids = {a["Properties"]["AlarmActions"][0]["Ref"] for a in alarms.values()}
alert_topic_id = next(k for k in topics if k.startswith("AlertTopic"))
slack_topic_ids = {t["Ref"] for c in by_type("AWS::Chatbot::SlackChannelConfiguration").values() for t in c["Properties"]["SnsTopicArns"]}
email_subs = [s["Properties"] for s in by_type("AWS::SNS::Subscription").values() if s["Properties"]["Protocol"] == "email"]

ALARM = {  # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html shape
    "AlarmName": "flagtrail-prod-ProductionFlagChange", "AlarmDescription": "A flag changed in a production environment.",
    "AWSAccountId": "123456789012", "NewStateValue": "ALARM", "NewStateReason": "Threshold Crossed",
    "StateChangeTime": "2026-11-24T00:00:00.000+0000", "Region": "EU (Ireland)", "OldStateValue": "OK",
    "Trigger": {"MetricName": "ProductionFlagChange", "Namespace": "Flagtrail", "Statistic": "SUM", "Period": 60,
                "EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 0.0},
}

passed, failed = 0, 0


def check(what, ok):
    global passed, failed
    print(("ok     " if ok else "FAILED ") + what)
    passed, failed = passed + ok, failed + (not ok)


with mock_aws():
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    arn = {k: sns.create_topic(Name=v["Properties"]["TopicName"])["TopicArn"] for k, v in topics.items()}

    def stand_in(name):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    email_url, email_arn = stand_in("email")
    slack_url, slack_arn = stand_in("slack")
    for s in email_subs:
        attrs = {"FilterPolicy": json.dumps(s["FilterPolicy"])} if "FilterPolicy" in s else {}
        sns.subscribe(TopicArn=arn[s["TopicArn"]["Ref"]], Protocol="sqs", Endpoint=email_arn, Attributes=attrs)
    for t in slack_topic_ids:
        sns.subscribe(TopicArn=arn[t], Protocol="sqs", Endpoint=slack_arn)

    for topic_id in alarm_topic_ids:
        sns.publish(TopicArn=arn[topic_id], Subject='ALARM: "flagtrail-prod-ProductionFlagChange" in EU (Ireland)', Message=json.dumps(ALARM))
    pipeline_topic_ids = slack_topic_ids - alarm_topic_ids - {alert_topic_id}
    for topic_id in pipeline_topic_ids:
        sns.publish(TopicArn=arn[topic_id], Message=json.dumps({"severity": "pipeline-change"}))
    for severity in ("critical", "high", "warning", "info"):
        sns.publish(TopicArn=arn[alert_topic_id], Message=json.dumps({"severity": severity}),
                    MessageAttributes={"severity": {"DataType": "String", "StringValue": severity}})

    def received(url):
        out = []
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return out
            for m in got:
                body = json.loads(json.loads(m["Body"])["Message"])
                out.append(body.get("AlarmName") or body.get("severity"))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    email, slack = sorted(received(email_url)), sorted(received(slack_url))
    check(f"the alarms notify a topic the e-mail subscribes to: {sorted(alarm_topic_ids)}", bool(email_subs))
    check(f"the paging e-mail gets the alarm and the critical/high alerts: {email}",
          email == sorted(["flagtrail-prod-ProductionFlagChange", "critical", "high"]))
    check(f"Slack gets the alarm, every alert and the pipeline's changes: {slack}",
          slack == sorted(["flagtrail-prod-ProductionFlagChange", "critical", "high", "warning", "info"] + ["pipeline-change"] * len(pipeline_topic_ids)))



ACCOUNT = "123456789012"
# The region the template was synthesized for (CloudWatch Logs' regional service principal).
REGION = re.search(r"logs\.([a-z0-9-]+)\.amazonaws\.com", json.dumps(template)).group(1)


def resolve(v):
    """The template's intrinsics as physical names: Ref X -> X's name property if the template sets
    one, else "X-id"; GetAtt X.Arn -> an ARN."""
    if not isinstance(v, dict):
        return v
    if "Ref" in v:
        pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
        if v["Ref"] in pseudo:
            return pseudo[v["Ref"]]
        r = res[v["Ref"]]
        props = r.get("Properties", {})
        if r["Type"] == "AWS::SNS::Topic":  # Ref of a topic is its ARN
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{props['TopicName']}"
        named = [props[n] for n in ("LogGroupName", "DeliveryStreamName", "BucketName", "FunctionName", "AlarmName", "Name") if isinstance(props.get(n), str)]
        return named[0] if named else f"{v['Ref']}-id"
    if "Fn::GetAtt" in v:
        rid = v["Fn::GetAtt"][0]
        kind = res[rid]["Type"]
        if kind == "AWS::KMS::Key":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{rid}-id"
        if kind == "AWS::Lambda::Function":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{resolve({'Ref': rid})}"
        if kind == "AWS::S3::Bucket":
            return f"arn:aws:s3:::{resolve({'Ref': rid})}"
        return f"arn:aws:::{rid}-id"
    if "Fn::Join" in v:
        sep, parts = v["Fn::Join"]
        return sep.join(resolve(p) for p in parts)
    raise ValueError(f"unexpected intrinsic {v}")


def resolved(node):
    if isinstance(node, list):
        return [resolved(x) for x in node]
    if isinstance(node, dict) and not ({"Ref", "Fn::GetAtt", "Fn::Join"} & node.keys()):
        return {k: resolved(x) for k, x in node.items()}
    return resolve(node)


rules = {k: v["Properties"] for k, v in by_type("AWS::Events::Rule").items() if "EventPattern" in v["Properties"]}
first = lambda prefix: next(k for k in res if k.startswith(prefix))
group = next(v["Properties"]["LogGroupName"] for v in by_type("AWS::Logs::LogGroup").values() if "/audit" in str(v["Properties"].get("LogGroupName")))
group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{group}"
seal, key = first("SealKey"), next(k for k in by_type("AWS::KMS::Key") if not k.startswith("SealKey"))
archive, failures = first("ArchiveBucket"), first("FailureBucket")
stream = next(v["Properties"]["DeliveryStreamName"] for v in by_type("AWS::KinesisFirehose::DeliveryStream").values())


def call(service, event_name, response=None, /, **params):
    detail = {"eventSource": f"{service}.amazonaws.com", "eventName": event_name, "requestParameters": params}
    if response:
        detail["responseElements"] = response
    return {"id": "0", "version": "0", "account": ACCOUNT, "region": REGION, "time": "2026-11-30T00:00:00Z", "resources": [],
            "source": f"aws.{service}", "detail-type": "AWS API Call via CloudTrail", "detail": detail}


audit_fn = next(k for k, v in by_type("AWS::Lambda::Function").items() if v["Properties"].get("FunctionName") == "flagtrail-prod-audit")
audit_arn = resolve({"Fn::GetAtt": [audit_fn, "Arn"]})
alarm_topic = resolve({"Ref": next(k for k in topics if k.startswith("AlarmTopic"))})
alert_topic = resolve({"Ref": alert_topic_id})
table = "feature-flags-prod"


PAGES = [
    call("logs", "DeleteSubscriptionFilter", logGroupName=group, filterName="archive"),
    call("logs", "PutRetentionPolicy", logGroupName=group, retentionInDays=1),
    call("logs", "DeleteLogStream", logGroupName=group, logStreamName="audit/2026/11/30"),
    call("logs", "PutDataProtectionPolicy", logGroupIdentifier=group_arn),
    call("logs", "DeleteDataProtectionPolicy", logGroupIdentifier=group),
    call("kms", "ScheduleKeyDeletion", keyId=f"{seal}-id", pendingWindowInDays=7),
    call("kms", "PutKeyPolicy", keyId=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{seal}-id", policyName="default"),
    call("kms", "DisableKey", keyId=f"{key}-id"),
    call("s3", "PutBucketPolicy", bucketName=f"{archive}-id"),
    call("s3", "PutBucketLifecycle", bucketName=f"{failures}-id"),
    call("s3", "PutObjectLockConfiguration", bucketName=f"{archive}-id"),
    call("firehose", "DeleteDeliveryStream", deliveryStreamName=stream),
    call("logs", "PutAccountPolicy", policyName="mask-everything", policyType="DATA_PROTECTION_POLICY"),
    call("dynamodb", "UpdateTable", tableName=table, streamSpecification={"streamEnabled": False}),
    call("dynamodb", "DeleteTable", tableName=table),
    call("lambda", "UpdateFunctionConfiguration20150331v2", functionName="flagtrail-prod-audit"),
    call("lambda", "PutFunctionConcurrency20171031", functionName=audit_arn, reservedConcurrentExecutions=0),
    call("lambda", "UpdateEventSourceMapping20150331", {"functionArn": audit_arn, "state": "Disabling"}, uUID="1234", enabled=False),
    call("sns", "SetTopicAttributes", topicArn=alarm_topic, attributeName="Policy"),
    call("sns", "Unsubscribe", subscriptionArn=f"{alarm_topic}:0f1e2d3c"),
    call("monitoring", "DisableAlarmActions", alarmNames=["flagtrail-prod-ArchiveDeliveryLag"]),
    call("events", "DisableRule", name="flagtrail-prod-TrailKeyChanged"),
    call("events", "RemoveTargets", rule="flagtrail-prod-WatchersChanged", ids=["Target0"]),
]
QUIET = [
    call("logs", "PutRetentionPolicy", logGroupName="/other/group", retentionInDays=1),
    call("logs", "DeleteSubscriptionFilter", logGroupName=group + "-copy", filterName="archive"),
    call("logs", "CreateLogStream", logGroupName=group, logStreamName="audit/2026/11/30"),
    call("kms", "ScheduleKeyDeletion", keyId="0000-other-key", pendingWindowInDays=7),
    call("kms", "Sign", keyId=f"{seal}-id"),
    call("s3", "PutBucketPolicy", bucketName="some-other-bucket"),
    call("firehose", "DeleteDeliveryStream", deliveryStreamName=stream + "-2"),
    call("dynamodb", "UpdateTable", tableName=table, billingMode="PAY_PER_REQUEST"),
    call("lambda", "UpdateFunctionConfiguration20150331v2", functionName="someone-elses-function"),
    call("lambda", "UpdateEventSourceMapping20150331", {"functionArn": audit_arn + "-other"}, uUID="1234", enabled=False),
    call("sns", "Unsubscribe", subscriptionArn=f"{alert_topic}:0f1e2d3c"),
    call("monitoring", "DisableAlarmActions", alarmNames=["someone-elses-alarm"]),
    call("events", "DisableRule", name="someone-elses-rule"),
]

topic_of = lambda r: r["Targets"][0]["Arn"]["Ref"]
email_topics = {s["TopicArn"]["Ref"] for s in email_subs if "FilterPolicy" not in s}
# Paging rules notify a topic the e-mail receives unfiltered; the pipeline's rules a topic only Slack
# (AWS Chatbot) receives, as information.
paging = {k for k, r in rules.items() if topic_of(r) in email_topics}
info = {k for k, r in rules.items() if topic_of(r) in slack_topic_ids - email_topics}


def issuers(node):
    """The role ARNs the pipeline's rules name as sessionIssuer (the deploy roles)."""
    if isinstance(node, dict):
        if "sessionIssuer" in node and isinstance(node["sessionIssuer"].get("arn"), list):
            yield from (a for a in node["sessionIssuer"]["arn"] if isinstance(a, str))
        for x in node.values():
            yield from issuers(x)
    elif isinstance(node, list):
        for x in node:
            yield from issuers(x)


deploy_roles = sorted({a for k in info for a in issuers(rules[k]["EventPattern"])})
FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "infra", "cdk", "test", "fixtures", "cloudtrail")
PLACEHOLDERS = {
    "ACCOUNT": ACCOUNT, "REGION": REGION, "TABLE": table, "AUDIT_FUNCTION": "flagtrail-prod-audit",
    "ARCHIVE_BUCKET": f"{archive}-id", "FAILURE_BUCKET": f"{failures}-id", "TRAIL_KEY_ID": f"{key}-id", "SEAL_KEY_ID": f"{seal}-id",
    "ALARM_TOPIC_ARN": alarm_topic, "ALERT_TOPIC_ARN": alert_topic,
    # Without deploy roles in the template the pipeline's fixtures are changes like any other and page.
    "DEPLOY_ROLE_ARN": deploy_roles[0] if deploy_roles else f"arn:aws:iam::{ACCOUNT}:role/cdk-hnb659fds-cfn-exec-role-{ACCOUNT}-{REGION}",
}


def fixtures(kind):
    d = os.path.join(FIXTURES, kind)
    for name in sorted(os.listdir(d)):
        text = open(os.path.join(d, name)).read()
        for k, v in PLACEHOLDERS.items():
            text = text.replace("${" + k + "}", v)
        assert "${" not in text, f"{kind}/{name}: unfilled placeholder"
        yield f"{kind}/{name}", json.loads(text)


with mock_aws():
    # Each rule delivers to an SQS stand-in here (moto's EventBridge cannot deliver to SNS and has no
    # TestEventPattern); its pattern is the template's, resolved, and matched by moto's matcher.
    ev, sqs = boto3.client("events"), boto3.client("sqs")
    queues = {}
    for k, r in rules.items():
        ev.put_rule(Name=k, EventPattern=json.dumps(resolved(r["EventPattern"])))
        url = sqs.create_queue(QueueName=f"rule-{k}"[:80])["QueueUrl"]
        qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        ev.put_targets(Rule=k, Targets=[{"Id": "standin", "Arn": qarn}])
        queues[k] = url

    def matches(e):
        entry = {"Source": e["source"], "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"])}
        if e.get("resources"):
            entry["Resources"] = e["resources"]
        ev.put_events(Entries=[entry])
        hit = set()
        for k, url in queues.items():
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            for m in got:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if got:
                hit.add(k)
        return hit

    check(f"tamper rules exist: {sorted(rules)}", len(rules) >= 4)
    for e in PAGES:
        d = e["detail"]
        check(f"pages: {e['source']} {d['eventName']} {d['requestParameters']}", bool(matches(e) & paging))
    for e in QUIET:
        d = e["detail"]
        check(f"quiet: {e['source']} {d['eventName']} {d['requestParameters']}", not matches(e))
    skipped = []
    for kind in ("pages", "quiet", "pipeline"):
        for name, e in fixtures(kind):
            if "_moto_cannot_match" in e:
                skipped.append(f"{name}: {e['_moto_cannot_match']}")
                continue
            hit = matches({k: v for k, v in e.items() if not k.startswith("_")})
            if kind == "pages" or (kind == "pipeline" and not info):
                check(f"pages: {name} -> {sorted(hit & paging)}", bool(hit & paging))
            elif kind == "quiet":
                check(f"quiet: {name} -> {sorted(hit)}", not hit)
            else:
                check(f"pipeline, Slack only: {name} -> {sorted(hit)}", bool(hit) and hit <= info)
    for s_ in skipped:
        print(f"skip   {s_}")
    check(f"every rule targets the alarm topic (e-mail, unfiltered) or the Slack-only pipeline topic: {sorted({topic_of(r) for r in rules.values()})}",
          bool(paging) and paging | info == set(rules))
    info_names = {rules[k]["Name"] for k in info}
    check(f"deploy roles {deploy_roles}: each CloudTrail rule that pages has a pipeline twin",
          not info or all(f"{rules[k]['Name']}ByPipeline" in info_names for k in paging if rules[k]["EventPattern"]["detail-type"] == ["AWS API Call via CloudTrail"]))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
