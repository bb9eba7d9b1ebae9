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
  /** The trail, seal and checkpoint keys. */
  readonly keys: kms.Key[];
  /** The archive and failure buckets, the access-log bucket that records who read them, the completeness check's state bucket. */
  readonly buckets: s3.IBucket[];
  /** The archive's Firehose stream. */
  readonly archiveStreamName: string;
  /** The trail's functions (audit, notify, reconcile, log-writer) and, by their ARNs, their mappings. */
  readonly functions: lambda.Function[];
  /** The flag table's name. */
  readonly tableName: string;
  /** Where the rules page; EventBridge may publish there for these rules only. */
  readonly alarmTopic: sns.ITopic;
  /** Other rules of the stack that page (by name): disabling or retargeting them pages too. */
  readonly otherRules?: string[];
  /**
   * The roles whose CloudFormation-made changes are the project's own deploys (the CloudFormation
   * execution role of the pipeline's CDK bootstrap, `-c deployRoleArns=…`): a change made by
   * CloudFormation in a session of one of them does not page but goes to `infoTopic`.
   */
  readonly deployRoleArns?: string[];
  /** Where the pipeline's own changes are reported as information (Slack only); without it, nowhere. */
  readonly infoTopic?: sns.ITopic;
}

type Watched = { id: string; source: string; eventName: unknown[]; requestParameters?: object; responseElements?: object; resources?: object };

/** CloudFormation's service principal, as CloudTrail records it in `userIdentity.invokedBy`. */
export const CLOUDFORMATION = 'cloudformation.amazonaws.com';

/**
 * Pages the alarm topic when anyone changes what the trail depends on: the audit group
 * (retention, encryption, masking, the archive's subscription, deleted streams; account-wide log
 * policies), the keys (trail, seal, checkpoint: deletion scheduled, disabled, a new policy, rotation off, grants), the
 * archive, failure, access-log and reconcile state buckets (policy, versioning, Object Lock,
 * lifecycle, encryption, public access, access logging, deletion), the archive's delivery stream;
 * the source (the table
 * deleted or its stream turned off, the functions' code, configuration or concurrency, their
 * mappings); and the watchers themselves (these rules, the alarms, the alarm topic and its
 * subscriptions). The stack's roles are denied the changes to the trail; an administrator or a
 * stack update is not, and this is how on-call hears of it. EventBridge gets these API calls from
 * CloudTrail, which needs a trail logging management events in this region ("AWS service events
 * delivered via AWS CloudTrail", EventBridge User Guide).
 *
 * A pattern matches only the values it lists, so each rule names the resource in every form the
 * API accepts and CloudTrail records as given in `requestParameters` (the fixtures under
 * test/fixtures/cloudtrail/ are shaped after the services' published CloudTrail examples, each
 * names its source): a table by name or ARN; a function by name, name:qualifier, ARN, qualified
 * ARN or partial ARN (`123456789012:function:name`); a key by ID or ARN. Lambda's event names
 * carry an API version (`UpdateFunctionConfiguration20150331v2`), hence prefixes there. Operators
 * used (prefix, suffix, wildcard, anything-but, exists, $or) are all supported on event buses
 * ("Comparison operators for use in event patterns", EventBridge User Guide).
 *
 * With `deployRoleArns`, each rule pages only for changes that are not CloudFormation acting in a
 * session of one of those roles; a twin rule (`…ByPipeline`) reports those to `infoTopic`.
 * `anything-but` does not match a field the event lacks (a root or IAM-user call has no
 * `sessionIssuer`, a direct call no `invokedBy`), hence `$or` with `exists: false`. Name a role
 * only the pipeline deploys through: the default bootstrap's execution role serves every
 * `cdk deploy` in the account (its deploy role trusts the account), so an administrator's own
 * `cdk deploy` would be quiet too; a bootstrap of the pipeline's own (`cdk bootstrap --qualifier`,
 * deploy-stack.ts `qualifier`, its deploy role trusted by the pipeline's role alone) keeps theirs paging.
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
    const keyIds = keys.flatMap((k) => [k.keyId, k.keyArn]);
    const tableArn = stack.formatArn({ service: 'dynamodb', resource: 'table', resourceName: tableName });
    // Every form Lambda's FunctionName parameter takes (Lambda API reference, e.g. UpdateFunctionConfiguration):
    // name, name:qualifier, ARN, ARN:qualifier, partial ARN (account:function:name), partial ARN:qualifier.
    const functionNames = functions.flatMap((f) => [
      f.functionName,
      { prefix: `${f.functionName}:` },
      { suffix: `:function:${f.functionName}` },
      { wildcard: `*:function:${f.functionName}:*` },
    ]);
    const topic = alarmTopic.topicArn;
    const watched: Watched[] = [
      { id: 'AuditGroupChanged', source: 'aws.logs', eventName: AUDIT_GROUP_PROTECTIONS, requestParameters: { logGroupName: [group] } },
      { id: 'AuditGroupChangedById', source: 'aws.logs', eventName: AUDIT_GROUP_PROTECTIONS, requestParameters: { logGroupIdentifier: [group, groupArn, `${groupArn}:*`] } },
      { id: 'AuditGroupChangedByResourceId', source: 'aws.logs', eventName: AUDIT_GROUP_PROTECTIONS, requestParameters: { resourceIdentifier: [group, groupArn, `${groupArn}:*`] } },
      // An account policy (data protection, subscription filter) applies to every group, this one included.
      { id: 'LogsAccountPolicyChanged', source: 'aws.logs', eventName: ['PutAccountPolicy', 'DeleteAccountPolicy'] },
      { id: 'TrailKeyChanged', source: 'aws.kms', eventName: ['ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy', 'DisableKeyRotation'], requestParameters: { keyId: keyIds } },
      // A grant gives a principal the key's use without the key policy: a reader of the trail, or a
      // way to decrypt the archive. KMS records keyId as given (ID or ARN).
      { id: 'TrailKeyGranted', source: 'aws.kms', eventName: ['CreateGrant', 'RetireGrant', 'RevokeGrant'], requestParameters: { keyId: keyIds } },
      // RetireGrant may name the grant by its token alone (no keyId): KMS events list the key in
      // `resources` (AWS KMS Developer Guide, "Logging AWS KMS API calls with AWS CloudTrail").
      { id: 'TrailKeyGrantRetired', source: 'aws.kms', eventName: ['RetireGrant'], resources: { ARN: keys.map((k) => k.keyArn) } },
      {
        id: 'TrailBucketChanged',
        source: 'aws.s3',
        // The Object Lock call is PutObjectLockConfiguration in S3's API and in AWS's list of
        // CloudTrail bucket-level events; its IAM action is s3:PutBucketObjectLockConfiguration, a
        // name public rule sets also use as the event name: both, since an unmatched name is silence.
        // PutBucketLifecycleConfiguration is recorded as PutBucketLifecycle ("Amazon S3 CloudTrail events").
        // PutBucketLogging turns off or redirects the access logs (who read the archive).
        eventName: [
          'PutBucketPolicy', 'DeleteBucketPolicy', 'PutBucketVersioning', 'PutObjectLockConfiguration', 'PutBucketObjectLockConfiguration',
          'PutBucketLifecycle', 'DeleteBucketLifecycle', 'PutBucketEncryption', 'DeleteBucketEncryption', 'PutBucketPublicAccessBlock',
          'DeleteBucketPublicAccessBlock', 'DeleteBucket', 'PutBucketLogging',
        ],
        requestParameters: { bucketName: props.buckets.map((b) => b.bucketName) },
      },
      { id: 'ArchiveStreamChanged', source: 'aws.firehose', eventName: ['DeleteDeliveryStream', 'UpdateDestination', 'StopDeliveryStreamEncryption'], requestParameters: { deliveryStreamName: [props.archiveStreamName] } },
      // DynamoDB's TableName parameter takes the table's name or its ARN (DynamoDB API reference).
      { id: 'FlagTableDeleted', source: 'aws.dynamodb', eventName: ['DeleteTable'], requestParameters: { tableName: [tableName, tableArn] } },
      { id: 'FlagStreamTurnedOff', source: 'aws.dynamodb', eventName: ['UpdateTable'], requestParameters: { tableName: [tableName, tableArn], streamSpecification: { streamEnabled: [false] } } },
      {
        id: 'TrailFunctionChanged',
        source: 'aws.lambda',
        // Concurrency 0 stops a function as surely as deleting it.
        eventName: prefixes(['UpdateFunctionCode', 'UpdateFunctionConfiguration', 'DeleteFunction', 'PutFunctionConcurrency']),
        requestParameters: { functionName: functionNames },
      },
      // The mapping is named by its UUID in the request; the response names its function (ARN,
      // qualified when the mapping targets a version or alias).
      {
        id: 'TrailMappingChanged',
        source: 'aws.lambda',
        eventName: prefixes(['UpdateEventSourceMapping', 'DeleteEventSourceMapping']),
        responseElements: { functionArn: functions.flatMap((f) => [f.functionArn, { prefix: `${f.functionArn}:` }]) },
      },
      { id: 'AlarmTopicChanged', source: 'aws.sns', eventName: ['SetTopicAttributes', 'DeleteTopic', 'Subscribe'], requestParameters: { topicArn: [topic] } },
      // A subscription's ARN is the topic's followed by `:<id>`; a filter policy set on the paging
      // e-mail's subscription silences it as surely as unsubscribing.
      { id: 'AlarmTopicUnsubscribed', source: 'aws.sns', eventName: ['Unsubscribe', 'SetSubscriptionAttributes'], requestParameters: { subscriptionArn: [{ prefix: `${topic}:` }] } },
      { id: 'AlarmsSilenced', source: 'aws.monitoring', eventName: ['DisableAlarmActions', 'DeleteAlarms'], requestParameters: { alarmNames } },
      // PutMetricAlarm on an existing name replaces the alarm: its actions, threshold, metric.
      { id: 'AlarmsRewritten', source: 'aws.monitoring', eventName: ['PutMetricAlarm'], requestParameters: { alarmName: alarmNames } },
    ];
    const ruleName = (id: string) => `flagtrail-${stage}-${id}`;
    const deployRoles = props.deployRoleArns ?? [];
    const twins = deployRoles.length > 0 && props.infoTopic !== undefined;
    const ids = [...watched.map((w) => w.id), 'WatchersChanged', 'WatchersRetargeted'];
    const ruleNames = [...ids.flatMap((id) => (twins ? [id, `${id}ByPipeline`] : [id])).map(ruleName), ...(props.otherRules ?? [])];
    watched.push(
      // One rule sees another disabled, deleted or retargeted (a rule may not see its own change).
      { id: 'WatchersChanged', source: 'aws.events', eventName: ['DisableRule', 'DeleteRule', 'PutRule'], requestParameters: { name: ruleNames } },
      { id: 'WatchersRetargeted', source: 'aws.events', eventName: ['RemoveTargets', 'PutTargets'], requestParameters: { rule: ruleNames } },
    );
    const issuer = (arn: unknown[]) => ({ userIdentity: { sessionContext: { sessionIssuer: { arn } } } });
    const notPipeline = deployRoles.length === 0 ? {} : {
      $or: [
        issuer([{ 'anything-but': deployRoles }]),
        issuer([{ exists: false }]),
        { userIdentity: { invokedBy: [{ 'anything-but': [CLOUDFORMATION] }] } },
        { userIdentity: { invokedBy: [{ exists: false }] } },
      ],
    };
    const pipeline = { userIdentity: { invokedBy: [CLOUDFORMATION], sessionContext: { sessionIssuer: { arn: deployRoles } } } };
    // The topics as plain targets: CDK's SnsTopic target would also grant EventBridge
    // kms:GenerateDataKey* on the topic's key (these topics have none, see notifications.ts).
    const targetOf = (t: sns.ITopic): events.IRuleTarget => ({ bind: () => ({ arn: t.topicArn }) });
    const rule = (id: string, w: Watched, who: object, to: sns.ITopic, description: string) =>
      new events.Rule(stack, id, {
        ruleName: ruleName(id),
        description,
        eventPattern: {
          source: [w.source],
          detailType: ['AWS API Call via CloudTrail'],
          detail: {
            eventName: w.eventName,
            ...(w.requestParameters && { requestParameters: w.requestParameters }),
            ...(w.responseElements && { responseElements: w.responseElements }),
            ...(w.resources && { resources: w.resources }),
            ...who,
          },
        },
        targets: [targetOf(to)],
      });
    const rules = watched.map((w) => rule(w.id, w, notPipeline, alarmTopic, `Someone changed what the audit trail depends on (${w.id}).`));
    publishFrom(alarmTopic, 'TamperRulesPublish', rules);
    if (twins) {
      const info = watched.map((w) => rule(`${w.id}ByPipeline`, w, pipeline, props.infoTopic!, `The delivery pipeline changed what the audit trail depends on (${w.id}); information, no page.`));
      publishFrom(props.infoTopic!, 'PipelineChangesPublish', info);
    }
  }
}

/** Lets EventBridge publish to a topic for the given rules only. */
export function publishFrom(topic: sns.ITopic, sid: string, rules: events.Rule[]): void {
  topic.addToResourcePolicy(
    new iam.PolicyStatement({
      sid,
      principals: [new iam.ServicePrincipal('events.amazonaws.com')],
      actions: ['sns:Publish'],
      resources: [topic.topicArn],
      conditions: { ArnEquals: { 'aws:SourceArn': rules.map((r) => r.ruleArn) } },
    }),
  );
}
