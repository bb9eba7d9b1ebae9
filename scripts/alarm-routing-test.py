#!/usr/bin/env python3
"""Do pages reach on-call? Reads the synthesized template, recreates its topics and subscriptions on
moto (in process, no network) with the template's own filter policies, puts an SQS stand-in behind
each subscriber (the e-mail subscription, and the Slack channel, which AWS Chatbot subscribes to
its topics without a filter), then publishes:
  - a CloudWatch alarm notification exactly as CloudWatch sends it: a JSON body, a subject, and no
    message attributes, to the topic the alarms notify;
  - the functions' alerts with their `severity` attribute, to the alert topic.
The e-mail stand-in must receive every alarm and the critical/high alerts, the Slack stand-in all.

    scripts/alarm-routing-test.py TEMPLATE.json
"""
import json, os, sys

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
    check(f"Slack gets the alarm and every alert: {slack}",
          slack == sorted(["flagtrail-prod-ProductionFlagChange", "critical", "high", "warning", "info"]))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
