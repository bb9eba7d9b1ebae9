// The stack's two customer-managed keys: the trail key (the stack's log groups, alert and invalidation
// topics, the archive and failure buckets) and the asymmetric key that signs seals (docs/integrity.md).
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

/** Settings of the keys. */
export interface TrailKeysProps {
  /** Stage name (in the keys' descriptions). */
  readonly stage: string;
}

/** The trail key and the seal key, with key policies that name every action (no "kms:*"). */
export class TrailKeys extends Construct {
  /** Encrypts the stack's log groups, the alert and invalidation topics, the archive and failure buckets; rotated yearly. */
  public readonly key: kms.Key;
  /** Signs seals: Sign for the roles named by `grantSign` only (the audit function; the reconcile function when it takes the baseline), never for the account. */
  public readonly sealKey: kms.Key;

  constructor(scope: Construct, id: string, props: TrailKeysProps) {
    super(scope, id);
    // In the stack's scope: the logical IDs predate this construct (flagtrail-stack.ts).
    const stack = Stack.of(this);
    // The account may administer and use the trail key through IAM.
    this.key = new kms.Key(stack, 'Key', {
      description: `flagtrail ${props.stage}: audit log group and topics`,
      enableKeyRotation: true,
      // Kept when the stack is deleted or the key replaced; a failed first deploy schedules its deletion.
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
      policy: accountKeyPolicy('AccountAdministersAndUsesTheKeyThroughIam', KEY_ACCOUNT_ACTIONS),
    });
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsUseOfTheKey',
        principals: [new iam.ServicePrincipal(`logs.${stack.region}.amazonaws.com`)],
        actions: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:GenerateDataKey', 'kms:DescribeKey'],
        resources: ['*'], // in a key policy "*" means this key
        conditions: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': `arn:${stack.partition}:logs:${stack.region}:${stack.account}:log-group:*` } },
      }),
    );
    // The account administers the seal key and reads its public half, never kms:Sign: no IAM
    // policy can then grant Sign to anyone; the audit function (and, taking the baseline, the
    // reconcile function) gets it by name (grantSign).
    // Asymmetric keys do not rotate automatically: rotation is a new key and FLAGTRAIL_SEAL_KEY_ID
    // (docs/integrity.md).
    this.sealKey = new kms.Key(stack, 'SealKey', {
      description: `flagtrail ${props.stage}: signs audit trail seals`,
      keySpec: kms.KeySpec.ECC_NIST_P256,
      keyUsage: kms.KeyUsage.SIGN_VERIFY,
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE, // old seals stay verifiable
      policy: accountKeyPolicy('AccountAdministersTheKeyButCannotSign', SEAL_KEY_ACCOUNT_ACTIONS),
    });
  }

  /** Lets `role` (the auditors') read the seal key's public half and verify, named in the key policy. */
  public grantVerify(role: iam.IRole): void {
    this.sealKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AuditorsReadThePublicKey',
        principals: [role],
        actions: ['kms:GetPublicKey', 'kms:DescribeKey', 'kms:Verify'],
        resources: ['*'],
      }),
    );
  }

  /**
   * Sign for `role` only, named in the key policy (the account cannot delegate it), for the one
   * algorithm and message type seals use. `sid` names the signer in the policy (a key policy's
   * statement ids are unique): the audit function, and the reconcile function when it takes the
   * baseline (reconcile.ts).
   */
  public grantSign(role: iam.IRole, sid: string): void {
    this.sealKey.addToResourcePolicy(
      new iam.PolicyStatement({
        sid,
        principals: [role],
        actions: ['kms:Sign'],
        resources: ['*'],
        conditions: { StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'RAW' } },
      }),
    );
  }
}

/** A key policy naming every action the account may take on the key through IAM (no "kms:*"). */
export function accountKeyPolicy(sid: string, actions: string[]): iam.PolicyDocument {
  return new iam.PolicyDocument({
    statements: [
      new iam.PolicyStatement({
        sid,
        principals: [new iam.AccountRootPrincipal()],
        actions,
        resources: ['*'], // in a key policy "*" means this key
      }),
    ],
  });
}

/**
 * What the account may do with a signing key (the seal key; the checkpoint key of
 * transparency-log.ts) through IAM: administer it and read its public half. Not kms:Sign (only the
 * roles named in the key's policy have it), nor kms:CreateGrant. PutKeyPolicy stays (a key nobody can
 * administer is locked out for good): an administrator could grant Sign by rewriting the policy,
 * which CloudTrail records (docs/integrity.md, key compromise).
 */
export const SEAL_KEY_ACCOUNT_ACTIONS = [
  'kms:CancelKeyDeletion', 'kms:CreateAlias', 'kms:DeleteAlias', 'kms:DescribeKey', 'kms:DisableKey', 'kms:EnableKey',
  'kms:GetKeyPolicy', 'kms:GetPublicKey', 'kms:ListAliases', 'kms:ListResourceTags', 'kms:PutKeyPolicy',
  'kms:ScheduleKeyDeletion', 'kms:TagResource', 'kms:UntagResource', 'kms:UpdateAlias', 'kms:UpdateKeyDescription', 'kms:Verify',
];

/** What the account may do with the trail key through IAM, spelled out. */
const KEY_ACCOUNT_ACTIONS = [
  'kms:CancelKeyDeletion', 'kms:CreateAlias', 'kms:CreateGrant', 'kms:Decrypt', 'kms:DeleteAlias', 'kms:DescribeKey',
  'kms:DisableKey', 'kms:DisableKeyRotation', 'kms:EnableKey', 'kms:EnableKeyRotation', 'kms:Encrypt',
  'kms:GenerateDataKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:GetKeyPolicy', 'kms:GetKeyRotationStatus',
  'kms:ListAliases', 'kms:ListGrants', 'kms:ListKeyRotations', 'kms:ListResourceTags', 'kms:PutKeyPolicy',
  'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:RetireGrant', 'kms:RevokeGrant', 'kms:RotateKeyOnDemand',
  'kms:ScheduleKeyDeletion', 'kms:TagResource', 'kms:UntagResource', 'kms:UpdateAlias', 'kms:UpdateKeyDescription',
];
