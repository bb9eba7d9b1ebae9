// One reader of the flag table's stream (audit, notify): its function, log group, role and event
// source mapping, alike but for their code, variables, batching and starting position.
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { AuditTrail } from './audit-trail';
import type { FailureDestination } from './failure-destination';
import { acknowledge } from './nag';

/**
 * Sized from measurement (scripts/invoke-bootstrap.py on the release bootstraps): a 7.1 MB batch of
 * 4,400 realistic records peaks at 52 MiB RSS in `audit` (0.56 s) and 39 MiB in `notify`. 256 MB
 * leaves room and buys CPU share (Lambda scales CPU with memory); 128 MB would also fit.
 */
export const FUNCTION_MEMORY_MB = 256;
const FUNCTION_TIMEOUT = Duration.seconds(60);

/**
 * How old a stream record may get before its mapping gives up on it and the batch goes to the
 * failure destination (which pages, DiscardedBatches). The completeness check's grace period
 * derives from it (reconcile.ts `RECONCILE_GRACE`): a change may reach the trail this late.
 */
export const MAX_RECORD_AGE = Duration.hours(6);

/** What the stage's stream consumers share. */
export interface ConsumerSettings {
  /** Stage name: functions are `flagtrail-{stage}-{name}`. */
  readonly stage: string;
  /** Architecture the bootstraps were built for. */
  readonly arch: lambda.Architecture;
  /** Directory holding `{name}/bootstrap.zip`. */
  readonly assetDir: string;
  /** The flag table's stream. */
  readonly streamArn: string;
  /** Where a mapping puts the batches it discards. */
  readonly failures: FailureDestination;
  /** The trail key: encrypts the functions' log groups (errors can quote flag keys and actors). */
  readonly key: kms.IKey;
  /** Variables every function reads (metrics namespace, production environments, redaction, log format). */
  readonly environment: Record<string, string>;
}

/** Settings of one consumer. */
export interface StreamConsumerProps {
  /** `Audit` or `Notify`: construct ids, the function name and the asset directory derive from it. */
  readonly name: string;
  readonly settings: ConsumerSettings;
  /** The audit trail, which no consumer may delete or shorten. */
  readonly trail: AuditTrail;
  /** This function's own variables, beside the shared ones. */
  readonly environment: Record<string, string>;
  readonly batchingWindow: Duration;
  readonly startingPosition: lambda.StartingPosition;
  /** Event filters of the mapping; none: every record. */
  readonly filters?: Array<{ [k: string]: unknown }>;
}

/** A stream consumer: function, log group, role and event source mapping. */
export class StreamConsumer extends Construct {
  /** `Audit` or `Notify`. */
  public readonly name: string;
  public readonly fn: lambda.Function;
  public readonly mapping: lambda.EventSourceMapping;

  constructor(scope: Construct, id: string, props: StreamConsumerProps) {
    super(scope, id);
    const { name, settings: o } = props;
    this.name = name;
    // In the stack's scope: the logical IDs predate this construct (flagtrail-stack.ts).
    const stack = Stack.of(this);
    const logGroup = new logs.LogGroup(stack, `${name}FunctionLogs`, {
      logGroupName: `/aws/lambda/flagtrail-${o.stage}-${name.toLowerCase()}`,
      retention: logs.RetentionDays.THREE_MONTHS,
      // CloudWatch Logs encrypts and decrypts it itself (the key policy's logs statement covers the
      // account's groups): neither the function nor a reader needs a kms permission for it.
      encryptionKey: o.key,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role with exactly what it needs. Not AWSLambdaBasicExecutionRole: that grants
    // logs:CreateLogStream/PutLogEvents on "*", i.e. the right to write forged records into the
    // audit log group (or any group).
    const role = new iam.Role(stack, `${name}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
    role.addToPolicy(new iam.PolicyStatement({ sid: 'WriteOwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    props.trail.protect(role);
    this.fn = new lambda.Function(stack, `${name}Function`, {
      functionName: `flagtrail-${o.stage}-${name.toLowerCase()}`,
      role,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: o.arch,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(path.join(o.assetDir, name.toLowerCase(), 'bootstrap.zip')),
      memorySize: FUNCTION_MEMORY_MB,
      timeout: FUNCTION_TIMEOUT,
      environment: { ...o.environment, ...props.environment },
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      tracing: lambda.Tracing.ACTIVE,
    });
    this.mapping = new lambda.EventSourceMapping(stack, `${name}StreamMapping`, {
      target: this.fn,
      eventSourceArn: o.streamArn,
      startingPosition: props.startingPosition,
      batchSize: 1000,
      maxBatchingWindow: props.batchingWindow,
      reportBatchItemFailures: true,
      bisectBatchOnError: true,
      retryAttempts: 10,
      maxRecordAge: MAX_RECORD_AGE,
      onFailure: o.failures.destination(),
      filters: props.filters,
    });
    this.fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'ReadTheFlagTableStream',
        actions: ['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator'],
        resources: [o.streamArn],
      }),
    );
    this.fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'ListTheStreams', actions: ['dynamodb:ListStreams'], resources: ['*'] }));
    acknowledge(this.fn, 'AwsSolutions-L1', 'provided.al2023 is the current OS-only runtime for Rust bootstraps.');
    acknowledge(role, 'AwsSolutions-IAM5[Resource::*]', 'dynamodb:ListStreams and X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions: AWS offers nothing narrower.');
  }
}
