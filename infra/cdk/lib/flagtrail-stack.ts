// The flagtrail pipeline beside a flag table: the audit and notify functions on the table's stream,
// the audit log group and its archive, the topics, alarms, tamper rules, saved queries and a
// dashboard. Each concern is a construct in its own file; this file only wires them together.
// Logical IDs derive from construct paths, and a changed one makes CloudFormation replace the
// resource (a new audit log group, archive bucket, keys…): the constructs create the resources that
// predate them in the stack's own scope, and test/logical-ids.test.ts holds the stateful ones to
// their deployed IDs.
import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AccessLogs, accessLogDays } from './access-logs';
import { Alarms } from './alarms';
import { Archive, archiveRetention } from './archive';
import { AuditTrail } from './audit-trail';
import { Auditors, ExternalAuditor } from './auditors';
import { PipelineDashboard } from './dashboard';
import { FailureDestination } from './failure-destination';
import { FlagTableSource } from './flag-table';
import { TrailKeys } from './keys';
import { FreshnessMarks } from './marks';
import { Notifications } from './notifications';
import { Reconcile } from './reconcile';
import { TamperRules } from './tamper-rules';
import { TransparencyLog, Witnesses } from './transparency-log';

export { SLACK_READ_ACTIONS } from './notifications';

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
  /** Directory holding `{audit,notify,reconcile,log-writer}/bootstrap.zip` (cargo lambda output). */
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
  /** The archive's Object Lock mode and years or days; by stage: production compliance 7 years, else governance 30 days (archive.ts). */
  readonly archiveLockMode?: 'compliance' | 'governance';
  readonly archiveRetentionYears?: number;
  readonly archiveRetentionDays?: number;
  /** Roles whose CloudFormation changes are the pipeline's deploys: Slack information, not a page (tamper-rules.ts). */
  readonly deployRoleArns?: string[];
  /** An external auditor's account that may assume the auditor role with its external id. */
  readonly externalAuditor?: ExternalAuditor;
  /**
   * The completeness check's first run records a sealed baseline of what predates the trail
   * (reconcile.ts). Default: on when attaching to an existing table, off with `createDemoTable`.
   */
  readonly baselineOnFirstRun?: boolean;
  /** The completeness check's table slices, one per run (default 24: a full pass a day). */
  readonly reconcileScanSegments?: number;
  /** Read capacity units per second the completeness check may consume (default 50; 0: unlimited). */
  readonly reconcileReadUnitsPerSecond?: number;
  /** The transparency log's witnesses (docs/integrity.md, "A witness in the auditors' account"); none by default. */
  readonly witnesses?: Witnesses;
}

/** One stage of the pipeline. */
export class FlagtrailStack extends Stack {
  /** The trail and seal keys. */
  public readonly keys: TrailKeys;
  /** The audit log group and the audit function. */
  public readonly trail: AuditTrail;
  /** The topics, their subscribers and the notify function. */
  public readonly notifications: Notifications;
  /** The write-once archive of the audit group. */
  public readonly archive: Archive;
  /** The failure bucket of both mappings. */
  public readonly failures: FailureDestination;
  /** The auditor role and saved queries. */
  public readonly auditors: Auditors;
  /** The transparency log's writer and its checkpoint key. */
  public readonly transparencyLog: TransparencyLog;

  constructor(scope: Construct, id: string, props: FlagtrailProps) {
    super(scope, id, props);
    const stage = props.stage;
    const productionEnvironments = props.productionEnvironments ?? ['prod', 'production'];
    const arch = props.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64;

    const keys = (this.keys = new TrailKeys(this, 'Keys', { stage }));
    const source = new FlagTableSource(this, 'FlagTableSource', props);
    const failures = (this.failures = new FailureDestination(this, 'Failures', { key: keys.key }));
    const consumer = {
      stage, arch, assetDir: props.assetDir, streamArn: source.streamArn, failures, key: keys.key,
      environment: {
        FLAGTRAIL_METRICS_NAMESPACE: 'Flagtrail',
        FLAGTRAIL_PRODUCTION_ENVIRONMENTS: productionEnvironments.join(','),
        FLAGTRAIL_REDACT_ATTRIBUTES: (props.redactAttributes ?? []).join(','),
        AWS_LAMBDA_LOG_FORMAT: 'JSON',
      },
    };
    // Before the trail: the seal key's policy lists the auditors' statement first.
    const auditors = (this.auditors = new Auditors(this, 'Auditors', { stage, keys, externalAuditor: props.externalAuditor }));
    const trail = (this.trail = new AuditTrail(this, 'Trail', { stage, keys, retention: props.auditRetention, dataProtection: props.dataProtection, consumer }));
    // Freshness marks (docs/freshness.md): notify updates them, evaluators elsewhere read them.
    const marks = new FreshnessMarks(this, 'Marks', { stage });
    const notifications = (this.notifications = new Notifications(this, 'Notifications', { stage, key: keys.key, alertEmail: props.alertEmail, slack: props.slack, consumer, trail, marks }));
    const alarmTopic = notifications.alarmTopic;
    // Fed by the audit group's subscription, or with data protection by the audit function itself.
    const retention = archiveRetention(stage, { mode: props.archiveLockMode, years: props.archiveRetentionYears, days: props.archiveRetentionDays });
    const archive = (this.archive = new Archive(this, 'Archive', { stage, key: keys.key, retention, trail, alarmTopic, dataProtection: props.dataProtection }));
    // An existing table predates the trail: its first run records a baseline; the demo table does not.
    const reconcile = new Reconcile(this, 'Reconcile', {
      stage, arch, assetDir: props.assetDir, table: source.table, tableName: props.tableName, trail, keys,
      baselineOnFirstRun: props.baselineOnFirstRun ?? !props.createDemoTable,
      scanSegments: props.reconcileScanSegments,
      scanReadUnitsPerSecond: props.reconcileReadUnitsPerSecond,
    });
    // Who read or tried to delete the evidence (and the check's state): S3 server access logs, kept as long as the archive.
    const accessLogs = new AccessLogs(this, 'AccessLogs', {
      expireAfterDays: accessLogDays(retention, props.auditRetention),
      sources: { 'archive/': archive.bucket, 'failure/': failures.bucket, 'state/': reconcile.state.bucket },
    });
    // The transparency log of the seals, under log/ of the archive: its single writer, hourly.
    const tlog = (this.transparencyLog = new TransparencyLog(this, 'TransparencyLog', { stage, arch, assetDir: props.assetDir, trail, archive, key: keys.key, witnesses: props.witnesses }));
    auditors.readArchive(archive.bucket, keys.key);
    auditors.verifyCheckpoints(tlog);
    auditors.readTrail(trail);
    auditors.readCompleteness(source.table, reconcile.fn.logGroup);

    const consumers = [trail.audit, notifications.notify];
    const alarms = new Alarms(this, 'Alarms', { stage, alarmTopic, consumers, reconcile: reconcile.fn, logWriter: tlog.fn, productionEnvironments, failureBucket: failures.bucket });
    // After every alarm: the rules watch them all.
    new TamperRules(this, 'TamperRules', {
      stage, trail,
      keys: [keys.key, keys.sealKey, tlog.checkpointKey],
      buckets: [archive.bucket, failures.bucket, accessLogs.bucket, reconcile.state.bucket],
      archiveStreamName: archive.streamName,
      functions: [trail.audit.fn, notifications.notify.fn, reconcile.fn, tlog.fn],
      tableName: props.tableName,
      alarmTopic,
      otherRules: alarms.ruleNames,
      deployRoleArns: props.deployRoleArns,
      infoTopic: notifications.pipelineTopic,
    });
    new PipelineDashboard(this, 'PipelineDashboard', { stage, consumers });

    const outputs: Record<string, string> = {
      AuditLogGroupName: trail.logGroup.logGroupName,
      AlertTopicArn: notifications.alertTopic.topicArn,
      AlarmTopicArn: alarmTopic.topicArn,
      InvalidationTopicArn: notifications.invalidationTopic.topicArn,
      AuditFunctionName: trail.audit.fn.functionName,
      NotifyFunctionName: notifications.notify.fn.functionName,
      ReconcileFunctionName: reconcile.fn.functionName,
      FailureBucketName: failures.bucket.bucketName,
      ArchiveBucketName: archive.bucket.bucketName,
      AccessLogBucketName: accessLogs.bucket.bucketName,
      ReconcileStateBucketName: reconcile.state.bucket.bucketName,
      SealKeyArn: keys.sealKey.keyArn,
      LogWriterFunctionName: tlog.fn.functionName,
      CheckpointKeyArn: tlog.checkpointKey.keyArn,
      // What a witness's stack admits to its Function URL (-c logWriterRoleArn).
      LogWriterRoleArn: tlog.role.roleArn,
      AuditorRoleArn: auditors.role.roleArn,
      MarksTableName: marks.table.tableName,
      EvaluatorReadPolicyArn: notifications.evaluatorReadPolicy.managedPolicyArn,
    };
    for (const [id, value] of Object.entries(outputs)) new CfnOutput(this, id, { value });
  }
}
