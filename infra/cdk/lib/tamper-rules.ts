// EventBridge rules that page the alarm topic when anyone changes what the audit trail depends on.
import { Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { AUDIT_GROUP_PROTECTIONS, AuditTrail } from './audit-trail';

/** Settings of the tamper rules. */
export interface TamperRulesProps {
  readonly stage: string;
  /** The audit trail (its group by name and ARN). */
  readonly trail: AuditTrail;
  /** The trail and seal keys. */
  readonly keys: kms.Key[];
  /** The archive and failure buckets. */
  readonly buckets: s3.IBucket[];
  /** The archive's Firehose stream. */
  readonly archiveStreamName: string;
  /** The trail's functions (audit, notify, reconcile) and, by their ARNs, their mappings. */
  readonly functions: lambda.Function[];
  /** The flag table's name. */
  readonly tableName: string;
  /** Where the rules page; EventBridge may publish there for these rules only. */
  readonly alarmTopic: sns.ITopic;
}

/**
 * Pages the alarm topic when anyone changes what the trail depends on: the audit group
 * (retention, encryption, masking, the archive's subscription, deleted streams; account-wide log
 * policies), the two keys (deletion scheduled, disabled, a new policy, rotation off), the archive
 * and failure buckets (policy, versioning, Object Lock, lifecycle, encryption, public access,
 * deletion), the archive's delivery stream; the source (the table deleted or its stream turned
 * off, the functions' code, configuration or concurrency, their mappings); and the watchers
 * themselves (these rules, the alarms, the alarm topic). The stack's roles are denied the
 * changes to the trail; an administrator or a stack update is not, and this is how on-call hears
 * of it. EventBridge gets these API calls from CloudTrail, which needs a trail logging management
 * events in this region ("AWS service events delivered via AWS CloudTrail", EventBridge User
 * Guide). Each rule names the resource in every form the API accepts (name, ID, ARN): a pattern
 * matches only the values it lists. Lambda's CloudTrail event names carry an API version
 * (`UpdateFunctionConfiguration20150331v2`), hence prefixes there.
 *
 * Create it after every alarm of the stack: it watches all of them.
 */
export class TamperRules extends Construct {
  constructor(scope: Construct, id: string, props: TamperRulesProps) {
    super(scope, id);
    const { stage, keys, functions, tableName, alarmTopic } = props;
    // In the stack's scope: the logical IDs predate this construct (flagtrail-stack.ts).
    const stack = Stack.of(this);
    const group = props.trail.logGroup.logGroupName;
    const groupArn = props.trail.groupArn;
    const prefixes = (names: string[]) => names.map((prefix) => ({ prefix }));
    const alarmNames = stack.node.findAll().filter((c): c is cloudwatch.Alarm => c instanceof cloudwatch.Alarm).map((a) => a.alarmName);
    const watched: { id: string; source: string; eventName: unknown[]; requestParameters?: object; responseElements?: object }[] = [
      { id: 'AuditGroupChanged', source: 'aws.logs', eventName: AUDIT_GROUP_PROTECTIONS, requestParameters: { logGroupName: [group] } },
      { id: 'AuditGroupChangedById', source: 'aws.logs', eventName: AUDIT_GROUP_PROTECTIONS, requestParameters: { logGroupIdentifier: [group, groupArn, `${groupArn}:*`] } },
      { id: 'AuditGroupChangedByResourceId', source: 'aws.logs', eventName: AUDIT_GROUP_PROTECTIONS, requestParameters: { resourceIdentifier: [group, groupArn, `${groupArn}:*`] } },
      // An account policy (data protection, subscription filter) applies to every group, this one included.
      { id: 'LogsAccountPolicyChanged', source: 'aws.logs', eventName: ['PutAccountPolicy', 'DeleteAccountPolicy'] },
      { id: 'TrailKeyChanged', source: 'aws.kms', eventName: ['ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy', 'DisableKeyRotation'], requestParameters: { keyId: keys.flatMap((k) => [k.keyId, k.keyArn]) } },
      {
        id: 'TrailBucketChanged',
        source: 'aws.s3',
        eventName: ['PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketVersioning', 'PutObjectLockConfiguration', 'PutBucketLifecycle', 'DeleteBucketLifecycle', 'PutBucketEncryption', 'DeleteBucketEncryption', 'PutBucketPublicAccessBlock', 'DeleteBucketPublicAccessBlock', 'DeleteBucket'],
        requestParameters: { bucketName: props.buckets.map((b) => b.bucketName) },
      },
      { id: 'ArchiveStreamChanged', source: 'aws.firehose', eventName: ['DeleteDeliveryStream', 'UpdateDestination', 'StopDeliveryStreamEncryption'], requestParameters: { deliveryStreamName: [props.archiveStreamName] } },
      { id: 'FlagTableDeleted', source: 'aws.dynamodb', eventName: ['DeleteTable'], requestParameters: { tableName: [tableName] } },
      { id: 'FlagStreamTurnedOff', source: 'aws.dynamodb', eventName: ['UpdateTable'], requestParameters: { tableName: [tableName], streamSpecification: { streamEnabled: [false] } } },
      {
        id: 'TrailFunctionChanged',
        source: 'aws.lambda',
        // Concurrency 0 stops a function as surely as deleting it.
        eventName: prefixes(['UpdateFunctionCode', 'UpdateFunctionConfiguration', 'DeleteFunction', 'PutFunctionConcurrency']),
        requestParameters: { functionName: functions.flatMap((f) => [f.functionName, f.functionArn]) },
      },
      // The mapping is named by its UUID in the request; the response names its function.
      { id: 'TrailMappingChanged', source: 'aws.lambda', eventName: prefixes(['UpdateEventSourceMapping', 'DeleteEventSourceMapping']), responseElements: { functionArn: functions.map((f) => f.functionArn) } },
      { id: 'AlarmTopicChanged', source: 'aws.sns', eventName: ['SetTopicAttributes', 'DeleteTopic'], requestParameters: { topicArn: [alarmTopic.topicArn] } },
      { id: 'AlarmTopicUnsubscribed', source: 'aws.sns', eventName: ['Unsubscribe'], requestParameters: { subscriptionArn: [{ prefix: `${alarmTopic.topicArn}:` }] } },
      { id: 'AlarmsSilenced', source: 'aws.monitoring', eventName: ['DisableAlarmActions', 'DeleteAlarms'], requestParameters: { alarmNames } },
    ];
    const ruleName = (id: string) => `flagtrail-${stage}-${id}`;
    const ruleNames = [...watched.map((w) => w.id), 'WatchersChanged', 'WatchersRetargeted'].map(ruleName);
    watched.push(
      // One rule sees another disabled, deleted or retargeted (a rule may not see its own change).
      { id: 'WatchersChanged', source: 'aws.events', eventName: ['DisableRule', 'DeleteRule', 'PutRule'], requestParameters: { name: ruleNames } },
      { id: 'WatchersRetargeted', source: 'aws.events', eventName: ['RemoveTargets', 'PutTargets'], requestParameters: { rule: ruleNames } },
    );
    // The topic as a plain target: CDK's SnsTopic target would also grant EventBridge
    // kms:GenerateDataKey* on the topic's key (the alarm topic has none, see notifications.ts).
    const target: events.IRuleTarget = { bind: () => ({ arn: alarmTopic.topicArn }) };
    const rules = watched.map(
      ({ id, source, eventName, requestParameters, responseElements }) =>
        new events.Rule(stack, id, {
          ruleName: ruleName(id),
          description: `Someone changed what the audit trail depends on (${id}).`,
          eventPattern: {
            source: [source],
            detailType: ['AWS API Call via CloudTrail'],
            detail: { eventName, ...(requestParameters && { requestParameters }), ...(responseElements && { responseElements }) },
          },
          targets: [target],
        }),
    );
    alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'TamperRulesPublish',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [alarmTopic.topicArn],
        conditions: { ArnEquals: { 'aws:SourceArn': rules.map((r) => r.ruleArn) } },
      }),
    );
  }
}
