// The audit trail: the audit log group auditors query (encrypted, retained, optionally masked), the
// audit function that writes and seals it from the stream, and what no role of the stack may do to it.
import { ArnFormat, Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { TrailKeys } from './keys';
import { acknowledge } from './nag';
import { ConsumerSettings, StreamConsumer } from './stream-consumer';

/** Settings of the audit trail. */
export interface AuditTrailProps {
  readonly stage: string;
  /** The keys: the trail key encrypts the group, the seal key signs its seals. */
  readonly keys: TrailKeys;
  /** Audit log retention; default one year (auditors usually need at least that). */
  readonly retention?: logs.RetentionDays;
  /** Attach a CloudWatch Logs data-protection policy (masks e-mail addresses) to the group. */
  readonly dataProtection?: boolean;
  /** What the audit function shares with the other stream consumer. */
  readonly consumer: ConsumerSettings;
}

/** What no role of the stack may do to the audit group, and what pages on-call when anyone does. */
export const AUDIT_GROUP_PROTECTIONS = [
  'DeleteLogGroup', 'DeleteLogStream', 'PutRetentionPolicy', 'DeleteRetentionPolicy', 'DisassociateKmsKey', 'AssociateKmsKey',
  'DeleteDataProtectionPolicy', 'PutDataProtectionPolicy', 'DeleteSubscriptionFilter', 'PutSubscriptionFilter',
];

/** The audit log group and the audit function that writes and seals it. */
export class AuditTrail extends Construct {
  /** The audit log group. */
  public readonly logGroup: logs.LogGroup;
  /**
   * The group's ARN built from its name: the `logGroupArn` token ends in ":*" and cannot be
   * edited as a string (the old "strip :*" produced "...:audit:*:log-stream:*", matching nothing).
   */
  public readonly groupArn: string;
  /** The audit function and its mapping (every record, from TRIM_HORIZON). */
  public readonly audit: StreamConsumer;

  constructor(scope: Construct, id: string, props: AuditTrailProps) {
    super(scope, id);
    // In the stack's scope: the logical IDs predate this construct (flagtrail-stack.ts).
    const stack = Stack.of(this);
    const retention = props.retention ?? logs.RetentionDays.ONE_YEAR;
    this.logGroup = new logs.LogGroup(stack, 'AuditLogGroup', {
      logGroupName: `/flagtrail/${props.stage}/audit`,
      retention,
      encryptionKey: props.keys.key,
      // The trail outlives the stack; a failed first deploy deletes it on rollback (RetainExceptOnCreate;
      // the retry's mapping replays the stream's 24 h from TRIM_HORIZON), so the retry does not
      // fail on a group of the same name that "already exists".
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
      dataProtectionPolicy: props.dataProtection
        ? new logs.DataProtectionPolicy({ identifiers: [logs.DataIdentifier.EMAILADDRESS] })
        : undefined,
    });
    this.groupArn = stack.formatArn({ service: 'logs', resource: 'log-group', resourceName: this.logGroup.logGroupName, arnFormat: ArnFormat.COLON_RESOURCE_NAME });

    this.audit = new StreamConsumer(this, 'Audit', {
      name: 'Audit',
      settings: props.consumer,
      trail: this,
      // Nobody waits on the trail within a second; gathering for 1 s means fewer invocations,
      // PutLogEvents calls and seals when changes trickle in.
      batchingWindow: Duration.seconds(1),
      // The trail misses nothing the stream still holds (24 h) when the mapping is created;
      // what changed before that is the completeness baseline's job (issue 19).
      startingPosition: lambda.StartingPosition.TRIM_HORIZON,
      environment: {
        FLAGTRAIL_AUDIT_LOG_GROUP: this.logGroup.logGroupName,
        FLAGTRAIL_AUDIT_STREAM_PREFIX: 'audit/',
        // CloudWatch Logs rejects events older than the group's retention: the function keeps
        // timestamps inside it (the record keeps the true time in changedAt).
        ...(retention === logs.RetentionDays.INFINITE ? {} : { FLAGTRAIL_AUDIT_RETENTION_DAYS: String(retention) }),
        FLAGTRAIL_SEAL_KEY_ID: props.keys.sealKey.keyArn,
      },
      // Everything is audited: no filter.
      filters: undefined,
    });
    const role = this.audit.fn.role as iam.Role;
    acknowledge(role, this.nagFinding(':log-stream:*'), 'Log streams are named per UTC day inside the one audit log group: the group is the narrowest fixed resource.');
    this.audit.fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'WriteAuditTrail',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [`${this.groupArn}:log-stream:*`],
      }),
    );
    props.keys.grantSign(role, 'AuditFunctionSignsSeals');
  }

  /**
   * Nobody in the stack deletes the audit trail or shortens its retention: only a stack update
   * (CloudFormation with the deploy role) can. An explicit Deny wins over any Allow a role may get later.
   */
  public protect(role: iam.Role): void {
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'NeverDeleteOrShortenTheAuditTrail',
        effect: iam.Effect.DENY,
        actions: AUDIT_GROUP_PROTECTIONS.map((a) => `logs:${a}`),
        resources: [this.groupArn, `${this.groupArn}:*`],
      }),
    );
  }

  /** The cdk-nag finding id of a wildcard resource `<audit group ARN><suffix>`. */
  public nagFinding(suffix: string): string {
    const stack = Stack.of(this);
    const token = (v: string, pseudo: string) => (Token.isUnresolved(v) ? `<AWS::${pseudo}>` : v);
    const logicalId = stack.getLogicalId(this.logGroup.node.defaultChild as logs.CfnLogGroup);
    return `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:${token(stack.region, 'Region')}:${token(stack.account, 'AccountId')}:log-group:<${logicalId}>${suffix}]`;
  }
}
