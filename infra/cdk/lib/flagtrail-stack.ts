// The flagtrail pipeline beside a flag table: the audit and notify functions on the table's stream,
// the audit log group, the alert and invalidation topics, alarms, saved queries and a dashboard.
import * as path from 'node:path';
import { ArnFormat, CfnOutput, Duration, RemovalPolicy, Stack, StackProps, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as chatbot from 'aws-cdk-lib/aws-chatbot';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { FreshnessMarks } from './marks';
import { AUDITOR_QUERIES } from './queries';

/** Settings of one stage's stack (from CDK context, see bin/flagtrail.ts). */
export interface FlagtrailProps extends StackProps {
  /** Stage name: dev, prod, … (resource names and alarm names carry it). */
  readonly stage: string;
  /** Existing table to attach to; with `createDemoTable`, a table of this name is created. */
  readonly tableName: string;
  /** Stream ARN of the existing table (required unless `createDemoTable`). */
  readonly tableStreamArn?: string;
  /** Create a demo table with a NEW_AND_OLD_IMAGES stream instead of attaching. */
  readonly createDemoTable?: boolean;
  /** Directory holding `audit/bootstrap.zip` and `notify/bootstrap.zip` (cargo lambda output). */
  readonly assetDir: string;
  /** Architecture the bootstraps were built for. */
  readonly architecture?: 'x86_64' | 'arm64';
  /** Audit log retention; default one year (auditors usually need at least that). */
  readonly auditRetention?: logs.RetentionDays;
  /** Environments counted as production by the functions. */
  readonly productionEnvironments?: string[];
  /** Attribute names redacted in the audit trail. */
  readonly redactAttributes?: string[];
  /** Attach a CloudWatch Logs data-protection policy (masks e-mail addresses) to the audit group. */
  readonly dataProtection?: boolean;
  /** AWS Chatbot Slack workspace and channel for alerts. */
  readonly slack?: { workspaceId: string; channelId: string };
  /** E-mail address that receives critical and high alerts. */
  readonly alertEmail?: string;
  /** Years the archive keeps every object in Object Lock compliance mode; default 7. */
  readonly archiveRetentionYears?: number;
}

/**
 * Sized from measurement (scripts/invoke-bootstrap.py on the release bootstraps): a 7.1 MB batch of
 * 4,400 realistic records peaks at 52 MiB RSS in `audit` (0.56 s) and 39 MiB in `notify`. 256 MB
 * leaves room and buys CPU share (Lambda scales CPU with memory); 128 MB would also fit.
 */
const FUNCTION_MEMORY_MB = 256;
const FUNCTION_TIMEOUT = Duration.seconds(60);

export class FlagtrailStack extends Stack {
  /** The audit log group. */
  public readonly auditLogGroup: logs.LogGroup;
  /** Topic of kill-switch and flag-created alerts. */
  public readonly alertTopic: sns.Topic;
  /** Topic of cache invalidations. */
  public readonly invalidationTopic: sns.Topic;
  /** Topic of CloudWatch alarms (paging e-mail and Slack, unfiltered). */
  public readonly alarmTopic: sns.Topic;
  /** On-failure destination of both mappings: the whole invocation record of every discarded batch. */
  public readonly failureBucket: s3.Bucket;
  /** The write-once archive of the audit group (records and seals), Object Lock in compliance mode. */
  public readonly archiveBucket: s3.Bucket;
  /** The asymmetric key that signs seals: Sign for the audit function only. */
  public readonly sealKey: kms.Key;
  /** The role auditors assume to verify: reads the trail, the archive and the seal key's public half. */
  public readonly auditorRole: iam.Role;

  constructor(scope: Construct, id: string, props: FlagtrailProps) {
    super(scope, id, props);
    const stage = props.stage;

    // One customer-managed key for the audit trail and the topics; rotated yearly. Its policy names
    // every action (no "kms:*"): the account may administer and use it through IAM.
    const key = new kms.Key(this, 'Key', {
      description: `flagtrail ${stage}: audit log group and topics`,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
      policy: accountKeyPolicy('AccountAdministersAndUsesTheKeyThroughIam', KEY_ACCOUNT_ACTIONS),
    });
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsUseOfTheKey',
        principals: [new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`)],
        actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: ['*'], // in a key policy "*" means this key
        conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${this.partition}:logs:${this.region}:${this.account}:log-group:*` } },
      }),
    );

    const table = props.createDemoTable
      ? new dynamodb.Table(this, 'DemoTable', {
          tableName: props.tableName,
          partitionKey: { name: 'PK', type: dynamodb.AttributeType.STRING },
          sortKey: { name: 'SK', type: dynamodb.AttributeType.STRING },
          billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
          stream: dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
          pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
          encryption: dynamodb.TableEncryption.AWS_MANAGED,
          removalPolicy: RemovalPolicy.DESTROY,
        })
      : dynamodb.Table.fromTableAttributes(this, 'FlagTable', {
          tableName: props.tableName,
          tableStreamArn: required(props.tableStreamArn, 'tableStreamArn (context) is required when attaching to an existing table'),
        });
    const streamArn = table.tableStreamArn!;

    this.auditLogGroup = new logs.LogGroup(this, 'AuditLogGroup', {
      logGroupName: `/flagtrail/${stage}/audit`,
      retention: props.auditRetention ?? logs.RetentionDays.ONE_YEAR,
      encryptionKey: key,
      removalPolicy: RemovalPolicy.RETAIN, // the trail outlives the stack
      dataProtectionPolicy: props.dataProtection
        ? new logs.DataProtectionPolicy({ identifiers: [logs.DataIdentifier.EMAILADDRESS] })
        : undefined,
    });

    // Lambda discards stream records after the retries or the record age below. An SQS or SNS
    // destination would get only their shard and sequence range (the stream keeps records 24 h);
    // an S3 destination gets the whole invocation record, which `flagtrail redrive` replays
    // (docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html).
    this.failureBucket = new s3.Bucket(this, 'FailureBucket', {
      ...protectedBucket(key), // discarded records outlive the stack
      // Request metrics on Lambda's prefix: an alarm as soon as one object lands.
      metrics: [{ id: 'DiscardedBatches', prefix: 'aws/lambda/' }],
      lifecycleRules: [
        { id: 'colder-after-a-month', transitions: [{ storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(30) }] },
        { id: 'old-versions', noncurrentVersionExpiration: Duration.days(365) },
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });
    acknowledge(this.failureBucket, 'AwsSolutions-S1', 'Only the two mappings write here and only the operator reads (docs/security.md); object-level access is in CloudTrail data events where the account enables them.');

    this.alertTopic = new sns.Topic(this, 'AlertTopic', { topicName: `flagtrail-${stage}-alerts`, masterKey: key, enforceSSL: true });
    this.invalidationTopic = new sns.Topic(this, 'InvalidationTopic', {
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
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { topicName: `flagtrail-${stage}-alarms`, enforceSSL: true });
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
      const guardrail = new iam.ManagedPolicy(this, 'SlackGuardrail', {
        statements: [new iam.PolicyStatement({ sid: 'ReadAlarmsMetricsDashboards', actions: SLACK_READ_ACTIONS, resources: ['*'] })],
      });
      acknowledge(guardrail, 'AwsSolutions-IAM5[Resource::*]', 'CloudWatch metric, alarm-list and dashboard reads have no resource-level permissions; the actions are read-only and named.');
      new chatbot.SlackChannelConfiguration(this, 'Slack', {
        slackChannelConfigurationName: `flagtrail-${stage}`,
        slackWorkspaceId: props.slack.workspaceId,
        slackChannelId: props.slack.channelId,
        notificationTopics: [this.alertTopic, this.alarmTopic],
        // What someone in the channel may do through Chatbot: read alarms, metrics and dashboards.
        // Not ReadOnlyAccess, which reads the whole account — the audit trail's contents included.
        // CloudWatch's Describe/Get/List metric and dashboard actions have no resource-level
        // permissions, hence "*"; nothing here reads logs.
        guardrailPolicies: [guardrail],
      });
    }

    const common = {
      FLAGTRAIL_METRICS_NAMESPACE: 'Flagtrail',
      FLAGTRAIL_PRODUCTION_ENVIRONMENTS: (props.productionEnvironments ?? ['prod', 'production']).join(','),
      FLAGTRAIL_REDACT_ATTRIBUTES: (props.redactAttributes ?? []).join(','),
      AWS_LAMBDA_LOG_FORMAT: 'JSON',
    };
    const arch = props.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;

    const retentionDays = props.auditRetention ?? logs.RetentionDays.ONE_YEAR;
    const auditGroupArn = this.auditGroupArn();
    // Seals are signed with an asymmetric key (docs/integrity.md). Its policy gives the account the
    // administration of the key and its public half, never kms:Sign: no IAM policy can then grant
    // Sign to anyone; the audit function gets it by name below. Asymmetric keys do not rotate
    // automatically: rotation is a new key and FLAGTRAIL_SEAL_KEY_ID (docs/integrity.md).
    this.sealKey = new kms.Key(this, 'SealKey', {
      description: `flagtrail ${stage}: signs audit trail seals`,
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN, // old seals stay verifiable
      policy: accountKeyPolicy('AccountAdministersTheKeyButCannotSign', SEAL_KEY_ACCOUNT_ACTIONS),
    });
    this.auditorRole = new iam.Role(this, 'AuditorRole', {
      roleName: `flagtrail-${stage}-auditor`,
      description: 'Read-only: the audit trail, its archive and the seal key public half (flagtrail verify).',
      // The account decides who may assume it (an auditor's IAM user or SSO permission set).
      assumedBy: new iam.AccountRootPrincipal(),
      maxSessionDuration: Duration.hours(4),
    });
    this.sealKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AuditorsReadThePublicKey',
        principals: [this.auditorRole],
        actions: ['kms:GetPublicKey', 'kms:DescribeKey', 'kms:Verify'],
        resources: ['*'],
      }),
    );

    const audit = this.consumer('Audit', {
      stage,
      key,
      arch,
      streamArn,
      code: path.join(props.assetDir, 'audit', 'bootstrap.zip'),
      auditGroupArn,
      // Nobody waits on the trail within a second; gathering for 1 s means fewer invocations,
      // PutLogEvents calls and seals when changes trickle in.
      batchingWindow: Duration.seconds(1),
      // The trail misses nothing the stream still holds (24 h) when the mapping is created;
      // what changed before that is the completeness baseline's job (issue 19).
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      environment: {
        ...common,
        FLAGTRAIL_AUDIT_LOG_GROUP: this.auditLogGroup.logGroupName,
        FLAGTRAIL_AUDIT_STREAM_PREFIX: 'audit/',
        // CloudWatch Logs rejects events older than the group's retention: the function keeps
        // timestamps inside it (the record keeps the true time in changedAt).
        ...(retentionDays === logs.RetentionDays.INFINITE ? {} : { FLAGTRAIL_AUDIT_RETENTION_DAYS: String(retentionDays) }),
        FLAGTRAIL_SEAL_KEY_ID: this.sealKey.keyArn,
      },
      // Everything is audited: no filter.
      filters: undefined,
    });
    acknowledge(
      audit.fn.role as iam.Role,
      this.auditGroupFinding(':log-stream:*'),
      'Log streams are named per UTC day inside the one audit log group: the group is the narrowest fixed resource.',
    );
    audit.fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'WriteAuditTrail',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [`${auditGroupArn}:log-stream:*`],
      }),
    );

    // Sign, for the audit function only, named in the key policy (the account cannot delegate it).
    this.sealKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AuditFunctionSignsSeals',
        principals: [audit.fn.role!],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: { StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'RAW' } },
      }),
    );
    this.archiveBucket = this.archive(stage, key, props.archiveRetentionYears ?? 7);

    // Freshness marks (docs/freshness.md): notify updates them, evaluators elsewhere read them.
    const marks = new FreshnessMarks(this, 'Marks', { stage });
    const notify = this.consumer('Notify', {
      stage,
      key,
      arch,
      streamArn,
      code: path.join(props.assetDir, 'notify', 'bootstrap.zip'),
      auditGroupArn,
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
        ...common,
        FLAGTRAIL_ALERT_TOPIC_ARN: this.alertTopic.topicArn,
        FLAGTRAIL_INVALIDATION_TOPIC_ARN: this.invalidationTopic.topicArn,
        FLAGTRAIL_MARKS_TABLE: marks.table.tableName,
      },
      // Only flag, override and kill-switch items can alert or invalidate; other items are skipped
      // before an invocation is paid for (the audit function still records them).
      filters: [
        lambda.FilterCriteria.filter({ dynamodb: { Keys: { PK: { S: lambda.FilterRule.beginsWith('FLAG#') } } } }),
        lambda.FilterCriteria.filter({ dynamodb: { Keys: { PK: { S: lambda.FilterRule.beginsWith('KILLSWITCH#') } } } }),
      ],
    });
    notify.fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'PublishAlertsAndInvalidations', actions: ['sns:Publish'], resources: [this.alertTopic.topicArn, this.invalidationTopic.topicArn] }),
    );
    notify.fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'EncryptForTopics',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [key.keyArn],
        // Only through SNS: the key also protects the audit group, which notify must not decrypt.
        conditions: { StringEquals: { 'kms:ViaService': `sns.${this.region}.amazonaws.com` } },
      }),
    );
    marks.grantWrite(notify.fn);
    // Evaluators live in other stacks: a named managed policy they attach (fromManagedPolicyName)
    // without knowing the table's ARN, defined here beside the table it grants.
    const evaluatorRead = new iam.ManagedPolicy(this, 'EvaluatorReadPolicy', {
      managedPolicyName: `flagtrail-${stage}-evaluator-read`,
      description: 'Read the freshness marks (BatchGetItem, GetItem): attach to flag evaluator roles.',
      statements: [marks.readStatement()],
    });

    // The completeness check (docs/audit-record.md): hourly, version continuity of the trail and
    // the table against the trail; findings in its log and the ReconcileFindings metric.
    const reconcileLogs = new logs.LogGroup(this, 'ReconcileFunctionLogs', {
      logGroupName: `/aws/lambda/flagtrail-${stage}-reconcile`,
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role: no AWS managed policy (AWSLambdaBasicExecutionRole would let it write any log group).
    const reconcileRole = new iam.Role(this, 'ReconcileRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    protectAuditTrail(reconcileRole, auditGroupArn);
    reconcileRole.addToPolicy(
      new iam.PolicyStatement({ sid: 'WriteOwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [reconcileLogs.logGroupArn] }),
    );
    acknowledge(reconcileRole, `AwsSolutions-IAM5[Resource::<${this.getLogicalId(reconcileLogs.node.defaultChild as logs.CfnLogGroup)}.Arn>]`, 'The log group ARN ends in :* so it covers the function\'s own log streams: nothing wider.');
    const reconcile = new lambda.Function(this, 'ReconcileFunction', {
      functionName: `flagtrail-${stage}-reconcile`,
      role: reconcileRole,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: arch,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(path.join(props.assetDir, 'reconcile', 'bootstrap.zip')),
      memorySize: FUNCTION_MEMORY_MB,
      timeout: Duration.minutes(5),
      environment: { FLAGTRAIL_METRICS_NAMESPACE: 'Flagtrail', FLAGTRAIL_TABLE: props.tableName, FLAGTRAIL_AUDIT_LOG_GROUP: this.auditLogGroup.logGroupName },
      logGroup: reconcileLogs,
      loggingFormat: lambda.LoggingFormat.JSON,
    });
    reconcile.addToRolePolicy(new iam.PolicyStatement({ sid: 'ScanTheFlagTable', actions: ['dynamodb:Scan'], resources: [table.tableArn] }));
    reconcile.addToRolePolicy(
      // Both ARN forms of the group: the documented `log-group:NAME` and the `log-group:NAME:*` that
      // DescribeLogGroups and CloudFormation return.
      new iam.PolicyStatement({ sid: 'ReadTheAuditTrail', actions: ['logs:FilterLogEvents'], resources: [auditGroupArn, `${auditGroupArn}:*`] }),
    );
    acknowledge(
      reconcileRole,
      this.auditGroupFinding(':*'),
      'The audit log group itself, in the ARN form CloudWatch Logs uses for group-level actions (log-group:NAME:*).',
    );
    new events.Rule(this, 'ReconcileSchedule', {
      ruleName: `flagtrail-${stage}-reconcile`,
      schedule: events.Schedule.rate(Duration.hours(1)),
      targets: [new targets.LambdaFunction(reconcile, { retryAttempts: 0 })],
    });
    acknowledge(reconcile, 'AwsSolutions-L1', 'provided.al2023 is the current OS-only runtime for Rust bootstraps.');

    this.alarms(stage, [audit, notify], reconcile, props.productionEnvironments ?? ['prod', 'production']);
    this.tamperAlerts(stage, [key, this.sealKey], [audit.fn, notify.fn, reconcile], props.tableName);
    for (const q of AUDITOR_QUERIES) {
      new logs.QueryDefinition(this, `Query${q.id}`, {
        queryDefinitionName: `flagtrail/${stage}/${q.name}`,
        queryString: new logs.QueryString({ fields: q.fields, filterStatements: q.filters, sort: q.sort }),
        logGroups: [this.auditLogGroup],
      });
    }
    this.dashboard(stage, [audit, notify]);

    new CfnOutput(this, 'AuditLogGroupName', { value: this.auditLogGroup.logGroupName });
    new CfnOutput(this, 'AlertTopicArn', { value: this.alertTopic.topicArn });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn });
    new CfnOutput(this, 'InvalidationTopicArn', { value: this.invalidationTopic.topicArn });
    new CfnOutput(this, 'AuditFunctionName', { value: audit.fn.functionName });
    new CfnOutput(this, 'NotifyFunctionName', { value: notify.fn.functionName });
    new CfnOutput(this, 'ReconcileFunctionName', { value: reconcile.functionName });
    new CfnOutput(this, 'FailureBucketName', { value: this.failureBucket.bucketName });
    new CfnOutput(this, 'ArchiveBucketName', { value: this.archiveBucket.bucketName });
    new CfnOutput(this, 'SealKeyArn', { value: this.sealKey.keyArn });
    new CfnOutput(this, 'AuditorRoleArn', { value: this.auditorRole.roleArn });
    new CfnOutput(this, 'MarksTableName', { value: marks.table.tableName });
    new CfnOutput(this, 'EvaluatorReadPolicyArn', { value: evaluatorRead.managedPolicyArn });

    for (const fn of [audit.fn, notify.fn]) {
      acknowledge(fn.role as iam.Role, `AwsSolutions-IAM5[Resource::<${this.getLogicalId(this.failureBucket.node.defaultChild as s3.CfnBucket)}.Arn>/aws/lambda/*]`, 'Lambda names each invocation record aws/lambda/<mapping>/<shard>/<date>/<time>-<uuid>: the prefix is the narrowest fixed resource.');
      acknowledge(fn, 'AwsSolutions-L1', 'provided.al2023 is the current OS-only runtime for Rust bootstraps.');
      acknowledge(fn.role as iam.Role, 'AwsSolutions-IAM5[Resource::*]', 'dynamodb:ListStreams and X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions: AWS offers nothing narrower.');
    }
  }

  /**
   * The audit group's ARN built from its name: the `logGroupArn` token ends in ":*" and cannot be
   * edited as a string (the old "strip :*" produced "...:audit:*:log-stream:*", matching nothing).
   */
  private auditGroupArn(): string {
    return this.formatArn({ service: 'logs', resource: 'log-group', resourceName: this.auditLogGroup.logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
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
   */
  private tamperAlerts(stage: string, keys: kms.Key[], functions: lambda.Function[], tableName: string): void {
    const group = this.auditLogGroup.logGroupName;
    const groupArn = this.auditGroupArn();
    const prefixes = (names: string[]) => names.map((prefix) => ({ prefix }));
    const alarmNames = this.node.findAll().filter((c): c is cloudwatch.Alarm => c instanceof cloudwatch.Alarm).map((a) => a.alarmName);
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
        requestParameters: { bucketName: [this.archiveBucket.bucketName, this.failureBucket.bucketName] },
      },
      { id: 'ArchiveStreamChanged', source: 'aws.firehose', eventName: ['DeleteDeliveryStream', 'UpdateDestination', 'StopDeliveryStreamEncryption'], requestParameters: { deliveryStreamName: [archiveStreamName(stage)] } },
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
      { id: 'AlarmTopicChanged', source: 'aws.sns', eventName: ['SetTopicAttributes', 'DeleteTopic'], requestParameters: { topicArn: [this.alarmTopic.topicArn] } },
      { id: 'AlarmTopicUnsubscribed', source: 'aws.sns', eventName: ['Unsubscribe'], requestParameters: { subscriptionArn: [{ prefix: `${this.alarmTopic.topicArn}:` }] } },
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
    // kms:GenerateDataKey* on the topic's key (the alarm topic has none, see its comment).
    const alarmTopic: events.IRuleTarget = { bind: () => ({ arn: this.alarmTopic.topicArn }) };
    const rules = watched.map(
      ({ id, source, eventName, requestParameters, responseElements }) =>
        new events.Rule(this, id, {
          ruleName: ruleName(id),
          description: `Someone changed what the audit trail depends on (${id}).`,
          eventPattern: {
            source: [source],
            detailType: ['AWS API Call via CloudTrail'],
            detail: { eventName, ...(requestParameters && { requestParameters }), ...(responseElements && { responseElements }) },
          },
          targets: [alarmTopic],
        }),
    );
    this.alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'TamperRulesPublish',
        principals: [new iam.ServicePrincipal('events.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: { ArnEquals: { 'aws:SourceArn': rules.map((r) => r.ruleArn) } },
      }),
    );
  }

  /** The cdk-nag finding id of a wildcard resource `<audit group ARN><suffix>`. */
  private auditGroupFinding(suffix: string): string {
    const token = (v: string, pseudo: string) => (Token.isUnresolved(v) ? `<AWS::${pseudo}>` : v);
    const logicalId = this.getLogicalId(this.auditLogGroup.node.defaultChild as logs.CfnLogGroup);
    return `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:${token(this.region, 'Region')}:${token(this.account, 'AccountId')}:log-group:<${logicalId}>${suffix}]`;
  }

  /**
   * The write-once archive: the audit group's subscription filter → Firehose → an S3 bucket with
   * Object Lock in compliance mode (nobody, root included, deletes or overwrites a locked version
   * before `years`). Seals travel with the records. Objects are what Firehose makes of CloudWatch
   * Logs subscription data: gzip'd `DATA_MESSAGE` documents, concatenated (`flagtrail verify --archive`).
   */
  private archive(stage: string, key: kms.IKey, years: number): s3.Bucket {
    if (!Number.isInteger(years) || years < 1) throw new Error(`archiveRetentionYears must be a whole number of years >= 1, not ${years}`);
    const bucket = new s3.Bucket(this, 'ArchiveBucket', {
      ...protectedBucket(key),
      objectLockEnabled: true,
      objectLockDefaultRetention: s3.ObjectLockRetention.compliance(Duration.days(365 * years)),
      lifecycleRules: [
        // Glacier Instant Retrieval: cheap, yet `verify` reads it without a restore.
        { id: 'colder-after-90-days', transitions: [{ storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(90) }] },
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });
    acknowledge(bucket, 'AwsSolutions-S1', 'Only Firehose writes here and auditors read; object-level access is in CloudTrail data events where the account enables them.');
    // "Years", not CDK's 365-day multiple (2,555 days fall short of 7 years by the leap days).
    // addPropertyOverride merges, so CDK's Days is removed explicitly: S3 refuses a rule with both.
    const cfnBucket = bucket.node.defaultChild as s3.CfnBucket;
    cfnBucket.addPropertyOverride('ObjectLockConfiguration.Rule.DefaultRetention.Years', years);
    cfnBucket.addPropertyDeletionOverride('ObjectLockConfiguration.Rule.DefaultRetention.Days');

    const deliveryRole = new iam.Role(this, 'ArchiveDeliveryRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', { conditions: { StringEquals: { 'sts:ExternalId': this.account } } }),
    });
    deliveryRole.addToPolicy(new iam.PolicyStatement({ sid: 'FindTheBucket', actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'], resources: [bucket.bucketArn] }));
    deliveryRole.addToPolicy(new iam.PolicyStatement({ sid: 'WriteArchiveObjects', actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: [bucket.arnForObjects('audit/*'), bucket.arnForObjects('errors/*')] }));
    deliveryRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptArchiveObjects',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${this.region}.amazonaws.com` }, // With an S3 Bucket Key the encryption context is the bucket's ARN, without one the object's.
        StringLike: { 'kms:EncryptionContext:aws:s3:arn': `${bucket.bucketArn}*` } },
      }),
    );
    acknowledge(deliveryRole, `AwsSolutions-IAM5[Resource::<${this.getLogicalId(bucket.node.defaultChild as s3.CfnBucket)}.Arn>/audit/*]`, 'Firehose names objects by delivery time under the prefix: the prefix is the narrowest fixed resource.');
    acknowledge(deliveryRole, `AwsSolutions-IAM5[Resource::<${this.getLogicalId(bucket.node.defaultChild as s3.CfnBucket)}.Arn>/errors/*]`, 'Firehose names error objects by time under the prefix.');
    // Only Firehose adds objects: nobody can stack a new version on an archived object (Object Lock
    // keeps the old version; this keeps the bucket from growing versions that would mislead a reader).
    bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyFirehoseWrites',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects('*')],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': deliveryRole.roleArn } },
      }),
    );

    // Firehose's own error log: why a delivery failed (an S3 or KMS refusal, with its message), the
    // first thing to read when ArchiveDeliveryLag fires (docs/runbook.md).
    const deliveryLog = new logs.LogGroup(this, 'ArchiveDeliveryErrors', {
      logGroupName: `/aws/kinesisfirehose/${archiveStreamName(stage)}`,
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const deliveryLogStream = new logs.LogStream(this, 'ArchiveDeliveryErrorsStream', {
      logGroup: deliveryLog,
      logStreamName: 'DestinationDelivery',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    deliveryRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'LogDeliveryErrors',
        actions: ['logs:PutLogEvents'],
        resources: [this.formatArn({ service: 'logs', resource: 'log-group', resourceName: `${deliveryLog.logGroupName}:log-stream:${deliveryLogStream.logStreamName}`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      }),
    );
    const stream = new firehose.CfnDeliveryStream(this, 'ArchiveDeliveryStream', {
      deliveryStreamName: archiveStreamName(stage),
      deliveryStreamType: 'DirectPut',
      deliveryStreamEncryptionConfigurationInput: { keyType: 'AWS_OWNED_CMK' },
      extendedS3DestinationConfiguration: {
        bucketArn: bucket.bucketArn,
        roleArn: deliveryRole.roleArn,
        prefix: 'audit/',
        errorOutputPrefix: 'errors/!{firehose:error-output-type}/',
        // CloudWatch Logs sends gzip'd data already: stored as it comes.
        compressionFormat: 'UNCOMPRESSED',
        bufferingHints: { intervalInSeconds: 300, sizeInMBs: 5 },
        encryptionConfiguration: { kmsEncryptionConfig: { awskmsKeyArn: key.keyArn } },
        cloudWatchLoggingOptions: { enabled: true, logGroupName: deliveryLog.logGroupName, logStreamName: deliveryLogStream.logStreamName },
      },
    });
    stream.node.addDependency(deliveryRole);
    // Firehose retries a failed S3 delivery until its 24 h Direct PUT retention ends, then drops the
    // data from the archive path ("Troubleshoot errors in Amazon Data Firehose"): alarm long before that.
    new cloudwatch.Alarm(this, 'ArchiveDeliveryLag', {
      alarmName: `flagtrail-${stage}-ArchiveDeliveryLag`,
      alarmDescription: `The archive is more than 15 minutes behind the audit group: Firehose cannot deliver (bucket, key or Object Lock refusal). Why: log group ${deliveryLog.logGroupName} (docs/runbook.md).`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Firehose',
        metricName: 'DeliveryToS3.DataFreshness',
        dimensionsMap: { DeliveryStreamName: archiveStreamName(stage) },
        statistic: 'Maximum',
        period: Duration.minutes(5),
      }),
      threshold: 900,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(new cwActions.SnsAction(this.alarmTopic));

    const subscriptionRole = new iam.Role(this, 'ArchiveSubscriptionRole', {
      assumedBy: new iam.ServicePrincipal(`logs.${this.region}.amazonaws.com`, {
        conditions: { StringLike: { 'aws:SourceArn': `arn:${this.partition}:logs:${this.region}:${this.account}:*` } },
      }),
    });
    subscriptionRole.addToPolicy(new iam.PolicyStatement({ sid: 'SendToTheArchive', actions: ['firehose:PutRecord', 'firehose:PutRecordBatch'], resources: [stream.attrArn] }));
    const filter = new logs.CfnSubscriptionFilter(this, 'ArchiveSubscription', {
      logGroupName: this.auditLogGroup.logGroupName,
      filterName: 'archive',
      filterPattern: '', // every event: records and seals
      destinationArn: stream.attrArn,
      roleArn: subscriptionRole.roleArn,
    });
    filter.node.addDependency(subscriptionRole);

    // The auditor reads the archive (every version) and decrypts it through S3.
    this.auditorRole.addToPolicy(
      new iam.PolicyStatement({ sid: 'ListTheArchive', actions: ['s3:ListBucket', 's3:ListBucketVersions', 's3:GetBucketLocation', 's3:GetBucketObjectLockConfiguration'], resources: [bucket.bucketArn] }),
    );
    this.auditorRole.addToPolicy(
      new iam.PolicyStatement({ sid: 'ReadTheArchive', actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectRetention'], resources: [bucket.arnForObjects('*')] }),
    );
    this.auditorRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'DecryptTheArchiveThroughS3',
        actions: ['kms:Decrypt'],
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${this.region}.amazonaws.com` } },
      }),
    );
    const auditGroupArn = this.auditGroupArn();
    this.auditorRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadTheAuditTrail',
        // logs:Unmask: the group may carry a data-protection policy, and verify must read the bytes
        // that were sealed.
        actions: ['logs:FilterLogEvents', 'logs:GetLogEvents', 'logs:DescribeLogStreams', 'logs:StartQuery', 'logs:GetQueryResults', 'logs:Unmask'],
        resources: [auditGroupArn, `${auditGroupArn}:*`],
      }),
    );
    this.auditorRole.addToPolicy(new iam.PolicyStatement({ sid: 'ListSavedQueries', actions: ['logs:DescribeQueryDefinitions'], resources: ['*'] }));
    acknowledge(this.auditorRole, 'AwsSolutions-IAM5[Resource::*]', 'logs:DescribeQueryDefinitions has no resource-level permissions.');
    acknowledge(this.auditorRole, `AwsSolutions-IAM5[Resource::<${this.getLogicalId(bucket.node.defaultChild as s3.CfnBucket)}.Arn>/*]`, 'Read-only over the archive objects, whose names Firehose chooses.');
    acknowledge(
      this.auditorRole,
      this.auditGroupFinding(':*'),
      'Read-only over the audit group and its streams (named per day).',
    );
    return bucket;
  }

  /** One stream consumer: function, its failure queue and its event source mapping. */
  private consumer(
    name: string,
    o: { stage: string; key: kms.IKey; arch: lambda.Architecture; streamArn: string; code: string; environment: Record<string, string>; batchingWindow: Duration; startingPosition: lambda.StartingPosition; filters?: Array<{ [k: string]: unknown }>; auditGroupArn: string },
  ): Consumer {
    const logGroup = new logs.LogGroup(this, `${name}FunctionLogs`, {
      logGroupName: `/aws/lambda/flagtrail-${o.stage}-${name.toLowerCase()}`,
      retention: logs.RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role with exactly what it needs. Not AWSLambdaBasicExecutionRole: that grants
    // logs:CreateLogStream/PutLogEvents on "*", i.e. the right to write forged records into the
    // audit log group (or any group).
    const role = new iam.Role(this, `${name}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    role.addToPolicy(new iam.PolicyStatement({ sid: 'WriteOwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    protectAuditTrail(role, o.auditGroupArn);
    const fn = new lambda.Function(this, `${name}Function`, {
      functionName: `flagtrail-${o.stage}-${name.toLowerCase()}`,
      role,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: o.arch,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(o.code),
      memorySize: FUNCTION_MEMORY_MB,
      timeout: FUNCTION_TIMEOUT,
      environment: o.environment,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: lambda.Tracing.ACTIVE,
    });
    const mapping = new lambda.EventSourceMapping(this, `${name}StreamMapping`, {
      target: fn,
      eventSourceArn: o.streamArn,
      startingPosition: o.startingPosition,
      batchSize: 1000,
      maxBatchingWindow: o.batchingWindow,
      reportBatchItemFailures: true,
      bisectBatchOnError: true,
      retryAttempts: 10,
      maxRecordAge: Duration.hours(6),
      onFailure: new S3RecordDestination(this.failureBucket, o.key),
      filters: o.filters,
    });
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadTheFlagTableStream',
        actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        resources: [o.streamArn],
      }),
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ListTheStreams', actions: ['dynamodb:ListStreams'], resources: ['*'] }));
    return { name, fn, mapping };
  }

  private alarms(stage: string, consumers: Consumer[], reconcile: lambda.Function, productionEnvironments: string[]): void {
    const action = new cwActions.SnsAction(this.alarmTopic);
    const alarm = (id: string, metric: cloudwatch.IMetric, threshold: number, description: string) => {
      const a = new cloudwatch.Alarm(this, id, {
        alarmName: `flagtrail-${stage}-${id}`,
        alarmDescription: description,
        metric,
        threshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
      a.addAlarmAction(action);
      return a;
    };
    const flagtrail = (metricName: string, dimensionsMap?: Record<string, string>) =>
      new cloudwatch.Metric({ namespace: 'Flagtrail', metricName, dimensionsMap, statistic: 'Sum', period: Duration.minutes(1) });
    alarm('ProductionFlagChange', flagtrail('ProductionFlagChange'), 0, 'A flag changed in a production environment.');
    alarm('QuarantinedRecords', flagtrail('RecordsQuarantined', { Function: 'audit' }), 0, 'A stream record could not be decoded; it is kept as a quarantine record in the audit log group.');
    // Someone wrote to the table outside the stamping protocol (docs/audit-record.md).
    for (const env of productionEnvironments) {
      const id = `UnattributedChanges${env.replace(/[^A-Za-z0-9]/g, '')}`;
      alarm(id, flagtrail('UnattributedChanges', { Environment: env }), 0, `A change in ${env} names no author: it was written outside the flag service's stamping protocol (query unattributed-changes).`);
    }
    alarm('ReconcileFindings', flagtrail('ReconcileFindings', { Function: 'reconcile' }), 0, 'The trail does not account for a change: a version gap, a write behind its back, or a delete without a record (see the reconcile function log).');
    alarm('ReconcileErrors', reconcile.metricErrors({ period: Duration.minutes(5) }), 0, 'The completeness check could not run.');
    for (const c of consumers) {
      alarm(`${c.name}Errors`, c.fn.metricErrors({ period: Duration.minutes(1) }), 0, `The ${c.name} function failed.`);
      alarm(`${c.name}IteratorAge`, c.fn.metric('IteratorAge', { statistic: 'Maximum', period: Duration.minutes(1) }), 60_000, `The ${c.name} function is more than a minute behind the stream.`);
    }
    alarm(
      'DiscardedBatches',
      new cloudwatch.Metric({
        namespace: 'AWS/S3',
        metricName: 'PutRequests',
        dimensionsMap: { BucketName: this.failureBucket.bucketName, FilterId: 'DiscardedBatches' },
        statistic: 'Sum',
        period: Duration.minutes(1),
      }),
      0,
      'Lambda discarded stream records after the retries or the record age; they are in the failure bucket: fix the cause, then run flagtrail redrive (docs/runbook.md).',
    );
  }

  private dashboard(stage: string, consumers: Consumer[]): void {
    const m = (metricName: string, dims?: Record<string, string>, label?: string) =>
      new cloudwatch.Metric({ namespace: 'Flagtrail', metricName, dimensionsMap: dims, statistic: 'Sum', period: Duration.minutes(5), label });
    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `flagtrail-${stage}`,
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Changes per environment',
            left: [new cloudwatch.MathExpression({ expression: "SEARCH('{Flagtrail,Environment} MetricName=\"FlagChanges\"', 'Sum', 300)", label: '' })],
          }),
          new cloudwatch.GraphWidget({ title: 'Production changes', left: [m('ProductionFlagChange')] }),
          new cloudwatch.GraphWidget({ title: 'Kill switches switched on', left: [m('KillSwitchActivations')] }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Pipeline health',
            left: [m('RecordsProcessed', { Function: 'audit' }, 'audited'), m('RecordsQuarantined', { Function: 'audit' }, 'quarantined'), m('RecordsRetried', { Function: 'audit' }, 'audit retried'), m('RecordsRetried', { Function: 'notify' }, 'notify retried')],
            right: consumers.map((c) => c.fn.metricErrors({ label: `${c.name} errors` })),
          }),
          new cloudwatch.GraphWidget({
            title: 'Invalidation lag (iterator age, ms)',
            left: consumers.map((c) => c.fn.metric('IteratorAge', { statistic: 'Maximum', label: c.name })),
          }),
          new cloudwatch.GraphWidget({ title: 'Alerts and invalidations', left: [m('AlertsPublished', { Function: 'notify' }), m('InvalidationsPublished', { Function: 'notify' })] }),
        ],
      ],
    });
  }
}

interface Consumer {
  name: string;
  fn: lambda.Function;
  mapping: lambda.EventSourceMapping;
}

/**
 * The S3 on-failure destination with exactly the grants Lambda documents for it: s3:PutObject and
 * s3:ListBucket, and kms:GenerateDataKey for a KMS-encrypted bucket. (The library's
 * S3OnFailureDestination grants read/write/delete with wildcard actions: a function could then
 * erase the records it failed on.)
 */
class S3RecordDestination implements lambda.IEventSourceDlq {
  constructor(private readonly bucket: s3.IBucket, private readonly key: kms.IKey) {}

  bind(_target: lambda.IEventSourceMapping, fn: lambda.IFunction): lambda.DlqDestinationConfig {
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'WriteDiscardedBatches', actions: ['s3:PutObject'], resources: [this.bucket.arnForObjects('aws/lambda/*')] }));
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ListFailureBucket', actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn] }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'EncryptDiscardedBatches',
        actions: ['kms:GenerateDataKey'],
        resources: [this.key.keyArn],
        conditions: { StringLike: { 'kms:EncryptionContext:aws:s3:arn': `${this.bucket.bucketArn}*` } },
      }),
    );
    return { destination: this.bucket.bucketArn };
  }
}

/** The Firehose stream that feeds the archive. */
function archiveStreamName(stage: string): string {
  return `flagtrail-${stage}-archive`;
}

/** What no role of the stack may do to the audit group, and what pages on-call when anyone does. */
const AUDIT_GROUP_PROTECTIONS = [
  'DeleteLogGroup', 'DeleteLogStream', 'PutRetentionPolicy', 'DeleteRetentionPolicy', 'DisassociateKmsKey', 'AssociateKmsKey',
  'DeleteDataProtectionPolicy', 'PutDataProtectionPolicy', 'DeleteSubscriptionFilter', 'PutSubscriptionFilter',
];

/**
 * Nobody in the stack deletes the audit trail or shortens its retention: only a stack update
 * (CloudFormation with the deploy role) can. An explicit Deny wins over any Allow a role may get later.
 */
function protectAuditTrail(role: iam.Role, auditGroupArn: string): void {
  role.addToPolicy(
    new iam.PolicyStatement({
      sid: 'NeverDeleteOrShortenTheAuditTrail',
      effect: iam.Effect.DENY,
      actions: AUDIT_GROUP_PROTECTIONS.map((a) => `logs:${a}`),
      resources: [auditGroupArn, `${auditGroupArn}:*`],
    }),
  );
}

/** A bucket for records that must outlive everything: KMS (with a Bucket Key), no public access,
 * TLS only, versioned, retained when the stack is deleted. */
function protectedBucket(key: kms.IKey): s3.BucketProps {
  return {
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: key,
    bucketKeyEnabled: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    versioned: true,
    removalPolicy: RemovalPolicy.RETAIN,
  };
}

/** A key policy naming every action the account may take on the key through IAM (no "kms:*"). */
function accountKeyPolicy(sid: string, actions: string[]): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid,
        principals: [new iam.AccountRootPrincipal()],
        actions,
        resources: ['*'], // in a key policy "*" means this key
      }),
    ],
  });
}

/** A cdk-nag finding accepted on purpose, with the reason in code. */
function acknowledge(scope: Construct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `AwsSolutions::${id}`, reason });
}

/** The Slack channel's guardrail: CloudWatch alarm, metric and dashboard reads only. */
export const SLACK_READ_ACTIONS = [
  'cloudwatch:DescribeAlarms', 'cloudwatch:DescribeAlarmHistory', 'cloudwatch:GetMetricData', 'cloudwatch:GetMetricStatistics',
  'cloudwatch:GetMetricWidgetImage', 'cloudwatch:ListMetrics', 'cloudwatch:GetDashboard', 'cloudwatch:ListDashboards',
];

/**
 * What the account may do with the seal key through IAM: administer it and read its public half.
 * Not kms:Sign (only the audit function has it, by name). PutKeyPolicy stays (a key nobody can
 * administer is locked out for good): an administrator could grant Sign by rewriting the policy,
 * which CloudTrail records (docs/integrity.md, key compromise).
 */
const SEAL_KEY_ACCOUNT_ACTIONS = [
  'kms:CancelKeyDeletion', 'kms:CreateAlias', 'kms:DeleteAlias', 'kms:DescribeKey', 'kms:DisableKey', 'kms:EnableKey',
  'kms:GetKeyPolicy', 'kms:GetPublicKey', 'kms:ListAliases', 'kms:ListResourceTags', 'kms:PutKeyPolicy',
  'kms:ScheduleKeyDeletion', 'kms:TagResource', 'kms:UntagResource', 'kms:UpdateAlias', 'kms:UpdateKeyDescription', 'kms:Verify',
];

/** What the account may do with the key through IAM, spelled out. */
const KEY_ACCOUNT_ACTIONS = [
  'kms:CancelKeyDeletion', 'kms:CreateAlias', 'kms:CreateGrant', 'kms:Decrypt', 'kms:DeleteAlias', 'kms:DescribeKey',
  'kms:DisableKey', 'kms:DisableKeyRotation', 'kms:EnableKey', 'kms:EnableKeyRotation', 'kms:Encrypt',
  'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:GetKeyPolicy', 'kms:GetKeyRotationStatus',
  'kms:ListAliases', 'kms:ListGrants', 'kms:ListKeyRotations', 'kms:ListResourceTags', 'kms:PutKeyPolicy',
  'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:RetireGrant', 'kms:RevokeGrant', 'kms:RotateKeyOnDemand',
  'kms:ScheduleKeyDeletion', 'kms:TagResource', 'kms:UntagResource', 'kms:UpdateAlias', 'kms:UpdateKeyDescription',
];

function required<T>(v: T | undefined, message: string): T {
  if (v === undefined || v === '') throw new Error(message);
  return v;
}
