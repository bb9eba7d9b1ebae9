// The completeness check (docs/audit-record.md): hourly, version continuity of the trail and the
// table against the trail; findings in its log and the ReconcileFindings metric.
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { AuditTrail } from './audit-trail';
import { acknowledge } from './nag';
import { FUNCTION_MEMORY_MB } from './stream-consumer';

/** Settings of the completeness check. */
export interface ReconcileProps {
  readonly stage: string;
  readonly arch: lambda.Architecture;
  /** Directory holding `reconcile/bootstrap.zip`. */
  readonly assetDir: string;
  /** The flag table it scans. */
  readonly table: dynamodb.ITable;
  /** The flag table's name as configured (a plain string, also for the demo table). */
  readonly tableName: string;
  /** The trail it reads (and may not delete or shorten). */
  readonly trail: AuditTrail;
  /** The trail key: encrypts the function's log group, whose findings name flag keys. */
  readonly key: kms.IKey;
}

/**
 * The only attributes the completeness check reads (shared/runtime/src/reconcile.rs scans with the
 * ProjectionExpression `PK, SK, version, requestId`): the table's keys, the version and the request
 * id. Flag values, including attributes the trail redacts, never reach it.
 */
export const RECONCILE_ATTRIBUTES = ['PK', 'SK', 'version', 'requestId'];

/**
 * dynamodb:Scan on the table, for those attributes only ("Using IAM policy conditions for
 * fine-grained access control", DynamoDB Developer Guide; its example 2 names Scan):
 * `dynamodb:Attributes` is every attribute the request names or returns, and requiring `dynamodb:Select`
 * to be SPECIFIC_ATTRIBUTES where present refuses ALL_ATTRIBUTES (a Scan without a projection) and
 * ALL_PROJECTED_ATTRIBUTES. The list holds the table's key attributes (PK, SK), as the guide requires.
 */
export function scanForReconcile(sid: string, table: dynamodb.ITable): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    actions: ['dynamodb:Scan'],
    resources: [table.tableArn],
    conditions: {
      'ForAllValues:StringEquals': { 'dynamodb:Attributes': RECONCILE_ATTRIBUTES },
      StringEqualsIfExists: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' },
    },
  });
}

/** The reconcile function and its hourly schedule. */
export class Reconcile extends Construct {
  /** The reconcile function. */
  public readonly fn: lambda.Function;

  constructor(scope: Construct, id: string, props: ReconcileProps) {
    super(scope, id);
    const { stage, trail } = props;
    // In the stack's scope: the logical IDs predate this construct (flagtrail-stack.ts).
    const stack = Stack.of(this);
    const logGroup = new logs.LogGroup(stack, 'ReconcileFunctionLogs', {
      logGroupName: `/aws/lambda/flagtrail-${stage}-reconcile`,
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: props.key, // CloudWatch Logs uses it (the key policy's logs statement); readers need no kms permission
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role: no AWS managed policy (AWSLambdaBasicExecutionRole would let it write any log group).
    const role = new iam.Role(stack, 'ReconcileRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    trail.protect(role);
    role.addToPolicy(new iam.PolicyStatement({ sid: 'WriteOwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    acknowledge(role, `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(logGroup.node.defaultChild as logs.CfnLogGroup)}.Arn>]`, 'The log group ARN ends in :* so it covers the function\'s own log streams: nothing wider.');
    this.fn = new lambda.Function(stack, 'ReconcileFunction', {
      functionName: `flagtrail-${stage}-reconcile`,
      role,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: props.arch,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(path.join(props.assetDir, 'reconcile', 'bootstrap.zip')),
      memorySize: FUNCTION_MEMORY_MB,
      timeout: Duration.minutes(5),
      environment: { FLAGTRAIL_METRICS_NAMESPACE: 'Flagtrail', FLAGTRAIL_TABLE: props.tableName, FLAGTRAIL_AUDIT_LOG_GROUP: trail.logGroup.logGroupName },
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
    });
    this.fn.addToRolePolicy(scanForReconcile('ScanTheFlagTable', props.table));
    this.fn.addToRolePolicy(
      // Both ARN forms of the group: the documented `log-group:NAME` and the `log-group:NAME:*` that
      // DescribeLogGroups and CloudFormation return.
      new iam.PolicyStatement({ sid: 'ReadTheAuditTrail', actions: ['logs:FilterLogEvents'], resources: [trail.groupArn, `${trail.groupArn}:*`] }),
    );
    acknowledge(role, trail.nagFinding(':*'), 'The audit log group itself, in the ARN form CloudWatch Logs uses for group-level actions (log-group:NAME:*).');
    new events.Rule(stack, 'ReconcileSchedule', {
      ruleName: `flagtrail-${stage}-reconcile`,
      schedule: events.Schedule.rate(Duration.hours(1)),
      targets: [new targets.LambdaFunction(this.fn, { retryAttempts: 0 })],
    });
    acknowledge(this.fn, 'AwsSolutions-L1', 'provided.al2023 is the current OS-only runtime for Rust bootstraps.');
  }
}
