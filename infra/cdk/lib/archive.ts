// The write-once archive: the audit group's subscription filter → Firehose → an S3 bucket with
// Object Lock, in production in compliance mode (nobody, root included, deletes or overwrites a
// locked version before its retention ends), in a trial stage in governance mode for 30 days (see
// archiveRetention). Seals travel with the records. Objects are what Firehose makes of
// CloudWatch Logs subscription data: gzip'd `DATA_MESSAGE` documents, concatenated
// (`flagtrail verify --archive`). With data protection on the group, CloudWatch Logs masks
// subscription data too: there is no filter then, and the audit function puts the same documents
// into the stream itself (docs/integrity.md, "The archive under data protection").
import { Annotations, ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { AuditTrail } from './audit-trail';
import { acknowledge } from './nag';
import { protectedBucket } from './protected-bucket';

/** Settings of the archive. */
export interface ArchiveProps {
  readonly stage: string;
  /** The trail key, which encrypts the archive objects. */
  readonly key: kms.IKey;
  /** How long and how firmly every object stays locked (`archiveRetention`). */
  readonly retention: ArchiveRetention;
  /** The audit trail whose group is archived. */
  readonly trail: AuditTrail;
  /** Where the delivery-lag alarm pages. */
  readonly alarmTopic: sns.ITopic;
  /**
   * The audit group has a data-protection policy: its subscription data would be masked, so the
   * audit function writes to the delivery stream itself (`FLAGTRAIL_ARCHIVE_STREAM`) and there is
   * no subscription filter.
   */
  readonly dataProtection?: boolean;
}

/** Stages whose archive is evidence by default: compliance mode, 7 years. */
export const PRODUCTION_STAGES = ['prod', 'production'];

/** The archive bucket's Object Lock default retention: a mode and either years or days. */
export interface ArchiveRetention {
  readonly mode: 'COMPLIANCE' | 'GOVERNANCE';
  readonly years?: number;
  readonly days?: number;
}

/** What a stage's context may set (`archiveLockMode`, `archiveRetentionYears`, `archiveRetentionDays`). */
export interface ArchiveRetentionOverrides {
  readonly mode?: string;
  readonly years?: number;
  readonly days?: number;
}

/**
 * The archive's retention for a stage. Production (`PRODUCTION_STAGES`): compliance mode, 7 years —
 * nobody, root included, can delete or shorten it. Any other stage: governance mode, 30 days —
 * the same write-once behaviour for ordinary principals during a trial, but a principal with
 * `s3:BypassGovernanceRetention` can delete the objects (and then the bucket) at once, and
 * nothing stays locked after a month. Each part can be overridden; a production stage with another
 * name sets `archiveLockMode=compliance` and `archiveRetentionYears`.
 */
export function archiveRetention(stage: string, o: ArchiveRetentionOverrides = {}): ArchiveRetention {
  const production = PRODUCTION_STAGES.includes(stage);
  const mode = o.mode === undefined ? (production ? 'COMPLIANCE' : 'GOVERNANCE') : o.mode.toUpperCase();
  if (mode !== 'COMPLIANCE' && mode !== 'GOVERNANCE') throw new Error(`archiveLockMode must be compliance or governance, not ${o.mode}`);
  if (o.years !== undefined && o.days !== undefined) throw new Error('give archiveRetentionYears or archiveRetentionDays, not both');
  // S3's limits: 100 years, 36,500 days.
  if (o.years !== undefined && (!Number.isInteger(o.years) || o.years < 1 || o.years > 100)) throw new Error(`archiveRetentionYears must be a whole number of years >= 1, not ${o.years}`);
  if (o.days !== undefined && (!Number.isInteger(o.days) || o.days < 1 || o.days > 36500)) throw new Error(`archiveRetentionDays must be a whole number of days >= 1, not ${o.days}`);
  if (o.years !== undefined) return { mode, years: o.years };
  if (o.days !== undefined) return { mode, days: o.days };
  return production ? { mode, years: 7 } : { mode, days: 30 };
}

/**
 * The archive bucket, the Firehose stream that fills it, and what feeds the stream: the audit
 * group's subscription, or with data protection the audit function itself.
 */
export class Archive extends Construct {
  /** The write-once archive of the audit group (records and seals), Object Lock (`archiveRetention`). */
  public readonly bucket: s3.Bucket;
  /** The Firehose stream between the subscription filter and the bucket. */
  public readonly deliveryStream: firehose.CfnDeliveryStream;
  /** The audit group's subscription filter: every event, to the delivery stream (none with data protection). */
  public readonly subscription?: logs.CfnSubscriptionFilter;
  /** The delivery stream's name (the tamper rules watch it). */
  public readonly streamName: string;
  /** The role Firehose delivers with. */
  public readonly deliveryRole: iam.Role;
  /** The bucket policy's Deny of PutObject to all but the archive's writers. */
  private readonly onlyWriters: iam.PolicyStatement;

  constructor(scope: Construct, id: string, props: ArchiveProps) {
    super(scope, id);
    const { stage, key, retention } = props;
    const { years, days } = retention;
    // In the stack's scope: the logical IDs predate this construct (flagtrail-stack.ts).
    const stack = Stack.of(this);
    this.streamName = `flagtrail-${stage}-archive`;
    const bucket = new s3.Bucket(stack, 'ArchiveBucket', {
      ...protectedBucket(key),
      objectLockEnabled: true,
      objectLockDefaultRetention: (retention.mode === 'COMPLIANCE' ? s3.ObjectLockRetention.compliance : s3.ObjectLockRetention.governance)(
        Duration.days(years !== undefined ? 365 * years : days!),
      ),
      lifecycleRules: [
        // Glacier Instant Retrieval: cheap, yet `verify` reads it without a restore.
        { id: 'colder-after-90-days', transitions: [{ storageClass: s3.StorageClass.GLACIER_INSTANT_RETRIEVAL, transitionAfter: Duration.days(90) }] },
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });
    this.bucket = bucket;
    // "Years", not CDK's 365-day multiple (2,555 days fall short of 7 years by the leap days).
    // addPropertyOverride merges, so CDK's Days is removed explicitly: S3 refuses a rule with both.
    const cfnBucket = bucket.node.defaultChild as s3.CfnBucket;
    if (years !== undefined) {
      cfnBucket.addPropertyOverride('ObjectLockConfiguration.Rule.DefaultRetention.Years', years);
      cfnBucket.addPropertyDeletionOverride('ObjectLockConfiguration.Rule.DefaultRetention.Days');
    }
    // Said at synth when the archive can be emptied: a production stage of another name notices.
    if (retention.mode === 'GOVERNANCE') {
      const length = years !== undefined ? `${years} year(s)` : `${days} day(s)`;
      Annotations.of(this).addInfo(`archive: Object Lock governance mode, ${length}: s3:BypassGovernanceRetention can delete it (a trial stage; production: -c archiveLockMode=compliance)`);
    }
    const bucketId = stack.getLogicalId(cfnBucket);

    const deliveryRole = new iam.Role(stack, 'ArchiveDeliveryRole', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com', { conditions: { StringEquals: { 'sts:ExternalId': stack.account } } }),
    });
    deliveryRole.addToPolicy(new iam.PolicyStatement({ sid: 'FindTheBucket', actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'], resources: [bucket.bucketArn] }));
    deliveryRole.addToPolicy(new iam.PolicyStatement({ sid: 'WriteArchiveObjects', actions: ['s3:PutObject', 's3:AbortMultipartUpload'], resources: [bucket.arnForObjects('audit/*'), bucket.arnForObjects('errors/*')] }));
    deliveryRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptArchiveObjects',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [key.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` },
          // With an S3 Bucket Key the encryption context is the bucket's ARN, without one the object's.
          StringLike: { 'kms:EncryptionContext:aws:s3:arn': `${bucket.bucketArn}*` },
        },
      }),
    );
    acknowledge(deliveryRole, `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/audit/*]`, 'Firehose names objects by delivery time under the prefix: the prefix is the narrowest fixed resource.');
    acknowledge(deliveryRole, `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/errors/*]`, 'Firehose names error objects by time under the prefix.');
    // Only Firehose adds objects: nobody can stack a new version on an archived object (Object Lock
    // keeps the old version; this keeps the bucket from growing versions that would mislead a reader).
    // The transparency log's writer joins it under its own prefix (admitLogWriter).
    this.deliveryRole = deliveryRole;
    this.onlyWriters = new iam.PolicyStatement({
      sid: 'OnlyFirehoseWrites',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['s3:PutObject'],
      resources: [bucket.arnForObjects('*')],
      conditions: { ArnNotEquals: { 'aws:PrincipalArn': deliveryRole.roleArn } },
    });
    bucket.addToResourcePolicy(this.onlyWriters);

    // Firehose's own error log: why a delivery failed (an S3 or KMS refusal, with its message), the
    // first thing to read when ArchiveDeliveryLag fires (docs/runbook.md).
    const deliveryLog = new logs.LogGroup(stack, 'ArchiveDeliveryErrors', {
      logGroupName: `/aws/kinesisfirehose/${this.streamName}`,
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: key, // its messages name archive objects; CloudWatch Logs uses the key (the key policy's logs statement)
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const deliveryLogStream = new logs.LogStream(stack, 'ArchiveDeliveryErrorsStream', {
      logGroup: deliveryLog,
      logStreamName: 'DestinationDelivery',
      removalPolicy: RemovalPolicy.DESTROY,
    });
    deliveryRole.addToPolicy(
      new iam.PolicyStatement({
        sid: 'LogDeliveryErrors',
        actions: ['logs:PutLogEvents'],
        resources: [stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: `${deliveryLog.logGroupName}:log-stream:${deliveryLogStream.logStreamName}`, arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
      }),
    );
    const stream = new firehose.CfnDeliveryStream(stack, 'ArchiveDeliveryStream', {
      deliveryStreamName: this.streamName,
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
    // Firehose assumes the role when the stream is created: the role and its policy first (IAM
    // propagation itself is not ordered by this: a retry of the deploy, see the runbook).
    stream.node.addDependency(deliveryRole);
    this.deliveryStream = stream;
    // Firehose retries a failed S3 delivery until its 24 h Direct PUT retention ends, then drops the
    // data from the archive path ("Troubleshoot errors in Amazon Data Firehose"): alarm long before that.
    new cloudwatch.Alarm(stack, 'ArchiveDeliveryLag', {
      alarmName: `flagtrail-${stage}-ArchiveDeliveryLag`,
      alarmDescription: `The archive is more than 15 minutes behind the audit group: Firehose cannot deliver (bucket, key or Object Lock refusal). Why: log group ${deliveryLog.logGroupName} (docs/runbook.md).`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Firehose',
        metricName: 'DeliveryToS3.DataFreshness',
        dimensionsMap: { DeliveryStreamName: this.streamName },
        statistic: 'Maximum',
        period: Duration.minutes(5),
      }),
      threshold: 900,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    }).addAlarmAction(new cwActions.SnsAction(props.alarmTopic));

    const audit = props.trail.audit;
    if (props.dataProtection) {
      // The function sends gzip'd subscription-data documents, stored as they come (UNCOMPRESSED
      // above): PutRecordBatch on this one stream, nothing else.
      audit.fn.addEnvironment('FLAGTRAIL_ARCHIVE_STREAM', stream.ref);
      audit.fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'WriteTheArchive', actions: ['firehose:PutRecordBatch'], resources: [stream.attrArn] }));
      // The first batch (from TRIM_HORIZON) goes to the stream: the stream first (ACTIVE), and the
      // role's policy with the grant.
      audit.mapping.node.addDependency(stream, (audit.fn.role as iam.Role).node.findChild('DefaultPolicy'));
      return;
    }
    const subscriptionRole = new iam.Role(stack, 'ArchiveSubscriptionRole', {
      assumedBy: new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`, {
        conditions: { StringLike: { 'aws:SourceArn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:*` } },
      }),
    });
    subscriptionRole.addToPolicy(new iam.PolicyStatement({ sid: 'SendToTheArchive', actions: ['firehose:PutRecord', 'firehose:PutRecordBatch'], resources: [stream.attrArn] }));
    this.subscription = new logs.CfnSubscriptionFilter(stack, 'ArchiveSubscription', {
      logGroupName: props.trail.logGroup.logGroupName,
      filterName: 'archive',
      filterPattern: '', // every event: records and seals
      destinationArn: stream.attrArn,
      roleArn: subscriptionRole.roleArn,
    });
    // CloudWatch Logs sends a test message through the role to the stream when the filter is
    // created: the stream first (CloudFormation waits for it to be ACTIVE), and the role with its
    // policy. The ARN reference alone would order the stream, but not one built from its name.
    this.subscription.node.addDependency(subscriptionRole, stream);
    // A subscription filter forwards only what is written after it exists, and the audit mapping
    // starts at TRIM_HORIZON (up to 24 h of records at once): the audit function writes its first
    // record only once the archive receives it.
    audit.mapping.node.addDependency(this.subscription);
  }

  /**
   * The transparency log's single writer (transparency-log.ts) may add objects under `prefix`, and
   * only it: the Deny above spares it besides Firehose (its own policy grants PutObject under the
   * prefix alone, as Firehose's grants audit/ and errors/ alone), and a second Deny keeps everyone
   * else, Firehose included, out of the prefix. Object Lock holds the log's objects like the
   * records': the writer creates them (If-None-Match) and replaces the latest checkpoint (If-Match),
   * which stacks a version and keeps the old one.
   */
  public admitLogWriter(role: iam.IRole, prefix: string): void {
    this.onlyWriters.addCondition('ArnNotEquals', { 'aws:PrincipalArn': [this.deliveryRole.roleArn, role.roleArn] });
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyTheLogWriterWritesTheLog',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${prefix}*`)],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': role.roleArn } },
      }),
    );
  }
}
