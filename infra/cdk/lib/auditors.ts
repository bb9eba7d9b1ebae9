// What auditors use: a read-only role for everything the auditor docs ask — `flagtrail verify` and
// `flagtrail report` (the audit group with unmask, the archive, the seal key's public half),
// `flagtrail reconcile` (a Scan of the flag table) and its findings (the reconcile function's log
// group and metrics) — assumable in this account and, with an external id, by an external
// auditor's account; and Logs Insights saved queries for their questions (queries.ts).
import { ArnFormat, Duration, Stack, Token } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { AuditTrail } from './audit-trail';
import type { TrailKeys } from './keys';
import { acknowledge } from './nag';
import { AUDITOR_QUERIES, queryText } from './queries';
import { readForReconcile } from './reconcile';
import type { TransparencyLog } from './transparency-log';

/** An external auditor's AWS account, trusted to assume the auditor role with an external id. */
export interface ExternalAuditor {
  /** The auditor's 12-digit AWS account id. */
  readonly accountId: string;
  /** The external id the auditor's firm gave (sts:ExternalId); required with the account. */
  readonly externalId: string;
}

/** Settings of the auditors' access. */
export interface AuditorsProps {
  readonly stage: string;
  /** The keys: auditors read the seal key's public half. */
  readonly keys: TrailKeys;
  /** An external auditor's account that may assume the role (with its external id). */
  readonly externalAuditor?: ExternalAuditor;
}

/** Read actions auditors have on a log group: read events (masked fields unmasked), run Insights. */
const LOG_GROUP_READS = [
  'logs:FilterLogEvents', 'logs:GetLogEvents', 'logs:DescribeLogStreams', 'logs:StartQuery', 'logs:GetQueryResults',
  'logs:GetLogRecord', 'logs:GetLogGroupFields',
];

/** The auditor role and the saved queries. */
export class Auditors extends Construct {
  /** The role auditors assume: reads the trail, the archive, the flag table, reconcile's findings. */
  public readonly role: iam.Role;
  private readonly stage: string;

  constructor(scope: Construct, id: string, props: AuditorsProps) {
    super(scope, id);
    this.stage = props.stage;
    // In the stack's scope: the logical IDs predate this construct (flagtrail-stack.ts).
    this.role = new iam.Role(Stack.of(this), 'AuditorRole', {
      roleName: `flagtrail-${props.stage}-auditor`,
      description: 'Read-only: the audit trail, its archive, the seal key public half, the flag table and the reconcile findings.',
      // The account decides who may assume it (an auditor's IAM user or SSO permission set).
      assumedBy: new iam.AccountRootPrincipal(),
      maxSessionDuration: Duration.hours(4),
    });
    if (props.externalAuditor) this.trustExternalAuditor(props.externalAuditor);
    props.keys.grantVerify(this.role);
    // The Logs Insights console lists the groups to query (no resource-level permission) and the
    // saved queries (none either): names, not contents.
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'ListGroupsAndSavedQueries', actions: ['logs:DescribeLogGroups', 'logs:DescribeQueryDefinitions'], resources: ['*'] }));
    acknowledge(this.role, 'AwsSolutions-IAM5[Resource::*]', 'logs:DescribeLogGroups, logs:DescribeQueryDefinitions and CloudWatch metric reads have no resource-level permissions.');
  }

  /**
   * The external auditor's account may assume the role only with its external id (the confused-deputy
   * guard for a third party: https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html).
   * Its administrator then lets its own auditors call sts:AssumeRole on this role.
   */
  private trustExternalAuditor(ext: ExternalAuditor): void {
    if (!/^\d{12}$/.test(ext.accountId)) throw new Error(`auditorAccountId must be a 12-digit AWS account id, not "${ext.accountId}"`);
    // IAM's limits on sts:ExternalId: 2 to 1,224 characters of [\w+=,.@:/-].
    if (!/^[\w+=,.@:/-]{2,1224}$/.test(ext.externalId)) throw new Error('auditorExternalId must be 2 to 1224 characters of letters, digits and +=,.@:/-_');
    if (ext.accountId === Stack.of(this).account) throw new Error('auditorAccountId is this stack\'s own account: its principals may assume the role already');
    this.role.assumeRolePolicy!.addStatements(
      new iam.PolicyStatement({
        sid: 'ExternalAuditorWithExternalId',
        actions: ['sts:AssumeRole'],
        principals: [new iam.AccountPrincipal(ext.accountId)],
        conditions: { StringEquals: { 'sts:ExternalId': ext.externalId } },
      }),
    );
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

  /**
   * Auditors verify the transparency log's checkpoints with the checkpoint key's public half (named
   * in its key policy, as the seal key's); the log's objects are under log/ of the archive, which
   * `readArchive` lets them read.
   */
  public verifyCheckpoints(log: TransparencyLog): void {
    log.grantVerify(this.role);
  }

  /** Auditors read the audit group, with a saved query for each of their questions (queries.ts). */
  public readTrail(trail: AuditTrail): void {
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'ReadTheAuditTrail',
        // logs:Unmask: the group may carry a data-protection policy, and verify must read the bytes
        // that were sealed. CloudWatch Logs decrypts the group itself (the key's logs statement):
        // readers need no kms permission for it.
        actions: [...LOG_GROUP_READS, 'logs:Unmask'],
        resources: [trail.groupArn, `${trail.groupArn}:*`],
      }),
    );
    acknowledge(this.role, trail.nagFinding(':*'), 'Read-only over the audit group and its streams (named per day).');
    for (const q of AUDITOR_QUERIES) {
      new logs.QueryDefinition(Stack.of(this), `Query${q.id}`, {
        queryDefinitionName: `flagtrail/${this.stage}/${q.name}`,
        queryString: new RenderedQuery(queryText(q)),
        logGroups: [trail.logGroup],
      });
    }
  }

  /**
   * The completeness check and its findings: `flagtrail reconcile` scans the flag table, re-reads
   * suspects with GetItem when it keeps a state (and reads the trail, granted above); the scheduled
   * check's findings are in its function's log group and the `Flagtrail/ReconcileFindings` metric
   * (docs/runbook.md, "ReconcileFindings").
   */
  public readCompleteness(table: dynamodb.ITable, reconcileLogs: logs.ILogGroup): void {
    const stack = Stack.of(this);
    // Scan and GetItem only, and only of the four attributes `flagtrail reconcile` projects
    // (shared/runtime/src/reconcile/mod.rs): flag values, and attributes the trail redacts
    // (FLAGTRAIL_REDACT_ATTRIBUTES), stay out of the auditor's reach.
    this.role.addToPolicy(readForReconcile('ReadTheCheckAttributes', table));
    const group = stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: reconcileLogs.logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });
    this.role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadTheReconcileFindings', actions: LOG_GROUP_READS, resources: [group, `${group}:*`] }));
    // No resource-level permissions, and no condition narrows them to a namespace: any metric of
    // the account (numbers, no log contents).
    this.role.addToPolicy(
      new iam.PolicyStatement({ sid: 'ReadTheFindingsMetric', actions: ['cloudwatch:GetMetricData', 'cloudwatch:GetMetricStatistics', 'cloudwatch:ListMetrics'], resources: ['*'] }),
    );
    // The finding names the region and account as cdk-nag prints them: literal when the stack's env is.
    const token = (v: string, pseudo: string) => (Token.isUnresolved(v) ? `<AWS::${pseudo}>` : v);
    acknowledge(
      this.role,
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:${token(stack.region, 'Region')}:${token(stack.account, 'AccountId')}:log-group:<${stack.getLogicalId(reconcileLogs.node.defaultChild as logs.CfnLogGroup)}>:*]`,
      'Read-only over the reconcile function\'s log group and its streams (named by Lambda).',
    );
  }
}

/** A Logs Insights query as written (QueryString has no `dedup`): QueryDefinition takes its text. */
class RenderedQuery extends logs.QueryString {
  constructor(private readonly text: string) {
    super();
  }

  public toString(): string {
    return this.text;
  }
}
