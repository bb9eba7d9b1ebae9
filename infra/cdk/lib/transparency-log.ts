// The transparency log of the audit seals (docs/integrity.md, "The transparency log", "The writer"):
// its single writer, the `log-writer` function, runs one round an hour — reads the seals in the
// audit group, appends the new ones under `log/` of the write-once archive (tiles, entry bundles,
// archived checkpoints created If-None-Match; the latest checkpoint replaced If-Match its ETag),
// and signs the checkpoint with a key of its own, which nobody else can sign with. With witnesses
// (`-c witnesses`), it has each cosign the checkpoint over C2SP tlog-witness; a witness in the
// auditors' account (witness.ts) is called through its Function URL with the writer's role.
import * as path from 'node:path';
import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import type { Archive } from './archive';
import type { AuditTrail } from './audit-trail';
import { accountKeyPolicy, SEAL_KEY_ACCOUNT_ACTIONS } from './keys';
import { acknowledge } from './nag';
import { parseVkey, VKEY_TYPES } from './signed-note';
import { FUNCTION_MEMORY_MB } from './stream-consumer';

/** Where the log lives in the archive (the runtime's default `FLAGTRAIL_LOG_PREFIX`). */
export const LOG_PREFIX = 'log/';

/** The one algorithm and message type checkpoints are signed with (Ed25519 over the checkpoint text). */
export const CHECKPOINT_SIGNING = { 'kms:SigningAlgorithm': 'ED25519_SHA_512', 'kms:MessageType': 'RAW' };

/**
 * What calling a Function URL with IAM auth takes, on both sides when the caller is in another
 * account: "Starting in October 2025, new function URLs will require both lambda:InvokeFunctionUrl
 * and lambda:InvokeFunction permissions", in the caller's identity-based policy and in the
 * function's resource-based policy (https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html,
 * "Using the AWS_IAM auth type"). Each held to the URL: InvokeFunctionUrl while the URL's AuthType
 * is AWS_IAM, InvokeFunction only through a function URL (not the Invoke API).
 */
export const FUNCTION_URL_INVOKE = {
  url: { action: 'lambda:InvokeFunctionUrl', condition: { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } } },
  invoke: { action: 'lambda:InvokeFunction', condition: { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } } },
} as const;

/** A Lambda Function URL's host: the writer signs its requests (SigV4, service lambda) for these. */
const FUNCTION_URL_HOST = /^[a-z0-9]+\.lambda-url\.[a-z0-9-]+\.on\.aws$/;
/** A whole, unqualified function ARN: the witness's (no wildcard, no version or alias). */
const FUNCTION_ARN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+$/;

/** The log's witnesses, as the writer gets them (`FLAGTRAIL_WITNESSES`) and may call them. */
export interface Witnesses {
  /** `URL VKEY` per witness, comma-separated: its submission prefix and its vkey (cosignature/v1). */
  readonly witnesses: string;
  /** The witnesses behind Function URLs with IAM auth (in the auditors' accounts): their functions' ARNs. */
  readonly functionArns?: string[];
}

/**
 * Checks `-c witnesses` and `-c witnessFunctionArns` together: every entry a `https://` URL and a
 * witness vkey, no witness twice; function ARNs whole and unqualified, given when (and only when)
 * a witness is behind a Function URL, whose requests need the writer's IAM permission.
 */
export function checkWitnesses(w: Witnesses): void {
  const entries = w.witnesses.split(',').map((e) => e.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error('-c witnesses: no witness (give "URL VKEY,…")');
  const urls = entries.map((entry) => {
    const [url, vkey, ...rest] = entry.split(/\s+/);
    if (!vkey || rest.length) throw new Error(`-c witnesses: ${JSON.stringify(entry)} is not "URL VKEY"`);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`-c witnesses: ${JSON.stringify(url)} is not a URL`);
    }
    if (parsed.protocol !== 'https:' || parsed.search || parsed.hash) throw new Error(`-c witnesses: ${JSON.stringify(url)}: an https:// submission prefix, without query or fragment`);
    parseVkey(vkey, VKEY_TYPES.witness, '-c witnesses');
    return parsed;
  });
  const names = entries.map((e) => e.split(/\s+/)[1].split('+')[0]);
  if (new Set(names).size !== names.length) throw new Error(`-c witnesses: a witness named twice (${names.join(', ')})`);
  const behindFunctionUrls = urls.filter((u) => FUNCTION_URL_HOST.test(u.hostname)).length;
  const arns = w.functionArns ?? [];
  for (const arn of arns) {
    if (!FUNCTION_ARN.test(arn)) throw new Error(`-c witnessFunctionArns: ${JSON.stringify(arn)} is not a whole, unqualified Lambda function ARN`);
  }
  if (behindFunctionUrls > 0 && arns.length === 0) throw new Error('-c witnesses names a Function URL (*.lambda-url.REGION.on.aws): give its function\'s ARN in -c witnessFunctionArns (the WitnessFunctionArn output of the witness stack)');
  if (arns.length > 0 && behindFunctionUrls === 0) throw new Error('-c witnessFunctionArns without a Function URL in -c witnesses: the writer would hold a permission it never uses');
}

/** Settings of the transparency log's writer. */
export interface TransparencyLogProps {
  readonly stage: string;
  readonly arch: lambda.Architecture;
  /** Directory holding `log-writer/bootstrap.zip`. */
  readonly assetDir: string;
  /** The trail whose seals it logs (read only). */
  readonly trail: AuditTrail;
  /** The write-once archive, under whose `log/` prefix the log lives. */
  readonly archive: Archive;
  /** The trail key: encrypts the archive (used through S3) and the function's log group. */
  readonly key: kms.IKey;
  /** The witnesses that cosign each checkpoint (docs/integrity.md); none: checkpoints signed by the log key only. */
  readonly witnesses?: Witnesses;
}

/** The checkpoint key, the log-writer function and its hourly schedule. */
export class TransparencyLog extends Construct {
  /** Signs checkpoints (Ed25519): Sign for the log writer's role alone, named in the key policy. */
  public readonly checkpointKey: kms.Key;
  /** The log's single writer. */
  public readonly fn: lambda.Function;
  /** Its role. */
  public readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: TransparencyLogProps) {
    super(scope, id);
    const { stage, trail, archive, key } = props;
    if (props.witnesses) checkWitnesses(props.witnesses);
    const bucket = archive.bucket;
    // In the stack's scope, as its other stateful resources (flagtrail-stack.ts).
    const stack = Stack.of(this);

    // As the seal key: the account administers it and reads its public half, never kms:Sign (no
    // IAM policy can grant it, and no kms:CreateGrant); the writer signs by name. A key apart from
    // the seal key: a holder of Sign on one (the audit function; reconcile taking the baseline)
    // cannot sign the other's messages. Ed25519 (ECC_NIST_EDWARDS25519, kms.KeySpec in this
    // aws-cdk-lib): a checkpoint is a C2SP signed note, whose signatures are Ed25519. Asymmetric
    // keys do not rotate; kept when the stack is deleted or the key replaced (old checkpoints stay
    // verifiable), a failed first deploy schedules its deletion.
    this.checkpointKey = new kms.Key(stack, 'CheckpointKey', {
      description: `flagtrail ${stage}: signs transparency log checkpoints`,
      keySpec: kms.KeySpec.ECC_NIST_EDWARDS25519,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
      policy: accountKeyPolicy('AccountAdministersTheKeyButCannotSign', SEAL_KEY_ACCOUNT_ACTIONS),
    });

    const logGroup = new logs.LogGroup(stack, 'LogWriterFunctionLogs', {
      logGroupName: `/aws/lambda/flagtrail-${stage}-log-writer`,
      retention: logs.RetentionDays.THREE_MONTHS,
      encryptionKey: key, // CloudWatch Logs uses it (the key policy's logs statement)
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Its own role: no AWS managed policy (AWSLambdaBasicExecutionRole would let it write any log group).
    const role = (this.role = new iam.Role(stack, 'LogWriterRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') }));
    trail.protect(role);
    role.addToPolicy(new iam.PolicyStatement({ sid: 'WriteOwnLogs', actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [logGroup.logGroupArn] }));
    acknowledge(role, `AwsSolutions-IAM5[Resource::<${stack.getLogicalId(logGroup.node.defaultChild as logs.CfnLogGroup)}.Arn>]`, 'The log group ARN ends in :* so it covers the function\'s own log streams: nothing wider.');

    // The seals: FilterLogEvents on the audit group (both ARN forms, as reconcile.ts).
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadTheSeals', actions: ['logs:FilterLogEvents'], resources: [trail.groupArn, `${trail.groupArn}:*`] }));
    acknowledge(role, trail.nagFinding(':*'), 'The audit log group itself, in the ARN form CloudWatch Logs uses for group-level actions (log-group:NAME:*).');

    // The log's objects: read, create and replace under log/ (conditional PutObject, a single
    // request: no multipart); never delete, retention or legal-hold changes, nor any other prefix.
    const bucketId = stack.getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
    const objects = bucket.arnForObjects(`${LOG_PREFIX}*`);
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadAndWriteTheLog', actions: ['s3:GetObject', 's3:PutObject'], resources: [objects] }));
    // ListBucket: the round lists `log/checkpoints/` (the archived checkpoints' sizes and times) to
    // know from which bundle the trail's window can hold logged seals, and S3 answers a missing
    // object (the first round's checkpoint) with 404 NoSuchKey, not 403, only to a role that may
    // list (tlog_writer.rs). Not held to `s3:prefix`: the 404 check is S3's own on GetObject, whose
    // request carries no prefix to match, so under such a condition the first round would fail.
    // It lists key names of the archive (delivery times), which the auditors list too; no contents.
    role.addToPolicy(new iam.PolicyStatement({ sid: 'FindTheLog', actions: ['s3:ListBucket'], resources: [bucket.bucketArn] }));
    // The archive's encryption: the trail key through S3, for this bucket only (its encryption
    // context: with the Bucket Key the bucket's ARN, without one the object's), as reconcile-state.ts.
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'EncryptTheLog',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: [key.keyArn],
        conditions: {
          StringEquals: { 'kms:ViaService': `s3.${stack.region}.amazonaws.com` },
          StringLike: { 'kms:EncryptionContext:aws:s3:arn': [bucket.bucketArn, objects] },
        },
      }),
    );
    acknowledge(role, `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${LOG_PREFIX}*]`, 'The log\'s tiles, entry bundles and checkpoints under its prefix of the archive: the runtime names them (FLAGTRAIL_LOG_PREFIX).');
    archive.admitLogWriter(role, LOG_PREFIX);

    // Sign, named in the key policy, for Ed25519 over the raw checkpoint text only; GetPublicKey
    // (the runtime checks the key's spec and verifies what it signed) through the account's statement.
    this.checkpointKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'LogWriterSignsCheckpoints',
        principals: [role],
        actions: ['kms:Sign'],
        resources: ['*'], // in a key policy "*" means this key
        conditions: { StringEquals: CHECKPOINT_SIGNING },
      }),
    );
    role.addToPolicy(new iam.PolicyStatement({ sid: 'ReadTheCheckpointPublicKey', actions: ['kms:GetPublicKey'], resources: [this.checkpointKey.keyArn] }));

    this.fn = new lambda.Function(stack, 'LogWriterFunction', {
      functionName: `flagtrail-${stage}-log-writer`,
      role,
      runtime: lambda.Runtime.PROVIDED_AL2023,
      architecture: props.arch,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(path.join(props.assetDir, 'log-writer', 'bootstrap.zip')),
      memorySize: FUNCTION_MEMORY_MB,
      // A round reads the trail's seals (paced FilterLogEvents) and writes a few objects.
      timeout: Duration.minutes(5),
      // The single writer: a manual invoke during a round is throttled and retried by Lambda's
      // asynchronous queue instead of racing it (the conditional writes would refuse the second
      // writer, failing that round). Out of the account's unreserved pool, like reconcile's (the
      // README: a concurrency quota above 100). Set to 0 it stops the log: PutFunctionConcurrency
      // pages (TrailFunctionChanged).
      reservedConcurrentExecutions: 1,
      environment: {
        FLAGTRAIL_METRICS_NAMESPACE: 'Flagtrail',
        FLAGTRAIL_AUDIT_LOG_GROUP: trail.logGroup.logGroupName,
        FLAGTRAIL_LOG_BUCKET: bucket.bucketName,
        FLAGTRAIL_LOG_PREFIX: LOG_PREFIX,
        FLAGTRAIL_CHECKPOINT_KEY_ID: this.checkpointKey.keyArn,
        FLAGTRAIL_LOG_ORIGIN: `flagtrail/${stage}/seals`,
        ...(props.witnesses ? { FLAGTRAIL_WITNESSES: props.witnesses.witnesses.split(',').map((e) => e.trim().split(/\s+/).join(' ')).filter(Boolean).join(',') } : {}),
      },
      logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
    });
    // The cadence of checkpoints: a round an hour (one with nothing new still cosigns a checkpoint).
    // No retry: the next hour's round picks up where a failed one stopped; LogWriterErrors pages.
    new events.Rule(stack, 'LogWriterSchedule', {
      ruleName: `flagtrail-${stage}-log-writer`,
      schedule: events.Schedule.rate(Duration.hours(1)),
      targets: [new targets.LambdaFunction(this.fn, { retryAttempts: 0 })],
    });
    acknowledge(this.fn, 'AwsSolutions-L1', 'provided.al2023 is the current OS-only runtime for Rust bootstraps.');

    // The witnesses behind Function URLs with IAM auth, in the auditors' accounts: the identity half
    // of what such a call takes (FUNCTION_URL_INVOKE; the witness stack's function policy names
    // this role for the other half), on those functions alone. Nothing without the context.
    const arns = props.witnesses?.functionArns ?? [];
    if (arns.length) {
      role.addToPolicy(new iam.PolicyStatement({ sid: 'SubmitCheckpointsToWitnesses', actions: [FUNCTION_URL_INVOKE.url.action], resources: arns, conditions: FUNCTION_URL_INVOKE.url.condition }));
      role.addToPolicy(new iam.PolicyStatement({ sid: 'InvokeWitnessesThroughTheirUrls', actions: [FUNCTION_URL_INVOKE.invoke.action], resources: arns, conditions: FUNCTION_URL_INVOKE.invoke.condition }));
    }
  }

  /** Lets `role` (the auditors') read the checkpoint key's public half and verify, named in the key policy. */
  public grantVerify(role: iam.IRole): void {
    this.checkpointKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AuditorsReadThePublicKey',
        principals: [role],
        actions: ['kms:GetPublicKey', 'kms:DescribeKey', 'kms:Verify'],
        resources: ['*'],
      }),
    );
  }
}
