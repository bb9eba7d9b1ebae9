// A C2SP tlog-witness (docs/integrity.md, "A witness in the auditors' account"): deployed by the
// auditors in their own AWS account, it cosigns a checkpoint of the log it knows only when the log
// key signed it and a consistency proof shows it extends the last checkpoint it cosigned — so a log
// rebuilt, cut back or forked by whoever holds the log owner's account lacks its cosignature. The
// `witness` function serves `POST <prefix>/add-checkpoint` on a Function URL with IAM auth, which
// only the log writer's role (in the log owner's account) may call; it signs with a key of its
// own, which nobody else can sign with, and keeps the latest size per log in a table.
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subs from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { accountKeyPolicy, SEAL_KEY_ACCOUNT_ACTIONS } from './keys';
import { acknowledge } from './nag';
import { checkKeyName, parseVkey, VKEY_TYPES } from './signed-note';
import { FUNCTION_MEMORY_MB } from './stream-consumer';
import { CHECKPOINT_SIGNING, FUNCTION_URL_INVOKE } from './transparency-log';

/** What the witness does to its state: read a log's latest size, then a conditional write (the atomic check-and-update C2SP requires). */
export const WITNESS_STATE_ACTIONS = ['dynamodb:GetItem', 'dynamodb:PutItem'];

/** An IAM role ARN, whole (no wildcard, no path trickery): the log writer's. */
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;

/** Settings of the witness. */
export interface WitnessProps {
  readonly stage: string;
  readonly arch: lambda.Architecture;
  /** Directory holding `witness/bootstrap.zip`. */
  readonly assetDir: string;
  /** The vkeys of the logs it witnesses (their checkpoint keys: `origin+keyid+base64`, type Ed25519). */
  readonly logVkeys: string[];
  /** The roles that may submit checkpoints (the log writers' roles, in the log owners' accounts). */
  readonly logWriterRoleArns: string[];
  /** The witness's key name on its cosignature lines (default `flagtrail-witness/<stage>`). */
  readonly name?: string;
  /** Receives the witness's alarms (confirm the subscription once). */
  readonly alertEmail?: string;
}

/** The witness key, its state table, the function with its Function URL, and its alarm. */
export class Witness extends Construct {
  /** Signs cosignatures (Ed25519): Sign for the witness function's role alone, named in the key policy. */
  public readonly key: kms.Key;
  /** The latest cosigned checkpoint per log origin (partition key `origin`). */
  public readonly table: dynamodb.Table;
  /** The witness function. */
  public readonly fn: lambda.Function;
  /** Its role. */
  public readonly role: iam.Role;
  /** Its Function URL (IAM auth): the submission prefix the log writer is given. */
  public readonly url: lambda.FunctionUrl;
  /** The name on its cosignature lines (its vkey's name). */
  public readonly name: string;
  /** Where its alarm goes. */
  public readonly alarmTopic: sns.Topic;

  constructor(scope: Construct, id: string, props: WitnessProps) {
    super(scope, id);
    const { stage } = props;
    // In the stack's scope, as the main stack's stateful resources (flagtrail-stack.ts): their
    // logical IDs do not depend on this construct's id (witness.test.ts pins them).
    const stack = Stack.of(this);
    if (props.logVkeys.length === 0) throw new Error('-c logVkey=…: the vkey of the log to witness is required (its checkpoint key; docs/integrity.md)');
    const origins = props.logVkeys.map((v) => parseVkey(v, VKEY_TYPES.log, '-c logVkey').name);
    if (new Set(origins).size !== origins.length) throw new Error(`-c logVkey: two keys of one origin (${origins.join(', ')}): give each log once`);
    if (props.logWriterRoleArns.length === 0) throw new Error('-c logWriterRoleArn=…: the log writer role that may submit checkpoints is required (the main stack\'s LogWriterRoleArn output)');
    for (const arn of props.logWriterRoleArns) {
      if (!ROLE_ARN.test(arn)) throw new Error(`-c logWriterRoleArn: ${JSON.stringify(arn)} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)`);
    }
    this.name = checkKeyName(props.name ?? `flagtrail-witness/${stage}`, '-c witnessName');

    // As the checkpoint key (transparency-log.ts): the account administers it and reads its public
    // half, never kms:Sign (no IAM policy can grant it, and no kms:CreateGrant); the witness
    // function signs by name. Ed25519: a cosignature/v1 is an Ed25519 signature. Kept when the
    // stack is deleted or the key replaced (the cosignatures it made stay verifiable, and a new key
    // is a new witness every verifier must be told about); a failed first deploy schedules its deletion.
    this.key = new kms.Key(stack, 'WitnessKey', {
      description: `flagtrail ${stage}: signs the witness's checkpoint cosignatures`,
      keySpec: kms.KeySpec.ECC_NIST_EDWARDS25519,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
      policy: accountKeyPolicy('AccountAdministersTheKeyButCannotSign', SEAL_KEY_ACCOUNT_ACTIONS),
    });

    // The witness's memory: per origin, the size and root of the last checkpoint it cosigned. Lose
    // it and the witness would cosign whatever it is shown next, a rolled-back log included: point-
    // in-time recovery, deletion protection, retained with the stack, and a fixed name, so that a
    // re-created stack fails on the name instead of starting from nothing (docs/integrity.md). The
    // AWS managed key: the items are sizes and roots of checkpoints the log publishes anyway.
    this.table = new dynamodb.Table(stack, 'WitnessTable', {
      tableName: `flagtrail-${stage}-witness`,
      partitionKey: { name: 'origin', type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    const logGroup = new logs.LogGroup(stack, 'WitnessFunctionLogs', {
      logGroupName: `/aws/lambda/flagtrail-${stage}-witness`,
      retention: logs.RetentionDays.ONE_YEAR,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role: no AWS managed policy (AWSLambdaBasicExecutionRole would let it write any log group).
    const role = (this.role = new iam.Role(stack, 'WitnessRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') }));
    role.addToPolicy(new iam.PolicyStatement({ sid: 'WriteOwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    acknowledge(role, `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(logGroup.node.defaultChild as logs.CfnLogGroup)}.Arn>]`, 'The log group ARN ends in :* so it covers the function\'s own log streams: nothing wider.');
    // GetItem, and PutItem (conditional on the size it read: the check-and-update is atomic), on
    // this table alone: no Scan, Query, UpdateItem, DeleteItem or batch, no index.
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadAndAdvanceTheWitnessState', actions: WITNESS_STATE_ACTIONS, resources: [this.table.tableArn] }));

    // Sign, named in the key policy, for Ed25519 over the raw cosigned message only; GetPublicKey
    // (once at cold start: its vkey and a check of the key's spec) through the account's statement.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'WitnessSignsCosignatures',
        principals: [role],
        actions: ['kms:Sign'],
        resources: ['*'], // in a key policy "*" means this key
        conditions: { StringEquals: CHECKPOINT_SIGNING },
      }),
    );
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadTheWitnessPublicKey', actions: ['kms:GetPublicKey'], resources: [this.key.keyArn] }));

    this.fn = new lambda.Function(stack, 'WitnessFunction', {
      functionName: `flagtrail-${stage}-witness`,
      role,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: props.arch,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(path.join(props.assetDir, 'witness', 'bootstrap.zip')),
      memorySize: FUNCTION_MEMORY_MB,
      // One GetItem, one Sign, one conditional PutItem (and GetPublicKey at cold start).
      timeout: Duration.seconds(10),
      // A cost cap, not a correctness need: the conditional PutItem makes the check-and-update
      // atomic however many run at once (C2SP tlog-witness), and a log writer submits one
      // checkpoint an hour. Beyond 2, a caller gets 429 (Function URL throttling) and retries.
      reservedConcurrentExecutions: 2,
      environment: {
        FLAGTRAIL_WITNESS_KEY_ID: this.key.keyArn,
        FLAGTRAIL_WITNESS_NAME: this.name,
        FLAGTRAIL_WITNESS_LOG_KEYS: props.logVkeys.map((v) => v.trim()).join(','),
        FLAGTRAIL_WITNESS_TABLE: this.table.tableName,
      },
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
    });
    acknowledge(this.fn, 'AwsSolutions-L1', 'provided.al2023 is the current OS-only runtime for Rust bootstraps.');

    // IAM auth: every request is SigV4-signed and authorized against the caller's own policy and
    // this function's resource policy (admitLogWriter); no public access.
    this.url = this.fn.addFunctionUrl({ authType: lambda.FunctionUrlAuthType.AWS_IAM });
    props.logWriterRoleArns.forEach((arn, i) => this.admitLogWriter(arn, i));

    this.alarmTopic = new sns.Topic(stack, 'WitnessAlarmTopic', { topicName: `flagtrail-${stage}-witness-alarms`, enforceSSL: true });
    acknowledge(this.alarmTopic, 'AwsSolutions-SNS2', 'As the main stack\'s alarm topic: an alarm must not depend on a KMS key that can be disabled; the topic carries alarm states, nothing secret; TLS-only.');
    if (props.alertEmail) this.alarmTopic.addSubscription(new subs.EmailSubscription(props.alertEmail));
    // A request that failed: the log's checkpoint of this hour goes uncosigned by this witness (and
    // the writer's round fails). The function answers its own failures (KMS, DynamoDB) with a 500 or
    // 503, which Lambda counts as Url5xxCount, not Errors; a crash or a timeout is both ("5XX series
    // codes indicate server-side errors, such as function errors and timeouts":
    // https://docs.aws.amazon.com/lambda/latest/dg/urls-monitoring.html). A refusal (403, 404, 409,
    // 422) is an answer, not an error.
    const period = Duration.minutes(5);
    const alarm = new cloudwatch.Alarm(stack, 'WitnessErrors', {
      alarmName: `flagtrail-${stage}-WitnessErrors`,
      alarmDescription: 'The witness failed a request (a 5xx answer or a function error; see its function log): the log\'s checkpoint was not cosigned.',
      metric: new cloudwatch.MathExpression({
        expression: 'FILL(errors, 0) + FILL(url5xx, 0)',
        usingMetrics: {
          errors: this.fn.metricErrors({ period }),
          url5xx: this.fn.metric('Url5xxCount', { statistic: 'Sum', period }),
        },
        period,
        label: 'failed requests',
      }),
      threshold: 0,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(new cwActions.SnsAction(this.alarmTopic));
  }

  /**
   * Lets the role `arn` (a log writer, in another account) call the Function URL, and nothing else.
   *
   * "Starting in October 2025, new function URLs will require both lambda:InvokeFunctionUrl and
   * lambda:InvokeFunction permissions", and a caller in another account needs them both in its
   * own identity-based policy and in the function's resource-based policy
   * (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html, "Control access to Lambda
   * function URLs", "Using the AWS_IAM auth type"). Here, the resource-based half: InvokeFunctionUrl
   * only while the URL's AuthType is AWS_IAM (AddPermission's FunctionUrlAuthType), and
   * InvokeFunction only through the URL (its InvokedViaFunctionUrl, the condition key
   * lambda:InvokedViaFunctionUrl): the role cannot call the Invoke API on the witness directly.
   * The identity half is the log writer's (transparency-log.ts, `witnessFunctionArns`).
   */
  private admitLogWriter(arn: string, i: number): void {
    const principal = new iam.ArnPrincipal(arn);
    this.fn.addPermission(`LogWriterCallsTheUrl${i}`, { principal, action: FUNCTION_URL_INVOKE.url.action, functionUrlAuthType: lambda.FunctionUrlAuthType.AWS_IAM });
    this.fn.addPermission(`LogWriterInvokesThroughTheUrl${i}`, { principal, action: FUNCTION_URL_INVOKE.invoke.action, invokedViaFunctionUrl: true });
  }
}
