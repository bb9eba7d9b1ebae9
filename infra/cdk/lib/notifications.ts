// What leaves the pipeline for people and services: the alert, invalidation and alarm topics, their
// e-mail and Slack subscribers, and the notify function that publishes alerts and invalidations and
// raises the freshness marks.
import { Duration, Stack } from 'aws-cdk-lib';
import * as chatbot from 'aws-cdk-lib/aws-chatbot';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { AuditTrail } from './audit-trail';
import type { FreshnessMarks } from './marks';
import { acknowledge } from './nag';
import { ConsumerSettings, StreamConsumer } from './stream-consumer';

/** Settings of the notifications. */
export interface NotificationsProps {
  readonly stage: string;
  /** The trail key, which encrypts the alert and invalidation topics. */
  readonly key: kms.IKey;
  /** E-mail address that receives critical and high alerts and every alarm. */
  readonly alertEmail?: string;
  /** AWS Chatbot Slack workspace and channel for alerts and alarms. */
  readonly slack?: { workspaceId: string; channelId: string };
  /** What the notify function shares with the other stream consumer. */
  readonly consumer: ConsumerSettings;
  /** The audit trail, which notify may not delete or shorten. */
  readonly trail: AuditTrail;
  /** The freshness marks notify raises. */
  readonly marks: FreshnessMarks;
}

/** The Slack channel's guardrail: CloudWatch alarm, metric and dashboard reads only. */
export const SLACK_READ_ACTIONS = [
  'cloudwatch:DescribeAlarms', 'cloudwatch:DescribeAlarmHistory', 'cloudwatch:GetMetricData', 'cloudwatch:GetMetricStatistics',
  'cloudwatch:GetMetricWidgetImage', 'cloudwatch:ListMetrics', 'cloudwatch:GetDashboard', 'cloudwatch:ListDashboards',
];

/** The topics, their subscribers, and the notify function that publishes to them. */
export class Notifications extends Construct {
  /** Topic of kill-switch and flag-created alerts. */
  public readonly alertTopic: sns.Topic;
  /** Topic of cache invalidations. */
  public readonly invalidationTopic: sns.Topic;
  /** Topic of CloudWatch alarms and tamper rules (paging e-mail and Slack, unfiltered). */
  public readonly alarmTopic: sns.Topic;
  /**
   * Topic of the delivery pipeline's own changes to what the trail depends on (tamper-rules.ts):
   * Slack only, as information; there when Slack is.
   */
  public readonly pipelineTopic?: sns.Topic;
  /** The notify function and its mapping (flag and kill-switch items, from LATEST). */
  public readonly notify: StreamConsumer;
  /** The managed policy evaluators attach to read the freshness marks. */
  public readonly evaluatorReadPolicy: iam.ManagedPolicy;

  constructor(scope: Construct, id: string, props: NotificationsProps) {
    super(scope, id);
    const { stage, key } = props;
    // In the stack's scope: the logical IDs predate this construct (flagtrail-stack.ts).
    const stack = Stack.of(this);
    this.alertTopic = new sns.Topic(stack, 'AlertTopic', { topicName: `flagtrail-${stage}-alerts`, masterKey: key, enforceSSL: true });
    this.invalidationTopic = new sns.Topic(stack, 'InvalidationTopic', {
      topicName: `flagtrail-${stage}-invalidations`,
      masterKey: key,
      enforceSSL: true,
    });
    // Alarms get a topic of their own: CloudWatch alarm notifications carry no message attributes,
    // and SNS drops a message that lacks an attribute a subscription filters on, so on the alert
    // topic the paging e-mail (filtered on severity) would never see an alarm.
    // Not encrypted with a KMS key: a page must not depend on a key someone can disable — the stack's
    // key is one of the things the tamper rules watch, and with it disabled an encrypted topic
    // would drop the very page that reports it (and every alarm). What it carries is alarm states
    // and CloudTrail call summaries, not the trail's contents; TLS is enforced.
    this.alarmTopic = new sns.Topic(stack, 'AlarmTopic', { topicName: `flagtrail-${stage}-alarms`, enforceSSL: true });
    acknowledge(this.alarmTopic, 'AwsSolutions-SNS2', 'Paging must not depend on a KMS key an attacker or a mistake can disable (the tamper rules watch the stack key); the topic carries alarm states and API call summaries, not audit records; TLS-only.');
    if (props.alertEmail) {
      this.alarmTopic.addSubscription(new subs.EmailSubscription(props.alertEmail));
      this.alertTopic.addSubscription(
        new subs.EmailSubscription(props.alertEmail, {
          filterPolicy: { severity: sns.SubscriptionFilter.stringFilter({ allowlist: ['critical', 'high'] }) },
        }),
      );
    }
    if (props.slack) {
      // Chatbot owns its subscription (no filter policy can be set on it): it receives every alert,
      // which is what a team channel wants; paging goes through the filtered e-mail/alarm path.
      const guardrail = new iam.ManagedPolicy(stack, 'SlackGuardrail', {
        statements: [new iam.PolicyStatement({ sid: 'ReadAlarmsMetricsDashboards', actions: SLACK_READ_ACTIONS, resources: ['*'] })],
      });
      // Unencrypted for the alarm topic's reasons; nobody is paged from it (no e-mail subscription).
      const pipelineTopic = (this.pipelineTopic = new sns.Topic(stack, 'PipelineChangesTopic', { topicName: `flagtrail-${stage}-pipeline-changes`, enforceSSL: true }));
      acknowledge(pipelineTopic, 'AwsSolutions-SNS2', 'Carries CloudTrail call summaries of the pipeline\'s own deploys to Slack, not audit records; must not depend on the watched key; TLS-only.');
      acknowledge(guardrail, 'AwsSolutions-IAM5[Resource::*]', 'CloudWatch metric, alarm-list and dashboard reads have no resource-level permissions; the actions are read-only and named.');
      new chatbot.SlackChannelConfiguration(stack, 'Slack', {
        slackChannelConfigurationName: `flagtrail-${stage}`,
        slackWorkspaceId: props.slack.workspaceId,
        slackChannelId: props.slack.channelId,
        notificationTopics: [this.alertTopic, this.alarmTopic, pipelineTopic],
        // What someone in the channel may do through Chatbot: read alarms, metrics and dashboards.
        // Not ReadOnlyAccess, which reads the whole account — the audit trail's contents included.
        // CloudWatch's Describe/Get/List metric and dashboard actions have no resource-level
        // permissions, hence "*"; nothing here reads logs.
        guardrailPolicies: [guardrail],
      });
    }

    this.notify = new StreamConsumer(this, 'Notify', {
      name: 'Notify',
      settings: props.consumer,
      trail: props.trail,
      // 0 s (Lambda's default for streams): invoked as soon as the poller (4 reads a second per
      // shard) finds records, so kill switches and invalidations leave without waiting up to a
      // second more. The price is more, smaller invocations at low traffic: at 10,000 changes a
      // day at most 10,000 invocations ($0.002 of requests) — docs/freshness.md.
      batchingWindow: Duration.seconds(0),
      // A new mapping starts at the tip: replaying the stream's last 24 h would re-page every kill
      // switch flipped in that day and send stale invalidations. What it skips while created or
      // re-created, evaluators' TTL backstop covers; the trail (audit) has it all.
      startingPosition: lambda.StartingPosition.LATEST,
      environment: {
        FLAGTRAIL_ALERT_TOPIC_ARN: this.alertTopic.topicArn,
        FLAGTRAIL_INVALIDATION_TOPIC_ARN: this.invalidationTopic.topicArn,
        FLAGTRAIL_MARKS_TABLE: props.marks.table.tableName,
      },
      // Only flag, override and kill-switch items can alert or invalidate; other items are skipped
      // before an invocation is paid for (the audit function still records them).
      filters: [
        lambda.FilterCriteria.filter({ dynamodb: { Keys: { PK: { S: lambda.FilterRule.beginsWith('FLAG#') } } } }),
        lambda.FilterCriteria.filter({ dynamodb: { Keys: { PK: { S: lambda.FilterRule.beginsWith('KILLSWITCH#') } } } }),
      ],
    });
    const fn = this.notify.fn;
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'PublishAlertsAndInvalidations', actions: ['sns:Publish'], resources: [this.alertTopic.topicArn, this.invalidationTopic.topicArn] }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'EncryptForTopics',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [key.keyArn],
        // Only through SNS: the key also protects the audit group, which notify must not decrypt.
        conditions: { StringEquals: { 'kms:ViaService': `sns.${stack.region}.amazonaws.com` } },
      }),
    );
    props.marks.grantWrite(fn);
    // Evaluators live in other stacks: a named managed policy they attach (fromManagedPolicyName)
    // without knowing the table's ARN, defined beside the grant that writes the marks.
    this.evaluatorReadPolicy = new iam.ManagedPolicy(stack, 'EvaluatorReadPolicy', {
      managedPolicyName: `flagtrail-${stage}-evaluator-read`,
      description: 'Read the freshness marks (BatchGetItem, GetItem): attach to flag evaluator roles.',
      statements: [props.marks.readStatement()],
    });
  }
}
