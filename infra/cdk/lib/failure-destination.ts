// Where Lambda puts stream records it gives up on. After the retries or the record age of a
// mapping, Lambda discards the records; an SQS or SNS destination would get only their shard and
// sequence range (the stream keeps records 24 h), an S3 destination gets the whole invocation
// record, which `flagtrail redrive` replays
// (docs.aws.amazon.com/lambda/latest/dg/services-dynamodb-errors.html).
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { acknowledge } from './nag';
import { protectedBucket } from './protected-bucket';

/** Settings of the failure destination. */
export interface FailureDestinationProps {
  /** The trail key, which encrypts the bucket. */
  readonly key: kms.IKey;
}

/** The failure bucket both mappings send discarded batches to. */
export class FailureDestination extends Construct {
  /** The whole invocation record of every discarded batch, under `aws/lambda/`. */
  public readonly bucket: s3.Bucket;
  private readonly key: kms.IKey;

  constructor(scope: Construct, id: string, props: FailureDestinationProps) {
    super(scope, id);
    this.key = props.key;
    // In the stack's scope: the logical IDs predate this construct (flagtrail-stack.ts).
    this.bucket = new s3.Bucket(Stack.of(this), 'FailureBucket', {
      ...protectedBucket(props.key), // discarded records outlive the stack
      lifecycleRules: [
        { id: 'colder-after-a-month', transitions: [{ storageClass: s3.StorageClass.INFREQUENT_ACCESS, transitionAfter: Duration.days(30) }] },
        { id: 'old-versions', noncurrentVersionExpiration: Duration.days(365) },
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });
    // S3 sends every object event to EventBridge: an "Object Created" under aws/lambda/ pages
    // (alarms.ts). Set on the bucket resource itself: the construct's `eventBridgeEnabled` would go
    // through CDK's notifications custom resource (a Lambda function and role of its own).
    (this.bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = { eventBridgeConfiguration: { eventBridgeEnabled: true } };
  }

  /** The on-failure destination of one mapping. */
  public destination(): lambda.IEventSourceDlq {
    return new S3RecordDestination(this.bucket, this.key);
  }
}

/**
 * The S3 on-failure destination with exactly the grants Lambda documents for it: s3:PutObject and
 * s3:ListBucket, and kms:GenerateDataKey for a KMS-encrypted bucket. (The library's
 * S3OnFailureDestination grants read/write/delete with wildcard actions: a function could then
 * erase the records it failed on.)
 */
class S3RecordDestination implements lambda.IEventSourceDlq {
  constructor(private readonly bucket: s3.Bucket, private readonly key: kms.IKey) {}

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
    const bucketId = Stack.of(this.bucket).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket);
    acknowledge(fn.role!, `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/aws/lambda/*]`, 'Lambda names each invocation record aws/lambda/<mapping>/<shard>/<date>/<time>-<uuid>: the prefix is the narrowest fixed resource.');
    return { destination: this.bucket.bucketArn };
  }
}
