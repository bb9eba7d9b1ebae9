// The completeness check (docs/audit-record.md): hourly, version continuity of the trail and the
// table against the trail; findings in its log and the ReconcileFindings metric. It keeps its state
// between runs (reconcile-state.ts) and, on an attached table, takes a baseline on its first run.
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { AuditTrail } from './audit-trail';
import type { TrailKeys } from './keys';
import { acknowledge } from './nag';
import { ReconcileState } from './reconcile-state';
import { FUNCTION_MEMORY_MB, MAX_RECORD_AGE } from './stream-consumer';

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
  /**
   * The trail key (encrypts the function's log group, whose findings name flag keys, and the state)
   * and the seal key (signs the baseline's seals).
   */
  readonly keys: TrailKeys;
  /**
   * The first run (no state kept, no baseline in the trail) records a sealed baseline of the items
   * the trail does not show: the table's contents from before the trail. Needs whole-item Scan and
   * kms:Sign on the seal key, which the role then keeps (docs/security.md). Without it, run
   * `flagtrail baseline` once from an administrator's session. The stack's default: on when it
   * attaches to an existing table, off for its own demo table (nothing predates the trail).
   */
  readonly baselineOnFirstRun: boolean;
  /** The table is compared in this many slices, one per run (runtime default 24: a full pass a day). */
  readonly scanSegments?: number;
  /** Read capacity units per second the check may consume (runtime default 50; 0 is unlimited). */
  readonly scanReadUnitsPerSecond?: number;
}

/**
 * How late a change's record may reach the trail before the check reports it: the mappings' maximum
 * record age (after which the batch goes to the failure destination, which pages on its own) plus
 * 15 minutes for the last retry's invocation. The runtime's DEFAULT_GRACE_SECONDS states the same
 * rule (shared/runtime/src/config.rs); the stack sets it from the mapping's value.
 */
export const RECONCILE_GRACE = Duration.seconds(MAX_RECORD_AGE.toSeconds() + Duration.minutes(15).toSeconds());

/** Log streams of the audit group the baseline writes (the runtime's fixed `baseline/` prefix, shared/runtime/src/build.rs). */
export const BASELINE_STREAM_PREFIX = 'baseline/';

/**
 * The only attributes the completeness check reads (shared/runtime/src/reconcile/mod.rs scans with the
 * ProjectionExpression `PK, SK, version, requestId`): the table's keys, the version and the request
 * id. Flag values, including attributes the trail redacts, never reach it.
 */
export const RECONCILE_ATTRIBUTES = ['PK', 'SK', 'version', 'requestId'];

/**
 * dynamodb:Scan and dynamodb:GetItem on the table, for those attributes only ("Using IAM policy
 * conditions for fine-grained access control", DynamoDB Developer Guide; its example 2 names Scan,
 * the IAM User Guide's "Allows access to specific attributes" GetItem): `dynamodb:Attributes` is
 * every attribute the request names or returns, and requiring `dynamodb:Select` to be
 * SPECIFIC_ATTRIBUTES where present refuses ALL_ATTRIBUTES (a Scan without a projection) and
 * ALL_PROJECTED_ATTRIBUTES. The list holds the table's key attributes (PK, SK), as the guide requires.
 * GetItem is the re-read of a suspect (consistent, the same projection) before it is reported.
 */
export function readForReconcile(sid: string, table: dynamodb.ITable): iam.PolicyStatement {
  return new iam.PolicyStatement({
    sid,
    actions: ['dynamodb:GetItem', 'dynamodb:Scan'],
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
  /** Where it keeps its state between runs. */
  public readonly state: ReconcileState;

  constructor(scope: Construct, id: string, props: ReconcileProps) {
    super(scope, id);
    const { stage, trail } = props;
    // In the stack's scope: the logical IDs predate this construct (flagtrail-stack.ts).
    const stack = Stack.of(this);
    const logGroup = new logs.LogGroup(stack, 'ReconcileFunctionLogs', {
      logGroupName: `/aws/lambda/flagtrail-${stage}-reconcile`,
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: props.keys.key, // CloudWatch Logs uses it (the key policy's logs statement); readers need no kms permission
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role: no AWS managed policy (AWSLambdaBasicExecutionRole would let it write any log group).
    const role = new iam.Role(stack, 'ReconcileRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    trail.protect(role);
    role.addToPolicy(new iam.PolicyStatement({ sid: 'WriteOwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    acknowledge(role, `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(logGroup.node.defaultChild as logs.CfnLogGroup)}.Arn>]`, 'The log group ARN ends in :* so it covers the function\'s own log streams: nothing wider.');
    const state = (this.state = new ReconcileState(this, 'State', { key: props.keys.key, role }));
    const baseline = props.baselineOnFirstRun;
    const environment: Record<string, string> = {
      FLAGTRAIL_METRICS_NAMESPACE: 'Flagtrail',
      FLAGTRAIL_TABLE: props.tableName,
      FLAGTRAIL_AUDIT_LOG_GROUP: trail.logGroup.logGroupName,
      FLAGTRAIL_STATE_BUCKET: state.bucket.bucketName,
      FLAGTRAIL_RECONCILE_GRACE_SECONDS: String(RECONCILE_GRACE.toSeconds()),
      ...(props.scanSegments !== undefined && { FLAGTRAIL_SCAN_SEGMENTS: String(scanSegments(props.scanSegments)) }),
      ...(props.scanReadUnitsPerSecond !== undefined && { FLAGTRAIL_SCAN_READ_UNITS_PER_SECOND: String(readUnits(props.scanReadUnitsPerSecond)) }),
      ...(baseline && { FLAGTRAIL_BASELINE_ON_FIRST_RUN: 'true', FLAGTRAIL_SEAL_KEY_ID: props.keys.sealKey.keyArn }),
    };
    this.fn = new lambda.Function(stack, 'ReconcileFunction', {
      functionName: `flagtrail-${stage}-reconcile`,
      role,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: props.arch,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(path.join(props.assetDir, 'reconcile', 'bootstrap.zip')),
      memorySize: FUNCTION_MEMORY_MB,
      // Lambda's maximum: the first run may baseline a large table (paced whole-item Scan, sealed
      // records), and every run re-reads suspects and a slice. Hourly runs still never overlap.
      timeout: Duration.minutes(15),
      // One writer of the state: the schedule never needs two, and a manual invoke during a run is
      // throttled and retried by Lambda's asynchronous queue (up to 6 h) instead of racing it (the
      // conditional PutObject would refuse the second writer, failing that run). Reserved
      // concurrency comes out of the account's unreserved pool, of which Lambda keeps 100: 1 is
      // nothing in an account at the default quota of 1,000, but an account still at a new
      // account's quota (10 or 50) cannot deploy it ("decreases account's
      // UnreservedConcurrentExecution below its minimum value"): raise the quota first. Set to 0 it
      // would stop the check: PutFunctionConcurrency pages (TrailFunctionChanged).
      reservedConcurrentExecutions: 1,
      environment,
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
    });
    this.fn.addToRolePolicy(readForReconcile('ReadTheCheckAttributes', props.table));
    this.fn.addToRolePolicy(
      // Both ARN forms of the group: the documented `log-group:NAME` and the `log-group:NAME:*` that
      // DescribeLogGroups and CloudFormation return.
      new iam.PolicyStatement({ sid: 'ReadTheAuditTrail', actions: ['logs:FilterLogEvents'], resources: [trail.groupArn, `${trail.groupArn}:*`] }),
    );
    acknowledge(role, trail.nagFinding(':*'), 'The audit log group itself, in the ARN form CloudWatch Logs uses for group-level actions (log-group:NAME:*).');
    if (baseline) {
      // The baseline's record of an item carries a digest of the whole item (docs/audit-record.md),
      // so this Scan cannot be held to the check's attributes: whole items, flag values included.
      this.fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ScanWholeItemsForTheBaseline', actions: ['dynamodb:Scan'], resources: [props.table.tableArn] }));
      // Its own streams of the audit group only (baseline/YYYY/MM/DD): never the audit function's.
      this.fn.addToRolePolicy(
        new iam.PolicyStatement({ sid: 'WriteBaselineRecords', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [`${trail.groupArn}:log-stream:${BASELINE_STREAM_PREFIX}*`] }),
      );
      acknowledge(role, trail.nagFinding(`:log-stream:${BASELINE_STREAM_PREFIX}*`), 'The baseline\'s log streams are named per UTC day under baseline/ in the audit group: the prefix is the narrowest fixed resource.');
      // Its seals are signed like the audit function's: by name in the seal key's policy.
      props.keys.grantSign(role, 'ReconcileSignsBaselineSeals');
    }
    new events.Rule(stack, 'ReconcileSchedule', {
      ruleName: `flagtrail-${stage}-reconcile`,
      schedule: events.Schedule.rate(Duration.hours(1)),
      targets: [new targets.LambdaFunction(this.fn, { retryAttempts: 0 })],
    });
    acknowledge(this.fn, 'AwsSolutions-L1', 'provided.al2023 is the current OS-only runtime for Rust bootstraps.');
  }
}

/** Scan TotalSegments: 1 to 1,000,000 (the runtime refuses anything else at start). */
function scanSegments(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new Error(`reconcileScanSegments must be a whole number from 1 to 1000000, not ${n}`);
  return n;
}

/** Read units per second: a whole number, 0 for unlimited. */
function readUnits(n: number): number {
  if (!Number.isInteger(n) || n < 0) throw new Error(`reconcileReadUnitsPerSecond must be a whole number >= 0 (0: unlimited), not ${n}`);
  return n;
}
