// What auditors use: a read-only role over the trail, its archive and the seal key's public half
// (`flagtrail verify`), and Logs Insights saved queries for their questions (queries.ts).
import { Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { AuditTrail } from './audit-trail';
import type { TrailKeys } from './keys';
import { acknowledge } from './nag';
import { AUDITOR_QUERIES } from './queries';

/** Settings of the auditors' access. */
export interface AuditorsProps {
  readonly stage: string;
  /** The keys: auditors read the seal key's public half. */
  readonly keys: TrailKeys;
}

/** The auditor role and the saved queries. */
export class Auditors extends Construct {
  /** The role auditors assume to verify: reads the trail, the archive and the seal key's public half. */
  public readonly role: iam.Role;
  private readonly stage: string;

  constructor(scope: Construct, id: string, props: AuditorsProps) {
    super(scope, id);
    this.stage = props.stage;
    // In the stack's scope: the logical IDs predate this construct (flagtrail-stack.ts).
    this.role = new iam.Role(Stack.of(this), 'AuditorRole', {
      roleName: `flagtrail-${props.stage}-auditor`,
      description: 'Read-only: the audit trail, its archive and the seal key public half (flagtrail verify).',
      // The account decides who may assume it (an auditor's IAM user or SSO permission set).
      assumedBy: new iam.AccountRootPrincipal(),
      maxSessionDuration: Duration.hours(4),
    });
    props.keys.grantVerify(this.role);
  }

  /** Auditors read the archive (every version) and decrypt it through S3. */
  public readArchive(bucket: s3.Bucket, key: kms.IKey): void {
    const stack = Stack.of(this);
    this.role.addToPolicy(
      new iam.PolicyStatement({ sid: 'ListTheArchive', actions: ['s3:ListBucket', 's3:ListBucketVersions', 's3:GetBucketLocation', 's3:GetBucketObjectLockConfiguration'], resources: [bucket.bucketArn] }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({ sid: 'ReadTheArchive', actions: ['s3:GetObject', 's3:GetObjectVersion', 's3:GetObjectRetention'], resources: [bucket.arnForObjects('*')] }),
    );
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'DecryptTheArchiveThroughS3',
        actions: ['kms:Decrypt'],
        resources: [key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` } },
      }),
    );
    acknowledge(this.role, `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(bucket.node.defaultChild as s3.CfnBucket)}.Arn>/*]`, 'Read-only over the archive objects, whose names Firehose chooses.');
  }

  /** Auditors read the audit group, with a saved query for each of their questions (queries.ts). */
  public readTrail(trail: AuditTrail): void {
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadTheAuditTrail',
        // logs:Unmask: the group may carry a data-protection policy, and verify must read the bytes
        // that were sealed.
        actions: ['logs:FilterLogEvents', 'logs:GetLogEvents', 'logs:DescribeLogStreams', 'logs:StartQuery', 'logs:GetQueryResults', 'logs:Unmask'],
        resources: [trail.groupArn, `${trail.groupArn}:*`],
      }),
    );
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'ListSavedQueries', actions: ['logs:DescribeQueryDefinitions'], resources: ['*'] }));
    acknowledge(this.role, 'AwsSolutions-IAM5[Resource::*]', 'logs:DescribeQueryDefinitions has no resource-level permissions.');
    acknowledge(this.role, trail.nagFinding(':*'), 'Read-only over the audit group and its streams (named per day).');
    for (const q of AUDITOR_QUERIES) {
      new logs.QueryDefinition(Stack.of(this), `Query${q.id}`, {
        queryDefinitionName: `flagtrail/${this.stage}/${q.name}`,
        queryString: new logs.QueryString({ fields: q.fields, filterStatements: q.filters, sort: q.sort }),
        logGroups: [trail.logGroup],
      });
    }
  }
}
