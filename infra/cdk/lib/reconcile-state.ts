// The completeness check's kept state (shared/runtime/src/reconcile/store.rs): one gzip'd object,
// tens of MB at a million items, that the reconcile function reads at the start of a run and
// replaces at its end, conditionally (If-Match on the ETag it read, If-None-Match: * the first
// time). With it a run reads only the trail's new events and one slice of the table.
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { protectedBucket } from './protected-bucket';

/** Where the state lives in its bucket: the runtime's default `FLAGTRAIL_STATE_KEY` is `reconcile/state.jsonl.gz`. */
export const STATE_PREFIX = 'reconcile/';

/** Settings of the state bucket. */
export interface ReconcileStateProps {
  /** The trail key, which encrypts the state. */
  readonly key: kms.IKey;
  /** The reconcile function's role: the state's only reader and writer. */
  readonly role: iam.Role;
}

/**
 * The state bucket. Encrypted with the trail key, not SSE-S3: the state lists every flag key with
 * its version and request id (what the function's findings log, encrypted with the same key, names),
 * and whoever can rewrite it can make the next run take a gap for accounted; under the trail key a
 * principal with S3 rights alone (s3:* on *, a common grant) neither reads nor writes it. No bucket
 * policy keeps other writers out (as the archive's OnlyFirehoseWrites does): the runbook's recovery
 * of a lost state on a large trail is an administrator's upload of one rebuilt with `flagtrail
 * reconcile --state`; every write is in the access logs (`state/`), and a change to the bucket's
 * policy, encryption or versioning pages (TrailBucketChanged).
 * Otherwise the evidence buckets' settings (protectedBucket: no public access, TLS only, versioned,
 * RetainExceptOnCreate) but no Object Lock: the object is replaced every hour and is derived data
 * (a lost state is rebuilt from the trail, shared/runtime/src/reconcile/mod.rs). Versions replaced
 * more than 7 days ago expire: a week to notice a bad state and restore one (delete the current
 * version and the previous one is current again), about 170 versions of tens of MB at most.
 */
export class ReconcileState extends Construct {
  /** The state bucket. */
  public readonly bucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: ReconcileStateProps) {
    super(scope, id);
    const { key, role } = props;
    // In the stack's scope, as its other stateful resources (flagtrail-stack.ts).
    const stack = Stack.of(this);
    const bucket = (this.bucket = new s3.Bucket(stack, 'ReconcileStateBucket', {
      ...protectedBucket(key),
      lifecycleRules: [
        { id: 'replaced-states-after-7-days', noncurrentVersionExpiration: Duration.days(7) },
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    }));
    const bucketId = stack.getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
    // ListBucket only so that S3 answers a missing state with 404 NoSuchKey, the first run's
    // signal (store.rs); without it S3 answers 403 and the first run fails. It lists key names of
    // this bucket, which holds the state alone.
    role.addToPolicy(new iam.PolicyStatement({ sid: 'FindTheState', actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
    // Read and replace (conditional PutObject, a single request: no multipart); no delete.
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadAndReplaceTheState', actions: ['s3:GetObject', 's3:PutObject'], resources: [bucket.arnForObjects(`${STATE_PREFIX}*`)] }));
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptTheState',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [key.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` },
          // With the Bucket Key the encryption context is the bucket's ARN, without one the object's:
          // through this bucket only, never the archive or the failure bucket.
          StringLike: { 'kms:EncryptionContext:aws:s3:arn': [bucket.bucketArn, bucket.arnForObjects(`${STATE_PREFIX}*`)] },
        },
      }),
    );
    acknowledge(role, `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${STATE_PREFIX}*]`, 'The state object under its prefix in the state bucket: the runtime names the key (FLAGTRAIL_STATE_KEY).');
  }
}
