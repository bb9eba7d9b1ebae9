// The buckets that hold evidence (discarded batches, the write-once archive) share one baseline.
import { RemovalPolicy } from 'aws-cdk-lib';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as s3 from 'aws-cdk-lib/aws-s3';

/** A bucket for records that must outlive everything: KMS (with a Bucket Key), no public access,
 * TLS only, versioned, retained when the stack is deleted or the bucket replaced (deleted, empty,
 * only when the deploy that created it rolls back: RetainExceptOnCreate). */
export function protectedBucket(key: kms.IKey): s3.BucketProps {
  return {
    encryption: s3.BucketEncryption.KMS,
    encryptionKey: key,
    bucketKeyEnabled: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    enforceSSL: true,
    versioned: true,
    removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
  };
}
