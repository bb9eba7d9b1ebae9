#!/usr/bin/env node
// One stack per stage: `cdk synth -c stage=prod -c tableName=feature-flags-prod -c tableStreamArn=arn:…`.
// With `-c witness=true`, the witness stack alone, for the auditors' account:
// `cdk deploy -c witness=true -c stage=prod -c logVkey=… -c logWriterRoleArn=…` (docs/integrity.md).
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FlagtrailDeployStack } from '../lib/deploy-stack';
import { FlagtrailStack } from '../lib/flagtrail-stack';
import { WitnessStack } from '../lib/witness-stack';

const app = new App();
const ctx = (k: string): string | undefined => {
  const v = app.node.tryGetContext(k);
  return v === undefined || v === '' ? undefined : String(v);
};
const stage = ctx('stage') ?? 'dev';
function externalAuditor(accountId?: string, externalId?: string) {
  if (!accountId && !externalId) return undefined;
  if (!accountId || !externalId) throw new Error('give both -c auditorAccountId=… and -c auditorExternalId=… (the external id is required for an external account)');
  return { accountId, externalId };
}
const list = (k: string) => ctx(k)?.split(',').map((s) => s.trim()).filter(Boolean);
/** A true/false flag; absent: the stack's default. A typo is refused rather than read as false. */
function flag(k: string): boolean | undefined {
  const v = ctx(k);
  if (v === undefined) return undefined;
  if (v !== 'true' && v !== 'false') throw new Error(`-c ${k}=${v}: give true or false`);
  return v === 'true';
}
const num = (k: string) => (ctx(k) === undefined ? undefined : Number(ctx(k)));

const assetDir = ctx('assetDir') ?? path.join(__dirname, '..', '..', '..', 'target', 'lambda');
const architecture = ctx('architecture') === 'arm64' ? 'arm64' : 'x86_64';

/** The log's witnesses (`-c witnesses="URL VKEY,…" [-c witnessFunctionArns=ARN,…]`); none without the context. */
function witnesses() {
  const arns = list('witnessFunctionArns');
  if (!ctx('witnesses')) {
    if (arns?.length) throw new Error('-c witnessFunctionArns needs -c witnesses="URL VKEY,…" (docs/integrity.md)');
    return undefined;
  }
  return { witnesses: ctx('witnesses')!, functionArns: arns };
}

if (flag('witness')) {
  // The auditors' account: the witness alone, none of the log owner's stacks.
  new WitnessStack(app, `FlagtrailWitness-${stage}`, {
    stage,
    assetDir,
    architecture,
    logVkeys: list('logVkey') ?? [],
    logWriterRoleArns: list('logWriterRoleArn') ?? [],
    witnessName: ctx('witnessName'),
    alertEmail: ctx('alertEmail'),
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
} else {
  new FlagtrailStack(app, `Flagtrail-${stage}`, {
    stage,
    tableName: ctx('tableName') ?? `feature-flags-${stage}`,
    tableStreamArn: ctx('tableStreamArn'),
    createDemoTable: ctx('createDemoTable') === 'true',
    assetDir,
    architecture,
    auditRetention: ctx('auditRetentionDays') ? (Number(ctx('auditRetentionDays')) as RetentionDays) : undefined,
    productionEnvironments: list('productionEnvironments'),
    redactAttributes: list('redactAttributes'),
    dataProtection: ctx('dataProtection') === 'true',
    alertEmail: ctx('alertEmail'),
    archiveRetentionYears: ctx('archiveRetentionYears') ? Number(ctx('archiveRetentionYears')) : undefined,
    archiveRetentionDays: ctx('archiveRetentionDays') ? Number(ctx('archiveRetentionDays')) : undefined,
    archiveLockMode: ctx('archiveLockMode') as 'compliance' | 'governance' | undefined,
    // The CloudFormation execution role(s) of the delivery pipeline's bootstrap: its deploys reach Slack, not the pager.
    deployRoleArns: list('deployRoleArns'),
    // An external auditor's account may assume the auditor role with its external id (README, auditors).
    externalAuditor: externalAuditor(ctx('auditorAccountId'), ctx('auditorExternalId')),
    // The completeness check's first run records a baseline of what predates the trail; default: on
    // when attaching, off with the demo table. Off: run `flagtrail baseline` once instead (docs/security.md).
    baselineOnFirstRun: flag('baselineOnFirstRun'),
    reconcileScanSegments: num('reconcileScanSegments'),
    reconcileReadUnitsPerSecond: num('reconcileReadUnitsPerSecond'),
    // The transparency log's witnesses (docs/integrity.md, "A witness in the auditors' account").
    witnesses: witnesses(),
    slack: ctx('slackWorkspaceId') && ctx('slackChannelId') ? { workspaceId: ctx('slackWorkspaceId')!, channelId: ctx('slackChannelId')! } : undefined,
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });

  // The GitHub deploy role of this stage, when the repository is given (`-c deployRepository=owner/name`).
  if (ctx('deployRepository')) {
    new FlagtrailDeployStack(app, `FlagtrailDeploy-${stage}`, {
      repository: ctx('deployRepository')!,
      stage,
      oidcProviderArn: ctx('githubOidcProviderArn'),
      env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    });
  }
}

// cdk-nag 3: checks run as a validation plugin at synth time and fail it on an unsuppressed finding.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));
