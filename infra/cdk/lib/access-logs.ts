// Who read, listed or tried to delete the evidence: S3 server access logs of the archive and failure
// buckets and of the completeness check's state, in one bucket of the stack (`archive/`, `failure/`,
// `state/`). Server access logging is S3's own
// record of every request to a bucket, whoever made it, at no charge but the log storage; CloudTrail
// data events would record the same reads only where the account pays for them.
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { ArchiveRetention } from './archive';
import { acknowledge } from './nag';

/** Settings of the access-log bucket. */
export interface AccessLogsProps {
  /**
   * Days a log object is kept; none: forever. The stack passes the longer of the archive's lock and
   * the audit group's retention (flagtrail-stack.ts): who read the archive is evidence as long as
   * the archive is, and never for less time than the trail it copies.
   */
  readonly expireAfterDays?: number;
  /** The buckets whose requests are logged, by the prefix their logs go under (`archive/`, `failure/`, `state/`). */
  readonly sources: Record<string, s3.Bucket>;
}

/**
 * How long access logs are kept: the longer of the archive's Object Lock retention (whole years
 * counted with their leap days) and the audit group's retention (default one year); forever with
 * a never-expiring audit group. Production: 7 years → 2,557 days; a trial stage: 30 days of
 * archive, one year of audit group → 365 days.
 */
export function accessLogDays(archive: ArchiveRetention, audit: logs.RetentionDays = logs.RetentionDays.ONE_YEAR): number | undefined {
  if (audit === logs.RetentionDays.INFINITE) return undefined;
  return Math.max(archive.years !== undefined ? Math.ceil(archive.years * 365.25) : archive.days!, audit);
}

/**
 * The access-log bucket. Unlike the evidence buckets it is SSE-S3 and has no Object Lock: the S3
 * User Guide documents SSE-S3 as the default encryption a destination bucket may have for server
 * access logs ("Enabling Amazon S3 server access logging"; aws-cdk #25350 saw SSE-KMS deliver with
 * key grants, outside the documented contract), and "S3 buckets with Object Lock can't be used as
 * destination buckets for server access logs" ("Object Lock considerations"). Log delivery is granted
 * by the bucket policy (the logging service principal, for the stack's logged buckets and their
 * prefixes only), not by the LogDeliveryWrite ACL: ACLs stay off (bucket owner enforced).
 */
export class AccessLogs extends Construct {
  /** Server access logs of the archive (`archive/`), failure (`failure/`) and reconcile state (`state/`) buckets. */
  public readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: AccessLogsProps) {
    super(scope, id);
    // In the stack's scope, beside the buckets it logs (flagtrail-stack.ts).
    this.bucket = new s3.Bucket(Stack.of(this), 'AccessLogBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: true, // a deleted or overwritten log object stays as a noncurrent version
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, // as the buckets it logs (protected-bucket.ts)
      lifecycleRules: [
        {
          id: 'expire-with-the-archive',
          ...(props.expireAfterDays !== undefined && { expiration: Duration.days(props.expireAfterDays) }),
          // Time to notice and restore a log someone deleted (deletion is a data event, not watched).
          noncurrentVersionExpiration: Duration.days(90),
        },
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });
    for (const [prefix, bucket] of Object.entries(props.sources)) this.logRequestsOf(bucket, prefix);
    acknowledge(this.bucket, 'AwsSolutions-S1', 'The access-log bucket itself: logging it into itself would log its own log deliveries without end, and into another bucket only moves the question; its configuration changes page (TrailBucketChanged).');
  }

  /** Logs every request to `source` under `prefix` (e.g. `archive/`), delivered by the logging service. */
  public logRequestsOf(source: s3.Bucket, prefix: string): void {
    const stack = Stack.of(this);
    const sid = `ServerAccessLogsOf${prefix.charAt(0).toUpperCase()}${prefix.slice(1).replace(/\W/g, '')}`;
    // Set on the resource, not through the Bucket's serverAccessLogsBucket: that chooses between the
    // ACL and the bucket policy by a feature flag, which tests' Apps would not carry.
    (source.node.defaultChild as s3.CfnBucket).loggingConfiguration = { destinationBucketName: this.bucket.bucketName, logFilePrefix: prefix };
    // The grant S3 documents for the bucket-policy method: the logging service principal, PutObject
    // under the prefix, for this source bucket in this account (aws:SourceArn, aws:SourceAccount).
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid,
        principals: [new iam.ServicePrincipal('logging.s3.amazonaws.com')],
        actions: ['s3:PutObject'],
        resources: [this.bucket.arnForObjects(`${prefix}*`)],
        conditions: { ArnLike: { 'aws:SourceArn': source.bucketArn }, StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    );
  }
}
