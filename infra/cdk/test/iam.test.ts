// Least privilege, proven on the synthesized template: every policy attached to each function's role
// (inline policies, the role's own policies, managed policies) is resolved to concrete ARNs and
// evaluated the way IAM does (an explicit Deny wins, then an Allow, else denied) for a matrix of
// (role, action, resource) questions: allowed where the function needs it, denied everywhere else
// (the evaluator: test/policy.ts, shared with witness.test.ts).
// Conditions are ignored, which only ever makes an Allow broader: a "denied" answer here is denied;
// a question that gives the request's condition keys (a context) is answered with them (the
// operators the DynamoDB read grants and the KMS-through-S3 grants use; any other throws).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { ACCOUNT, REGION, prodTemplate } from './synth';
import { allowed, Context, glob, keyAllows, normalizer, policiesOf, resolver, roleNamed, roleOf } from './policy';
import { FreshnessMarks } from '../lib/marks';

function template(dataProtection = false): any {
  return prodTemplate({ alertEmail: 'oncall@example.com', slack: { workspaceId: 'T1', channelId: 'C1' }, dataProtection }, 'Iam');
}

/** The README deploy (attached table: baseline on by default) with the baseline turned off (`-c baselineOnFirstRun=false`). */
function noBaselineTemplate(): any {
  return prodTemplate({ alertEmail: 'oncall@example.com', baselineOnFirstRun: false }, 'IamNoBaseline');
}

/** The demo (its own table: baseline off by default). */
function demoTemplate(): any {
  return prodTemplate({ alertEmail: 'oncall@example.com', createDemoTable: true, tableStreamArn: undefined }, 'IamDemo');
}

/** The S3 ARN of the stack's bucket whose logical id starts with `prefix` (the resolver names a bucket by its id). */
function bucketArn(t: any, prefix: string): string {
  return `arn:aws:s3:::${Object.keys(t.Resources).find((id) => t.Resources[id].Type === 'AWS::S3::Bucket' && id.startsWith(prefix))!.toLowerCase()}`;
}


/** The roles the matrices ask about, by the names the rows use. */
function rolesOf(t: any): Record<string, string> {
  return {
    Audit: roleOf(t, 'AuditFunction'),
    Notify: roleOf(t, 'NotifyFunction'),
    Reconcile: roleOf(t, 'ReconcileFunction'),
    LogWriter: roleOf(t, 'LogWriterFunction'),
    ArchiveDelivery: roleNamed(t, 'ArchiveDeliveryRole'),
    Auditor: roleNamed(t, 'AuditorRole'),
  };
}


test('each function may do exactly what it needs, as IAM would evaluate the synthesized policies', () => {
  const t = template();
  const logs = (group: string, stream = 'x') => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${group}:log-stream:${stream}`;
  const group = (g: string) => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${g}`;
  const topic = (name: string) => `arn:aws:sns:${REGION}:${ACCOUNT}:${name}`;
  const bucketId = Object.keys(t.Resources).find((id) => t.Resources[id].Type === 'AWS::S3::Bucket' && id.startsWith('FailureBucket'))!.toLowerCase();
  const archiveId = Object.keys(t.Resources).find((id) => t.Resources[id].Type === 'AWS::S3::Bucket' && id.startsWith('ArchiveBucket'))!.toLowerCase();
  const archived = `arn:aws:s3:::${archiveId}/audit/2026/11/30/10/flagtrail-prod-archive-1-2026-11-30-10-00-00-uuid`;
  const audit = '/flagtrail/prod/audit';
  const table = (name: string) => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}`;
  const marks = table('flagtrail-prod-marks');
  const flags = table('feature-flags-prod');
  const stateBucket = bucketArn(t, 'ReconcileStateBucket');
  const state = `${stateBucket}/reconcile/state.jsonl.gz`;
  // [function, action, resource, allowed?]
  const matrix: Array<[string, string, string, boolean]> = [
    ['Audit', 'logs:PutLogEvents', logs(audit, 'audit/2026/11/24'), true],
    ['Audit', 'logs:CreateLogStream', logs(audit, 'audit/2026/11/24'), true],
    ['Audit', 'logs:PutLogEvents', logs('/aws/lambda/flagtrail-prod-audit'), true],
    ['Audit', 'logs:PutLogEvents', logs('/some/other/group'), false],
    ['Audit', 'logs:PutLogEvents', logs('/aws/lambda/flagtrail-prod-notify'), false],
    ['Audit', 'sns:Publish', topic('flagtrail-prod-alerts'), false],
    ['Audit', 'logs:DeleteLogGroup', group(audit), false],
    ['Audit', 'logs:DeleteLogStream', logs(audit), false],
    ['Audit', 'logs:PutRetentionPolicy', group(audit), false],
    ['Audit', 's3:PutObject', `arn:aws:s3:::${bucketId}/aws/lambda/uuid/shard/2026/11/24/x`, true],
    ['Audit', 's3:DeleteObject', `arn:aws:s3:::${bucketId}/aws/lambda/uuid/shard/2026/11/24/x`, false],
    ['Audit', 's3:GetObject', `arn:aws:s3:::${bucketId}/aws/lambda/uuid/shard/2026/11/24/x`, false],
    ['Notify', 'sns:Publish', topic('flagtrail-prod-alerts'), true],
    ['Notify', 'sns:Publish', topic('flagtrail-prod-invalidations'), true],
    ['Notify', 'sns:Publish', topic('someone-elses-topic'), false],
    ['Notify', 'logs:PutLogEvents', logs(audit, 'audit/2026/11/24'), false],
    ['Notify', 'logs:CreateLogStream', logs(audit, 'forged'), false],
    ['Notify', 'logs:PutLogEvents', logs('/aws/lambda/flagtrail-prod-notify'), true],
    ['Notify', 'logs:DeleteLogGroup', group(audit), false],
    ['Notify', 'logs:PutRetentionPolicy', group(audit), false],
    ['Notify', 's3:PutObject', `arn:aws:s3:::${bucketId}/aws/lambda/uuid/shard/2026/11/24/x`, true],
    ['Reconcile', 'logs:FilterLogEvents', group(audit), true],
    ['Reconcile', 'dynamodb:Scan', `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/feature-flags-prod`, true],
    ['Reconcile', 'dynamodb:GetItem', flags, true], // re-reads a suspect (the four attributes: tested with conditions below)
    ['Reconcile', 'logs:PutLogEvents', logs(audit), false],
    ['Reconcile', 'logs:DeleteLogStream', logs(audit), false],
    ['Reconcile', 'dynamodb:PutItem', `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/feature-flags-prod`, false],
    ['Reconcile', 'dynamodb:UpdateItem', flags, false],
    ['Reconcile', 'dynamodb:DeleteItem', flags, false],
    ['Reconcile', 'dynamodb:BatchWriteItem', flags, false],
    ['Reconcile', 'dynamodb:BatchGetItem', flags, false],
    ['Reconcile', 'dynamodb:Query', flags, false],
    ['Reconcile', 'dynamodb:PartiQLSelect', flags, false],
    ['Reconcile', 'dynamodb:Scan', table('some-other-table'), false],
    ['Reconcile', 'dynamodb:GetItem', table('some-other-table'), false],
    // Its state (reconcile-state.ts): read and replace the object under reconcile/, list the bucket
    // (a missing state is then 404, not 403), nothing else; no other role of the stack touches it.
    ['Reconcile', 's3:GetObject', state, true],
    ['Reconcile', 's3:PutObject', state, true],
    ['Reconcile', 's3:ListBucket', stateBucket, true],
    ['Reconcile', 's3:DeleteObject', state, false],
    ['Reconcile', 's3:DeleteObjectVersion', state, false],
    ['Reconcile', 's3:GetObjectVersion', state, false],
    ['Reconcile', 's3:PutObjectAcl', state, false],
    ['Reconcile', 's3:PutObject', `${stateBucket}/elsewhere/state.jsonl.gz`, false],
    ['Reconcile', 's3:ListBucketVersions', stateBucket, false],
    ['Reconcile', 's3:PutBucketPolicy', stateBucket, false],
    ['Reconcile', 's3:PutLifecycleConfiguration', stateBucket, false],
    ['Reconcile', 's3:PutBucketVersioning', stateBucket, false],
    ['Reconcile', 's3:DeleteBucket', stateBucket, false],
    ['Reconcile', 's3:GetObject', archived, false],
    ['Reconcile', 's3:PutObject', archived, false],
    ['Reconcile', 's3:ListBucket', bucketArn(t, 'ArchiveBucket'), false],
    ['Reconcile', 's3:GetObject', `arn:aws:s3:::${bucketId}/aws/lambda/uuid/shard/2026/11/24/x`, false],
    ['Reconcile', 's3:PutObject', `arn:aws:s3:::${bucketId}/aws/lambda/uuid/shard/2026/11/24/x`, false],
    ['Reconcile', 's3:PutObject', `${bucketArn(t, 'AccessLogBucket')}/state/x`, false],
    ['Reconcile', 's3:GetObject', 'arn:aws:s3:::someone-elses-bucket/reconcile/state.jsonl.gz', false],
    ['Audit', 's3:GetObject', state, false],
    ['Audit', 's3:PutObject', state, false],
    ['Notify', 's3:PutObject', state, false],
    ['Auditor', 's3:GetObject', state, false],
    ['ArchiveDelivery', 's3:PutObject', state, false],
    // The archive: Firehose writes it, auditors read it, nobody else touches it.
    ['Audit', 's3:PutObject', archived, false],
    ['Notify', 's3:GetObject', archived, false],
    ['ArchiveDelivery', 's3:PutObject', archived, true],
    ['ArchiveDelivery', 's3:DeleteObject', archived, false],
    ['ArchiveDelivery', 's3:GetObject', archived, false],
    ['ArchiveDelivery', 'logs:PutLogEvents', logs(audit), false],
    ['Auditor', 's3:GetObjectVersion', archived, true],
    ['Auditor', 's3:ListBucketVersions', `arn:aws:s3:::${archiveId}`, true],
    ['Auditor', 's3:PutObject', archived, false],
    ['Auditor', 's3:DeleteObjectVersion', archived, false],
    ['Auditor', 's3:PutObjectRetention', archived, false],
    ['Auditor', 'logs:FilterLogEvents', group(audit), true],
    ['Auditor', 'logs:PutLogEvents', logs(audit), false],
    ['Auditor', 'logs:DeleteLogStream', logs(audit), false],
    ['Auditor', 'logs:PutLogEvents', logs('/aws/lambda/flagtrail-prod-audit'), false],
    ['Auditor', 'logs:Unmask', group(audit), true],
    ['Audit', 'logs:DeleteSubscriptionFilter', group(audit), false],
    ['Notify', 'logs:PutSubscriptionFilter', group(audit), false],
    // The freshness marks (docs/freshness.md): notify's one conditional UpdateItem per mark, nothing
    // else — no PutItem, no delete, no batch write, no read, no write to the flag table; no other
    // role of the stack writes a mark.
    ['Notify', 'dynamodb:UpdateItem', marks, true],
    ['Notify', 'dynamodb:PutItem', marks, false],
    ['Notify', 'dynamodb:DeleteItem', marks, false],
    ['Notify', 'dynamodb:BatchWriteItem', marks, false],
    ['Notify', 'dynamodb:GetItem', marks, false],
    ['Notify', 'dynamodb:DeleteTable', marks, false],
    ['Notify', 'dynamodb:UpdateItem', `${marks}/index/any`, false],
    ['Notify', 'dynamodb:UpdateItem', flags, false],
    ['Notify', 'dynamodb:PutItem', flags, false],
    ['Notify', 'dynamodb:DeleteItem', flags, false],
    ['Notify', 'dynamodb:BatchWriteItem', flags, false],
    ['Notify', 'dynamodb:UpdateItem', table('flagtrail-dev-marks'), false],
    ['Audit', 'dynamodb:UpdateItem', marks, false],
    ['Audit', 'dynamodb:PutItem', marks, false],
    ['Audit', 'dynamodb:DeleteItem', marks, false],
    ['Audit', 'dynamodb:BatchWriteItem', marks, false],
    ['Reconcile', 'dynamodb:UpdateItem', marks, false],
    ['Reconcile', 'dynamodb:PutItem', marks, false],
    ['Reconcile', 'dynamodb:DeleteItem', marks, false],
    ['Reconcile', 'dynamodb:BatchWriteItem', marks, false],
    ['Reconcile', 'dynamodb:Scan', marks, false],
    ['Auditor', 'dynamodb:UpdateItem', marks, false],
    ['ArchiveDelivery', 'dynamodb:UpdateItem', marks, false],
  ];
  const failures: string[] = [];
  const roles = rolesOf(t);
  for (const [fn, action, resource, want] of matrix) {
    const policies = policiesOf(t, roles[fn]);
    if (policies.managed.length) failures.push(`${fn}: managed policies ${policies.managed.join(', ')} (AWS-managed ones grant on "*")`);
    const got = allowed(policies, action, resource);
    if (got !== want) failures.push(`${fn} ${action} ${resource}: ${got ? 'allowed' : 'denied'}, should be ${want ? 'allowed' : 'denied'}`);
  }
  assert.deepEqual(failures, []);
});

test('with data protection, and only then, the audit function may put records into the archive stream, and nothing else in Firehose', () => {
  const stream = (name: string) => `arn:aws:firehose:${REGION}:${ACCOUNT}:deliverystream/${name}`;
  const archive = stream('flagtrail-prod-archive');
  // [action, resource, allowed with dataProtection?]
  const matrix: Array<[string, string, boolean]> = [
    ['firehose:PutRecordBatch', archive, true],
    ['firehose:PutRecord', archive, false],
    ['firehose:PutRecordBatch', stream('flagtrail-dev-archive'), false],
    ['firehose:PutRecordBatch', stream('someone-elses-stream'), false],
    ['firehose:DeleteDeliveryStream', archive, false],
    ['firehose:UpdateDestination', archive, false],
    ['firehose:StopDeliveryStreamEncryption', archive, false],
    ['firehose:DescribeDeliveryStream', archive, false],
  ];
  const failures: string[] = [];
  for (const dataProtection of [true, false]) {
    const t = template(dataProtection);
    const roles = rolesOf(t);
    for (const [action, resource, withDp] of matrix) {
      const want = dataProtection && withDp;
      for (const who of ['Audit', 'Notify', 'Reconcile', 'Auditor']) {
        const got = allowed(policiesOf(t, roles[who]), action, resource);
        const expected = who === 'Audit' && want;
        if (got !== expected) failures.push(`dataProtection=${dataProtection} ${who} ${action} ${resource}: ${got ? 'allowed' : 'denied'}`);
      }
    }
    // The Firehose stream is the one the audit function's variable names.
    if (dataProtection) {
      const [, fn] = Object.entries<any>(t.Resources).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith('AuditFunction'))!;
      const named = t.Resources[fn.Properties.Environment.Variables.FLAGTRAIL_ARCHIVE_STREAM.Ref];
      assert.equal(named.Properties.DeliveryStreamName, 'flagtrail-prod-archive');
    }
  }
  assert.deepEqual(failures, []);
});

test('evaluators read the freshness marks and nothing else: the evaluator-read policy and grantRead', () => {
  const t = template();
  const table = (name: string) => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}`;
  const marks = table('flagtrail-prod-marks');
  // [action, resource, allowed?]
  const matrix: Array<[string, string, boolean]> = [
    ['dynamodb:BatchGetItem', marks, true],
    ['dynamodb:GetItem', marks, true],
    ['dynamodb:UpdateItem', marks, false],
    ['dynamodb:PutItem', marks, false],
    ['dynamodb:DeleteItem', marks, false],
    ['dynamodb:BatchWriteItem', marks, false],
    ['dynamodb:Query', marks, false],
    ['dynamodb:Scan', marks, false],
    ['dynamodb:BatchGetItem', table('feature-flags-prod'), false],
    ['dynamodb:GetItem', table('feature-flags-prod'), false],
    ['dynamodb:GetItem', table('flagtrail-dev-marks'), false],
    ['kms:Decrypt', `arn:aws:kms:${REGION}:${ACCOUNT}:key/any`, false],
  ];
  const [, policy] = Object.entries<any>(t.Resources).find(([, r]) => r.Type === 'AWS::IAM::ManagedPolicy' && r.Properties.ManagedPolicyName === 'flagtrail-prod-evaluator-read')!;
  const managed = { statements: [policy.Properties.PolicyDocument.Statement].flat().map(normalizer(t)) };
  // The construct's grants on a role of another stack: grantRead as the managed policy, grantWrite
  // exactly UpdateItem.
  const app = new App();
  const other = new Stack(app, 'Evaluator', { env: { account: ACCOUNT, region: REGION } });
  const construct = new FreshnessMarks(other, 'Marks', { stage: 'prod' });
  const evaluator = new iam.Role(other, 'EvaluatorRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  const writer = new iam.Role(other, 'WriterRole', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  construct.grantRead(evaluator);
  construct.grantWrite(writer);
  const o = Template.fromStack(other).toJSON();
  const granted = policiesOf(o, roleNamed(o, 'EvaluatorRole'));
  const failures: string[] = [];
  for (const [action, resource, want] of matrix) {
    for (const [who, p] of [['evaluator-read policy', managed], ['grantRead', granted]] as const) {
      const got = allowed(p, action, resource);
      if (got !== want) failures.push(`${who} ${action} ${resource}: ${got ? 'allowed' : 'denied'}, should be ${want ? 'allowed' : 'denied'}`);
    }
  }
  const written = policiesOf(o, roleNamed(o, 'WriterRole'));
  assert.deepEqual(written.statements.flatMap((s) => s.actions), ['dynamodb:UpdateItem'], 'grantWrite: one action');
  assert.deepEqual(written.statements.flatMap((s) => s.resources), [marks], 'grantWrite: this table only');
  assert.deepEqual(failures, []);
});

test('only the audit function signs seals (and reconcile, when it takes the baseline); auditors read the public key', () => {
  const t = template();
  const roles = rolesOf(t);
  const matrix: Array<[string, string, boolean]> = [
    ['Audit', 'kms:Sign', true],
    ['Notify', 'kms:Sign', false],
    ['Reconcile', 'kms:Sign', true], // the README deploy attaches to a table: baseline on its first run (below)
    ['Reconcile', 'kms:Verify', false],
    ['Reconcile', 'kms:ScheduleKeyDeletion', false],
    ['Reconcile', 'kms:PutKeyPolicy', false],
    ['Auditor', 'kms:Sign', false],
    ['ArchiveDelivery', 'kms:Sign', false],
    ['Auditor', 'kms:GetPublicKey', true],
    ['Auditor', 'kms:Verify', true],
    ['Audit', 'kms:ScheduleKeyDeletion', false],
    ['Audit', 'kms:PutKeyPolicy', false],
    ['Notify', 'kms:GetPublicKey', false],
    ['LogWriter', 'kms:Sign', false], // checkpoints are signed with the checkpoint key, never the seal key
    ['LogWriter', 'kms:GetPublicKey', false],
  ];
  const failures = matrix
    .filter(([who, action, want]) => keyAllows(t, 'SealKey', roles[who], action) !== want)
    .map(([who, action, want]) => `${who} ${action} on the seal key: should be ${want ? 'allowed' : 'denied'}`);
  assert.deepEqual(failures, []);
});

test('the baseline on the first run, and only with it: reconcile signs seals, writes baseline/ streams of the audit group, scans whole items', () => {
  const audit = '/flagtrail/prod/audit';
  const logs = (group: string, stream: string) => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${group}:log-stream:${stream}`;
  const flags = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/feature-flags-prod`;
  const whole: Context = { 'dynamodb:Select': 'ALL_ATTRIBUTES' };
  // [action, resource, the request's condition keys, allowed with the baseline?]; without it, each is denied.
  const matrix: Array<[string, string, Context | undefined, boolean]> = [
    ['logs:CreateLogStream', logs(audit, 'baseline/2026/12/02'), undefined, true],
    ['logs:PutLogEvents', logs(audit, 'baseline/2026/12/02'), undefined, true],
    // The audit function's streams, or any other of the group: never.
    ['logs:CreateLogStream', logs(audit, 'audit/2026/12/02'), undefined, false],
    ['logs:PutLogEvents', logs(audit, 'audit/2026/12/02'), undefined, false],
    ['logs:PutLogEvents', logs(audit, 'forged'), undefined, false],
    ['logs:PutLogEvents', logs(audit, 'xbaseline/2026/12/02'), undefined, false],
    ['logs:PutLogEvents', logs('/flagtrail/dev/audit', 'baseline/2026/12/02'), undefined, false],
    ['logs:PutLogEvents', logs('/some/other/group', 'baseline/2026/12/02'), undefined, false],
    ['logs:DeleteLogStream', logs(audit, 'baseline/2026/12/02'), undefined, false],
    ['logs:PutRetentionPolicy', `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${audit}`, undefined, false],
    // Whole items (the baseline's item digest): Scan only; GetItem keeps to the four attributes.
    ['dynamodb:Scan', flags, whole, true],
    ['dynamodb:Scan', flags, { 'dynamodb:Attributes': ['PK', 'SK', 'value'], 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' }, true],
    ['dynamodb:GetItem', flags, whole, false],
    ['dynamodb:Query', flags, whole, false],
    ['dynamodb:Scan', `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/some-other-table`, whole, false],
  ];
  const failures: string[] = [];
  for (const [name, t, baseline] of [['README deploy (attached: on by default)', template(), true], ['-c baselineOnFirstRun=false', noBaselineTemplate(), false], ['demo table (off by default)', demoTemplate(), false]] as const) {
    const roles = rolesOf(t);
    const p = policiesOf(t, roles.Reconcile);
    for (const [action, resource, context, withBaseline] of matrix) {
      const got = allowed(p, action, resource, context);
      const want = baseline && withBaseline;
      if (got !== want) failures.push(`${name}: Reconcile ${action} ${resource} ${JSON.stringify(context ?? {})}: ${got ? 'allowed' : 'denied'}, should be ${want ? 'allowed' : 'denied'}`);
    }
    // Sign on the seal key, by name in its key policy, for the seals' algorithm and message type only.
    if (keyAllows(t, 'SealKey', roles.Reconcile, 'kms:Sign') !== baseline) failures.push(`${name}: Reconcile kms:Sign should be ${baseline ? 'allowed' : 'denied'}`);
    if (!keyAllows(t, 'SealKey', roles.Audit, 'kms:Sign')) failures.push(`${name}: Audit kms:Sign should be allowed`);
    const seal = Object.entries<any>(t.Resources).find(([id, r]) => r.Type === 'AWS::KMS::Key' && id.startsWith('SealKey'))![1];
    const signs = [seal.Properties.KeyPolicy.Statement].flat().filter((st: any) => [st.Action].flat().includes('kms:Sign'));
    assert.deepEqual(signs.map((st: any) => [st.Sid, st.Principal.AWS['Fn::GetAtt'][0]]), [['AuditFunctionSignsSeals', roles.Audit], ...(baseline ? [['ReconcileSignsBaselineSeals', roles.Reconcile]] : [])], name);
    for (const st of signs) assert.deepEqual(st.Condition, { StringEquals: { 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'RAW' } }, `${name}: ${st.Sid}`);
  }
  assert.deepEqual(failures, []);
});

test('reconcile uses the trail key through S3 for its state bucket only', () => {
  const t = template();
  const roles = rolesOf(t);
  const p = policiesOf(t, roles.Reconcile);
  const ids = keyIds(t);
  const key = (id: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
  const state = bucketArn(t, 'ReconcileStateBucket');
  const via = { 'kms:ViaService': `s3.${REGION}.amazonaws.com` };
  // [action, key, the request's condition keys (what S3 sends KMS), allowed?]
  const cases: Array<[string, string, Context, boolean]> = [
    ['kms:GenerateDataKey', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': state }, true], // with the Bucket Key: the bucket's ARN
    ['kms:Decrypt', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': state }, true],
    ['kms:Decrypt', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': `${state}/reconcile/state.jsonl.gz` }, true], // without it: the object's
    // The archive's and the failure bucket's objects, though the same key encrypts them: no.
    ['kms:Decrypt', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': bucketArn(t, 'ArchiveBucket') }, false],
    ['kms:Decrypt', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': `${bucketArn(t, 'FailureBucket')}/aws/lambda/x` }, false],
    // Directly (the audit group's encryption context goes through CloudWatch Logs, not S3): no.
    ['kms:Decrypt', ids.trail, { 'kms:EncryptionContext:aws:s3:arn': state }, false],
    ['kms:Decrypt', ids.trail, { 'kms:ViaService': `logs.${REGION}.amazonaws.com`, 'kms:EncryptionContext:aws:logs:arn': 'arn:aws:logs:eu-west-1:123456789012:log-group:/flagtrail/prod/audit' }, false],
    ['kms:Encrypt', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': state }, false],
    ['kms:ReEncryptFrom', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': state }, false],
    ['kms:CreateGrant', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': state }, false],
    ['kms:Decrypt', ids.seal, { ...via, 'kms:EncryptionContext:aws:s3:arn': state }, false],
  ];
  const failures = cases
    .filter(([action, id, context, want]) => allowed(p, action, key(id), context) !== want)
    .map(([action, id, context, want]) => `Reconcile ${action} on ${id} ${JSON.stringify(context)}: should be ${want ? 'allowed' : 'denied'}`);
  // The trail key's policy delegates these to IAM (the account statement): the role's policy decides.
  for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) assert.ok(keyAllows(t, 'Key', roles.Reconcile, action), action);
  assert.deepEqual(failures, []);
});

// ---- The transparency log (transparency-log.ts): its single writer signs checkpoints with a key
// of its own and writes under log/ of the archive, nowhere else, and never deletes.

/**
 * Whether the bucket policy of the bucket whose logical id starts with `prefix` denies `principalArn`
 * the request (over TLS). Its Deny statements' conditions: ArnNotEquals on aws:PrincipalArn (the
 * writers it spares) and Bool aws:SecureTransport false (enforceSSL, never true over TLS); any other throws.
 */
function bucketDenies(t: any, prefix: string, principalArn: string, action: string, resource: string): boolean {
  const [bucketId] = Object.entries<any>(t.Resources).find(([id, r]) => r.Type === 'AWS::S3::Bucket' && id.startsWith(prefix))!;
  const [, policy] = Object.entries<any>(t.Resources).find(([, r]) => r.Type === 'AWS::S3::BucketPolicy' && r.Properties.Bucket.Ref === bucketId)!;
  const norm = normalizer(t);
  return [policy.Properties.PolicyDocument.Statement].flat().some((raw: any) => {
    const st = norm(raw);
    if (st.effect !== 'Deny' || !st.actions.some((a) => glob(a, action, true)) || !st.resources.some((r) => glob(r, resource))) return false;
    return Object.entries(st.conditions ?? {}).every(([op, kv]) =>
      Object.entries(kv).every(([k, v]) => {
        if (op === 'ArnNotEquals' && k === 'aws:PrincipalArn') return ![v].flat().includes(principalArn);
        if (op === 'Bool' && k === 'aws:SecureTransport') return String(v) === 'true';
        throw new Error(`bucketDenies does not know the condition ${op} ${k}`);
      }),
    );
  });
}

test('only the log writer signs checkpoints, with the checkpoint key only; auditors read its public half', () => {
  const t = template();
  const roles = rolesOf(t);
  // [who, action, key (logical id prefix), allowed?]
  const matrix: Array<[string, string, string, boolean]> = [
    ['LogWriter', 'kms:Sign', 'CheckpointKey', true],
    ['LogWriter', 'kms:GetPublicKey', 'CheckpointKey', true], // the runtime checks the key's spec
    ['LogWriter', 'kms:ScheduleKeyDeletion', 'CheckpointKey', false],
    ['LogWriter', 'kms:PutKeyPolicy', 'CheckpointKey', false],
    ['LogWriter', 'kms:CreateGrant', 'CheckpointKey', false],
    ['LogWriter', 'kms:DisableKey', 'CheckpointKey', false],
    ['LogWriter', 'kms:Sign', 'SealKey', false],
    ['LogWriter', 'kms:Encrypt', 'Key', false],
    // The seal key's signers cannot sign checkpoints, nor anyone else of the stack.
    ['Audit', 'kms:Sign', 'CheckpointKey', false],
    ['Reconcile', 'kms:Sign', 'CheckpointKey', false], // the README deploy: reconcile holds Sign on the seal key
    ['Notify', 'kms:Sign', 'CheckpointKey', false],
    ['Auditor', 'kms:Sign', 'CheckpointKey', false],
    ['ArchiveDelivery', 'kms:Sign', 'CheckpointKey', false],
    ['Audit', 'kms:GetPublicKey', 'CheckpointKey', false],
    ['Auditor', 'kms:GetPublicKey', 'CheckpointKey', true],
    ['Auditor', 'kms:Verify', 'CheckpointKey', true],
  ];
  const failures = matrix
    .filter(([who, action, key, want]) => keyAllows(t, key, roles[who], action) !== want)
    .map(([who, action, key, want]) => `${who} ${action} on ${key}: should be ${want ? 'allowed' : 'denied'}`);
  // Sign in the key policy: one statement, the writer's, Ed25519 over the raw text only.
  const [, key] = Object.entries<any>(t.Resources).find(([id, r]) => r.Type === 'AWS::KMS::Key' && id.startsWith('CheckpointKey'))!;
  const signs = [key.Properties.KeyPolicy.Statement].flat().filter((st: any) => [st.Action].flat().includes('kms:Sign'));
  assert.deepEqual(signs.map((st: any) => [st.Principal.AWS['Fn::GetAtt'][0], st.Condition]), [
    [roles.LogWriter, { StringEquals: { 'kms:SigningAlgorithm': 'ED25519_SHA_512', 'kms:MessageType': 'RAW' } }],
  ]);
  assert.deepEqual(failures, []);
});

test('the log writer reads the seals and writes under log/ of the archive only, and deletes nothing', () => {
  const t = template();
  const roles = rolesOf(t);
  const audit = '/flagtrail/prod/audit';
  const group = (g: string) => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${g}`;
  const stream = (g: string, st = 'x') => `${group(g)}:log-stream:${st}`;
  const archive = bucketArn(t, 'ArchiveBucket');
  const logged = (k: string) => `${archive}/log/${k}`;
  const archived = `${archive}/audit/2026/11/30/10/flagtrail-prod-archive-1-2026-11-30-10-00-00-uuid`;
  const state = `${bucketArn(t, 'ReconcileStateBucket')}/reconcile/state.jsonl.gz`;
  const failed = `${bucketArn(t, 'FailureBucket')}/aws/lambda/uuid/shard/2026/11/24/x`;
  // [who, action, resource, allowed by the role's own policies?]
  const matrix: Array<[string, string, string, boolean]> = [
    ['LogWriter', 'logs:FilterLogEvents', group(audit), true],
    ['LogWriter', 'logs:FilterLogEvents', `${group(audit)}:*`, true],
    ['LogWriter', 'logs:PutLogEvents', stream('/aws/lambda/flagtrail-prod-log-writer'), true],
    ['LogWriter', 'logs:PutLogEvents', stream(audit, 'audit/2026/12/02'), false],
    ['LogWriter', 'logs:CreateLogStream', stream(audit, 'forged'), false],
    ['LogWriter', 'logs:DeleteLogStream', stream(audit), false],
    ['LogWriter', 'logs:DeleteLogGroup', group(audit), false],
    ['LogWriter', 'logs:PutRetentionPolicy', group(audit), false],
    ['LogWriter', 'logs:FilterLogEvents', group('/aws/lambda/flagtrail-prod-audit'), false],
    ['LogWriter', 's3:GetObject', logged('checkpoint'), true],
    ['LogWriter', 's3:PutObject', logged('checkpoint'), true],
    ['LogWriter', 's3:PutObject', logged('tile/0/x001/234'), true],
    ['LogWriter', 's3:ListBucket', archive, true], // a missing object is 404, not 403
    ['LogWriter', 's3:PutObject', archived, false],
    ['LogWriter', 's3:GetObject', archived, false],
    ['LogWriter', 's3:PutObject', `${archive}/errors/x`, false],
    ['LogWriter', 's3:PutObject', `${archive}/logx/checkpoint`, false],
    ['LogWriter', 's3:PutObject', `${archive}/checkpoint`, false],
    ['LogWriter', 's3:PutObject', state, false],
    ['LogWriter', 's3:GetObject', state, false],
    ['LogWriter', 's3:PutObject', failed, false],
    ['LogWriter', 's3:PutObject', `${bucketArn(t, 'AccessLogBucket')}/archive/x`, false],
    ['LogWriter', 's3:PutObject', 'arn:aws:s3:::someone-elses-bucket/log/checkpoint', false],
    ['LogWriter', 's3:ListBucket', bucketArn(t, 'ReconcileStateBucket'), false],
    ['LogWriter', 'dynamodb:Scan', `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/feature-flags-prod`, false],
    ['LogWriter', 'sns:Publish', `arn:aws:sns:${REGION}:${ACCOUNT}:flagtrail-prod-alerts`, false],
    ['LogWriter', 'firehose:PutRecordBatch', `arn:aws:firehose:${REGION}:${ACCOUNT}:deliverystream/flagtrail-prod-archive`, false],
    // The other roles of the stack do not write the log (the auditor reads it, below).
    ['Audit', 's3:PutObject', logged('checkpoint'), false],
    ['Notify', 's3:PutObject', logged('checkpoint'), false],
    ['Reconcile', 's3:PutObject', logged('checkpoint'), false],
    ['Auditor', 's3:PutObject', logged('checkpoint'), false],
    ['Auditor', 's3:GetObject', logged('checkpoint'), true],
  ];
  // Never a delete, a retention or legal-hold change, a governance bypass, a version listing or a
  // bucket setting: anywhere in the archive, log/ included.
  for (const action of ['s3:DeleteObject', 's3:DeleteObjectVersion', 's3:PutObjectRetention', 's3:PutObjectLegalHold', 's3:BypassGovernanceRetention', 's3:GetObjectVersion', 's3:PutObjectAcl', 's3:PutObjectTagging']) {
    for (const r of [logged('checkpoint'), archived]) matrix.push(['LogWriter', action, r, false]);
  }
  for (const action of ['s3:PutBucketPolicy', 's3:PutBucketVersioning', 's3:PutBucketObjectLockConfiguration', 's3:PutLifecycleConfiguration', 's3:DeleteBucket', 's3:ListBucketVersions']) matrix.push(['LogWriter', action, archive, false]);
  const failures: string[] = [];
  for (const [who, action, resource, want] of matrix) {
    const p = policiesOf(t, roles[who]);
    if (p.managed.length) failures.push(`${who}: managed policies ${p.managed.join(', ')}`);
    const got = allowed(p, action, resource);
    if (got !== want) failures.push(`${who} ${action} ${resource}: ${got ? 'allowed' : 'denied'}, should be ${want ? 'allowed' : 'denied'}`);
  }
  // The archive's bucket policy: the writer alone adds objects under log/, Firehose and the writer
  // alone elsewhere (where the writer's own policy refuses it, above, as Firehose's refuses it all
  // but audit/ and errors/); an administrator whose own policy allows s3:* is refused both.
  const arn = (id: string) => resolver(t)({ 'Fn::GetAtt': [id, 'Arn'] });
  const admin = `arn:aws:iam::${ACCOUNT}:role/Administrator`;
  const puts: Array<[string, string, boolean]> = [
    [arn(roles.LogWriter), logged('checkpoint'), false],
    [arn(roles.LogWriter), logged('tile/entries/000'), false],
    [arn(roles.LogWriter), archived, false], // its own policy: denied (matrix above)
    [arn(roles.ArchiveDelivery), archived, false],
    [arn(roles.ArchiveDelivery), `${archive}/errors/x`, false],
    [arn(roles.ArchiveDelivery), logged('checkpoint'), true],
    [arn(roles.Audit), logged('checkpoint'), true],
    [arn(roles.Reconcile), archived, true],
    [admin, logged('checkpoint'), true],
    [admin, archived, true],
  ];
  for (const [who, resource, want] of puts) {
    const got = bucketDenies(t, 'ArchiveBucket', who, 's3:PutObject', resource);
    if (got !== want) failures.push(`bucket policy: ${who} s3:PutObject ${resource}: ${got ? 'denied' : 'not denied'}, should ${want ? '' : 'not '}be denied`);
  }
  assert.deepEqual(failures, []);
});

test('the log writer uses the trail key through S3 for the archive only', () => {
  const t = template();
  const roles = rolesOf(t);
  const p = policiesOf(t, roles.LogWriter);
  const ids = keyIds(t);
  const key = (id: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
  const archive = bucketArn(t, 'ArchiveBucket');
  const via = { 'kms:ViaService': `s3.${REGION}.amazonaws.com` };
  const cases: Array<[string, string, Context, boolean]> = [
    ['kms:GenerateDataKey', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': archive }, true], // with the Bucket Key: the bucket's ARN
    ['kms:Decrypt', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': archive }, true],
    ['kms:Decrypt', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': `${archive}/log/checkpoint` }, true], // without it: the object's
    ['kms:Decrypt', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': `${archive}/audit/2026/x` }, false],
    ['kms:Decrypt', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': bucketArn(t, 'ReconcileStateBucket') }, false],
    ['kms:Decrypt', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': `${bucketArn(t, 'FailureBucket')}/aws/lambda/x` }, false],
    ['kms:Decrypt', ids.trail, { 'kms:EncryptionContext:aws:s3:arn': archive }, false],
    ['kms:Encrypt', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': archive }, false],
    ['kms:CreateGrant', ids.trail, { ...via, 'kms:EncryptionContext:aws:s3:arn': archive }, false],
    ['kms:Decrypt', ids.seal, { ...via, 'kms:EncryptionContext:aws:s3:arn': archive }, false],
  ];
  const failures = cases
    .filter(([action, id, context, want]) => allowed(p, action, key(id), context) !== want)
    .map(([action, id, context, want]) => `LogWriter ${action} on ${id} ${JSON.stringify(context)}: should be ${want ? 'allowed' : 'denied'}`);
  for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) assert.ok(keyAllows(t, 'Key', roles.LogWriter, action), action);
  assert.deepEqual(failures, []);
});

test('the evaluator itself: deny wins, wildcards match, nothing is allowed by default', () => {
  const p = {
    statements: [
      { effect: 'Allow', actions: ['logs:Put*'], notActions: [], resources: ['arn:x:log-group:a:*'], notResources: [] },
      { effect: 'Deny', actions: ['logs:PutRetentionPolicy'], notActions: [], resources: ['*'], notResources: [] },
    ],
  };
  assert.equal(allowed(p, 'logs:PutLogEvents', 'arn:x:log-group:a:log-stream:s'), true);
  assert.equal(allowed(p, 'logs:PutRetentionPolicy', 'arn:x:log-group:a:x'), false);
  assert.equal(allowed(p, 'logs:PutLogEvents', 'arn:x:log-group:b:log-stream:s'), false);
  assert.equal(allowed(p, 'logs:GetLogEvents', 'arn:x:log-group:a:x'), false);
});

// ---- The auditor role (issue 21): everything the auditor docs ask, nothing else, and an external
// auditor's account trusted only with its external id.

const AUDITOR_ACCOUNT = '210987654321';
const AUDITOR_EXTERNAL_ID = 'flagtrail-audit-7f3c2a';

/** The stack with an external auditor's account configured (`-c auditorAccountId=… -c auditorExternalId=…`). */
function auditorTemplate(externalAuditor: { accountId: string; externalId: string } | null = { accountId: AUDITOR_ACCOUNT, externalId: AUDITOR_EXTERNAL_ID }): any {
  return prodTemplate({ dataProtection: true, externalAuditor: externalAuditor ?? undefined }, 'IamAuditor');
}

/** The ids of the stack's KMS keys: the trail key, the seal key and the checkpoint key. */
function keyIds(t: any): { trail: string; seal: string; checkpoint: string } {
  const keys = Object.keys(t.Resources).filter((id) => t.Resources[id].Type === 'AWS::KMS::Key');
  return { trail: keys.find((id) => id.startsWith('Key'))!, seal: keys.find((id) => id.startsWith('SealKey'))!, checkpoint: keys.find((id) => id.startsWith('CheckpointKey'))! };
}

test('the auditor role can verify, report, reconcile and read the findings, and write nothing (external account configured)', () => {
  const t = auditorTemplate();
  const role = roleNamed(t, 'AuditorRole');
  const p = policiesOf(t, role);
  assert.deepEqual(p.managed, [], 'no managed policies');
  const group = (g: string) => `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${g}`;
  const stream = (g: string, s = 'x') => `${group(g)}:log-stream:${s}`;
  const audit = '/flagtrail/prod/audit';
  const findings = '/aws/lambda/flagtrail-prod-reconcile';
  const bucket = (prefix: string) => `arn:aws:s3:::${Object.keys(t.Resources).find((id) => t.Resources[id].Type === 'AWS::S3::Bucket' && id.startsWith(prefix))!.toLowerCase()}`;
  const archive = bucket('ArchiveBucket');
  const archived = `${archive}/audit/2026/11/30/10/flagtrail-prod-archive-1-2026-11-30-10-00-00-uuid`;
  const failed = `${bucket('FailureBucket')}/aws/lambda/uuid/shard/2026/11/24/x`;
  const table = (name: string) => `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${name}`;
  const flags = table('feature-flags-prod');
  const ids = keyIds(t);
  const key = (id: string) => `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
  // [action, resource, allowed?]: what README/docs/integrity.md/docs/runbook.md have auditors run.
  const matrix: Array<[string, string, boolean]> = [
    // flagtrail verify / report / reconcile --log-group (FilterLogEvents with unmask), saved queries
    ['logs:FilterLogEvents', group(audit), true],
    ['logs:FilterLogEvents', `${group(audit)}:*`, true],
    ['logs:Unmask', group(audit), true],
    ['logs:StartQuery', group(audit), true],
    ['logs:GetQueryResults', group(audit), true],
    ['logs:GetLogEvents', stream(audit, 'audit/2026/11/24'), true],
    ['logs:DescribeQueryDefinitions', '*', true],
    ['logs:DescribeLogGroups', '*', true],
    // verify / report / reconcile --archive
    ['s3:ListBucketVersions', archive, true],
    ['s3:ListBucket', archive, true],
    ['s3:GetObjectVersion', archived, true],
    ['s3:GetObject', archived, true],
    // flagtrail verify --log-from s3://…/log/: the transparency log's objects (every version of the latest checkpoint)
    ['s3:GetObject', `${archive}/log/checkpoint`, true],
    ['s3:GetObjectVersion', `${archive}/log/checkpoint`, true],
    ['s3:GetObject', `${archive}/log/tile/0/000`, true],
    ['s3:PutObject', `${archive}/log/checkpoint`, false],
    ['s3:DeleteObjectVersion', `${archive}/log/checkpoint`, false],
    ['kms:Decrypt', key(ids.trail), true], // through S3 only (kms:ViaService, checked below)
    // flagtrail reconcile: Scan of the flag table, and GetItem of suspects with --state (four attributes: below)
    ['dynamodb:Scan', flags, true],
    ['dynamodb:GetItem', flags, true],
    ['dynamodb:BatchGetItem', flags, false],
    ['dynamodb:Query', flags, false],
    // Not the completeness check's state (only the reconcile function's)
    ['s3:GetObject', `${bucketArn(t, 'ReconcileStateBucket')}/reconcile/state.jsonl.gz`, false],
    // The reconcile function's findings: its log group, the ReconcileFindings metric
    ['logs:FilterLogEvents', group(findings), true],
    ['logs:StartQuery', group(findings), true],
    ['logs:GetQueryResults', group(findings), true],
    ['logs:GetLogEvents', stream(findings), true],
    ['cloudwatch:GetMetricData', '*', true],
    ['cloudwatch:GetMetricStatistics', '*', true],
    // No write to the trail, its group's settings or any other group
    ['logs:PutLogEvents', stream(audit, 'audit/2026/11/24'), false],
    ['logs:CreateLogStream', stream(audit, 'forged'), false],
    ['logs:PutLogEvents', stream(findings), false],
    ['logs:PutLogEvents', stream('/aws/lambda/flagtrail-prod-audit'), false],
    ['logs:DeleteLogStream', stream(audit), false],
    ['logs:DeleteLogGroup', group(audit), false],
    ['logs:PutRetentionPolicy', group(audit), false],
    ['logs:DeleteRetentionPolicy', group(audit), false],
    ['logs:PutDataProtectionPolicy', group(audit), false],
    ['logs:DeleteDataProtectionPolicy', group(audit), false],
    ['logs:PutSubscriptionFilter', group(audit), false],
    ['logs:DeleteSubscriptionFilter', group(audit), false],
    ['logs:DisassociateKmsKey', group(audit), false],
    ['logs:CreateExportTask', group(audit), false],
    ['logs:PutQueryDefinition', '*', false],
    ['logs:DeleteQueryDefinition', '*', false],
    ['logs:Unmask', group(findings), false],
    ['logs:FilterLogEvents', group('/aws/lambda/flagtrail-prod-audit'), false],
    ['logs:FilterLogEvents', group('/some/other/group'), false],
    // No write to the archive or its settings; no read of the failure bucket (raw stream records)
    ['s3:PutObject', archived, false],
    ['s3:DeleteObject', archived, false],
    ['s3:DeleteObjectVersion', archived, false],
    ['s3:PutObjectRetention', archived, false],
    ['s3:PutObjectLegalHold', archived, false],
    ['s3:BypassGovernanceRetention', archived, false],
    ['s3:PutBucketPolicy', archive, false],
    ['s3:PutBucketVersioning', archive, false],
    ['s3:PutBucketObjectLockConfiguration', archive, false],
    ['s3:PutLifecycleConfiguration', archive, false],
    ['s3:GetObject', failed, false],
    ['s3:PutObject', failed, false],
    // No write to the flag table or the marks; no read beyond the Scan reconcile makes
    ['dynamodb:PutItem', flags, false],
    ['dynamodb:UpdateItem', flags, false],
    ['dynamodb:DeleteItem', flags, false],
    ['dynamodb:BatchWriteItem', flags, false],
    ['dynamodb:PartiQLInsert', flags, false],
    ['dynamodb:PartiQLUpdate', flags, false],
    ['dynamodb:DeleteTable', flags, false],
    ['dynamodb:UpdateTable', flags, false],
    ['dynamodb:RestoreTableFromBackup', flags, false],
    ['dynamodb:Scan', table('flagtrail-prod-marks'), false],
    ['dynamodb:UpdateItem', table('flagtrail-prod-marks'), false],
    ['dynamodb:Scan', table('some-other-table'), false],
    // KMS: Decrypt on the trail key alone; nothing that encrypts, re-encrypts or administers
    ['kms:Decrypt', key(ids.seal), false],
    ['kms:Decrypt', key('some-other-key'), false],
    ['kms:Encrypt', key(ids.trail), false],
    ['kms:GenerateDataKey', key(ids.trail), false],
    ['kms:ReEncryptFrom', key(ids.trail), false],
    ['kms:CreateGrant', key(ids.trail), false],
    ['kms:ScheduleKeyDeletion', key(ids.trail), false],
    ['kms:PutKeyPolicy', key(ids.trail), false],
    // Nothing else of the stack
    ['sns:Publish', `arn:aws:sns:${REGION}:${ACCOUNT}:flagtrail-prod-alerts`, false],
    ['lambda:InvokeFunction', `arn:aws:lambda:${REGION}:${ACCOUNT}:function:flagtrail-prod-audit`, false],
    ['lambda:UpdateFunctionCode', `arn:aws:lambda:${REGION}:${ACCOUNT}:function:flagtrail-prod-reconcile`, false],
    ['firehose:PutRecordBatch', `arn:aws:firehose:${REGION}:${ACCOUNT}:deliverystream/flagtrail-prod-archive`, false],
    ['cloudwatch:PutMetricData', '*', false],
    ['cloudwatch:DisableAlarmActions', `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:flagtrail-prod-ReconcileFindings`, false],
    ['cloudwatch:DeleteAlarms', `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:flagtrail-prod-ReconcileFindings`, false],
    ['events:DisableRule', `arn:aws:events:${REGION}:${ACCOUNT}:rule/flagtrail-prod-reconcile`, false],
    ['iam:PassRole', `arn:aws:iam::${ACCOUNT}:role/flagtrail-prod-auditor`, false],
    ['sts:AssumeRole', `arn:aws:iam::${ACCOUNT}:role/any`, false],
  ];
  const failures: string[] = [];
  for (const [action, resource, want] of matrix) {
    // KMS decides with the key policy: through it for the stack's keys, IAM alone for others.
    const keyId = action.startsWith('kms:') && [ids.trail, ids.seal].find((id) => resource === key(id));
    const got = keyId ? keyAllows(t, keyId === ids.trail ? 'Key' : 'SealKey', role, action) : allowed(p, action, resource);
    if (got !== want) failures.push(`Auditor ${action} ${resource}: ${got ? 'allowed' : 'denied'}, should be ${want ? 'allowed' : 'denied'}`);
  }
  // The seal and checkpoint keys: the public half and Verify, never Sign (named in their key policies).
  for (const [action, want] of [['kms:GetPublicKey', true], ['kms:Verify', true], ['kms:DescribeKey', true], ['kms:Sign', false], ['kms:ScheduleKeyDeletion', false], ['kms:PutKeyPolicy', false]] as const) {
    if (keyAllows(t, 'SealKey', role, action) !== want) failures.push(`Auditor ${action} on the seal key: should be ${want ? 'allowed' : 'denied'}`);
    if (keyAllows(t, 'CheckpointKey', role, action) !== want) failures.push(`Auditor ${action} on the checkpoint key: should be ${want ? 'allowed' : 'denied'}`);
  }
  assert.deepEqual(failures, []);
});

test('every action the auditor role holds is a read; its one kms:Decrypt is the trail key through S3', () => {
  const t = auditorTemplate();
  const role = roleNamed(t, 'AuditorRole');
  const READ = /^[a-z0-9]+:(Get|List|Describe|FilterLogEvents|StartQuery|Scan|Unmask|Verify|Decrypt$)/;
  const p = policiesOf(t, role);
  const actions = p.statements.filter((s) => s.effect === 'Allow').flatMap((s) => [...s.actions, ...s.notActions.map((a) => `NotAction ${a}`)]);
  assert.deepEqual(actions.filter((a) => !READ.test(a) || a.includes('*')), [], 'writes or wildcard actions');
  // kms:Decrypt: the raw statement, with its condition (the evaluator above ignores conditions).
  const raw = Object.values<any>(t.Resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: any) => x.Ref === role))
    .flatMap((r) => [r.Properties.PolicyDocument.Statement].flat());
  const decrypt = raw.filter((s) => [s.Action].flat().includes('kms:Decrypt'));
  assert.equal(decrypt.length, 1);
  assert.deepEqual([decrypt[0].Resource].flat(), [{ 'Fn::GetAtt': [keyIds(t).trail, 'Arn'] }]);
  assert.deepEqual(decrypt[0].Condition, { StringEquals: { 'kms:ViaService': `s3.${REGION}.amazonaws.com` } });
  // Key policies: the role is named only on the seal and checkpoint keys, for their public half and Verify.
  const named = Object.entries<any>(t.Resources)
    .filter(([, r]) => r.Type === 'AWS::KMS::Key')
    .flatMap(([id, r]) => [r.Properties.KeyPolicy.Statement].flat().filter((s: any) => JSON.stringify(s.Principal ?? {}).includes(role)).map((s: any) => [id, [s.Action].flat().sort()]));
  assert.deepEqual(named.sort(), [[keyIds(t).checkpoint, ['kms:DescribeKey', 'kms:GetPublicKey', 'kms:Verify']], [keyIds(t).seal, ['kms:DescribeKey', 'kms:GetPublicKey', 'kms:Verify']]].sort());
});

/** Whether the role's trust policy lets `account`'s principals assume it, presenting `externalId`. */
function mayAssume(t: any, role: string, account: string, externalId?: string): boolean {
  const resolve = resolver(t);
  const arr = (v: any) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
  return arr(t.Resources[role].Properties.AssumeRolePolicyDocument.Statement).some((s: any) => {
    const principals = arr(resolve(s.Principal?.AWS)).flat();
    if (s.Effect !== 'Allow' || !arr(s.Action).includes('sts:AssumeRole') || !principals.includes(`arn:aws:iam::${account}:root`)) return false;
    const keys = Object.entries<any>(s.Condition ?? {}).flatMap(([op, kv]) => Object.entries<any>(kv).map(([k, v]) => [op, k, v]));
    return keys.every(([op, k, v]) => {
      if (op === 'StringEquals' && k === 'sts:ExternalId') return externalId !== undefined && arr(v).includes(externalId);
      throw new Error(`the trust check does not know the condition ${op} ${k}`);
    });
  });
}

test('the auditor role trusts its own account, and an external auditor account only with the external id', () => {
  const t = auditorTemplate();
  const role = roleNamed(t, 'AuditorRole');
  const trust: Array<[string, string | undefined, boolean]> = [
    [ACCOUNT, undefined, true], // the account's own auditors (IAM users, SSO permission sets it allows)
    [AUDITOR_ACCOUNT, AUDITOR_EXTERNAL_ID, true],
    [AUDITOR_ACCOUNT, undefined, false],
    [AUDITOR_ACCOUNT, 'guessed-id', false],
    ['999999999999', AUDITOR_EXTERNAL_ID, false],
  ];
  const failures = trust
    .filter(([account, id, want]) => mayAssume(t, role, account, id) !== want)
    .map(([account, id, want]) => `account ${account} with external id ${id}: should ${want ? '' : 'not '}assume the role`);
  assert.deepEqual(failures, []);
  // Every statement that trusts another account requires the external id; no service or "*" principal.
  const statements = [t.Resources[role].Properties.AssumeRolePolicyDocument.Statement].flat();
  assert.equal(statements.length, 2);
  for (const s of statements) {
    assert.deepEqual(Object.keys(s.Principal), ['AWS']);
    assert.deepEqual([s.Action].flat(), ['sts:AssumeRole']);
    if (JSON.stringify(s.Principal).includes(AUDITOR_ACCOUNT)) assert.deepEqual(s.Condition, { StringEquals: { 'sts:ExternalId': AUDITOR_EXTERNAL_ID } });
  }
  // The external account is named in the trust policy and nowhere else: no bucket, key or log
  // group policy grants it anything directly; it acts only as the role.
  const mentions = Object.entries<any>(t.Resources).filter(([, r]) => JSON.stringify(r).includes(AUDITOR_ACCOUNT)).map(([id]) => id);
  assert.deepEqual(mentions, [role]);
  assert.ok(!JSON.stringify(t.Resources[role].Properties.Policies ?? []).includes(AUDITOR_ACCOUNT));
  // Without the context, the role trusts its own account only.
  const own = auditorTemplate(null);
  assert.equal(mayAssume(own, roleNamed(own, 'AuditorRole'), AUDITOR_ACCOUNT, AUDITOR_EXTERNAL_ID), false);
  assert.equal([own.Resources[roleNamed(own, 'AuditorRole')].Properties.AssumeRolePolicyDocument.Statement].flat().length, 1);
});

test('an external auditor needs a well-formed account id and external id', () => {
  for (const bad of [
    { accountId: '2109876543', externalId: AUDITOR_EXTERNAL_ID },
    { accountId: AUDITOR_ACCOUNT, externalId: '' },
    { accountId: AUDITOR_ACCOUNT, externalId: 'has spaces in it' },
    { accountId: ACCOUNT, externalId: AUDITOR_EXTERNAL_ID },
  ]) {
    assert.throws(() => auditorTemplate(bad), /auditor(AccountId|ExternalId)/, JSON.stringify(bad));
  }
});

// ---- The Scan and GetItem grants (reconcile and the auditor): the four attributes reconcile projects
// (shared/runtime/src/reconcile/mod.rs: ProjectionExpression PK, SK, version, requestId), nothing
// else; with the baseline on the first run, reconcile's whole-item Scan besides.

test('Scan and GetItem of the flag table are allowed for the four attributes reconcile reads, and denied for any other or whole items (but the baseline\'s Scan)', () => {
  const flags = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/feature-flags-prod`;
  const FOUR = ['PK', 'SK', 'version', 'requestId'];
  // [request, its condition keys as DynamoDB sets them, allowed?]: dynamodb:Attributes are the
  // attribute names the request names (its ProjectionExpression, through ExpressionAttributeNames),
  // dynamodb:Select its Select (SPECIFIC_ATTRIBUTES with a projection; a Scan without one reads whole
  // items, ALL_ATTRIBUTES, which the StringEqualsIfExists clause is there to refuse: "Using IAM policy
  // conditions for fine-grained access control", DynamoDB Developer Guide). The same statement holds
  // GetItem, as the IAM User Guide's "Allows access to specific attributes" does: reconcile re-reads
  // a suspect with the same projection (ConsistentRead).
  const cases: Array<[string, Context, boolean]> = [
    ['reconcile/mod.rs: the four, SPECIFIC_ATTRIBUTES', { 'dynamodb:Attributes': FOUR, 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' }, true],
    ['reconcile/mod.rs: the four, Select left implicit', { 'dynamodb:Attributes': FOUR }, true],
    ['the keys alone', { 'dynamodb:Attributes': ['PK', 'SK'], 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' }, true],
    ['the four and the flag value', { 'dynamodb:Attributes': [...FOUR, 'value'], 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' }, false],
    ['a redacted attribute', { 'dynamodb:Attributes': ['PK', 'SK', 'secret'], 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' }, false],
    ['another attribute, Select implicit', { 'dynamodb:Attributes': ['actor'] }, false],
    ['whole items (no projection): ALL_ATTRIBUTES', { 'dynamodb:Select': 'ALL_ATTRIBUTES' }, false],
    ['ALL_ATTRIBUTES naming the four', { 'dynamodb:Attributes': FOUR, 'dynamodb:Select': 'ALL_ATTRIBUTES' }, false],
    ['ALL_PROJECTED_ATTRIBUTES', { 'dynamodb:Select': 'ALL_PROJECTED_ATTRIBUTES' }, false],
    ['COUNT (reconcile never counts)', { 'dynamodb:Select': 'COUNT' }, false],
  ];
  const CONDITIONED = { 'ForAllValues:StringEquals': { 'dynamodb:Attributes': FOUR }, StringEqualsIfExists: { 'dynamodb:Select': 'SPECIFIC_ATTRIBUTES' } };
  const failures: string[] = [];
  const templates = [
    ['README deploy (baseline on)', template(), true],
    ['-c baselineOnFirstRun=false', noBaselineTemplate(), false],
    ['external auditor, data protection (baseline on)', auditorTemplate(), true],
  ] as const;
  for (const [name, t, baseline] of templates) {
    const roles = rolesOf(t);
    for (const who of ['Reconcile', 'Auditor']) {
      const p = policiesOf(t, roles[who]);
      // The baseline reads whole items with Scan (reconcile's role, with the baseline, only).
      const wholeScan = who === 'Reconcile' && baseline;
      for (const action of ['dynamodb:Scan', 'dynamodb:GetItem']) {
        for (const [request, context, conditioned] of cases) {
          const want = conditioned || (wholeScan && action === 'dynamodb:Scan');
          const got = allowed(p, action, flags, context);
          if (got !== want) failures.push(`${name}: ${who} ${action} (${request}): ${got ? 'allowed' : 'denied'}, should be ${want ? 'allowed' : 'denied'}`);
        }
        // The conditioned grant is the role's only one of the action, but the baseline's whole-item
        // Scan (no condition): no other statement lets it read whole items.
        const grants = p.statements.filter((s) => s.effect === 'Allow' && s.actions.some((a) => glob(a, action, true)));
        const expected = wholeScan && action === 'dynamodb:Scan' ? [CONDITIONED, undefined] : [CONDITIONED];
        assert.deepEqual(grants.map((s) => s.conditions), expected, `${name}: ${who} ${action}`);
      }
    }
  }
  assert.deepEqual(failures, []);
});

test('the evaluator with a context: conditions decide, unknown operators refuse to guess', () => {
  const cond = { 'ForAllValues:StringEquals': { k: ['a', 'b'] }, StringEqualsIfExists: { s: 'X' } };
  const p = { statements: [{ effect: 'Allow', actions: ['svc:Read'], notActions: [], resources: ['*'], notResources: [], conditions: cond }] };
  assert.equal(allowed(p, 'svc:Read', 'r', { k: ['a'], s: 'X' }), true);
  assert.equal(allowed(p, 'svc:Read', 'r', { k: ['a', 'c'] }), false);
  assert.equal(allowed(p, 'svc:Read', 'r', { k: ['b'], s: 'Y' }), false);
  assert.equal(allowed(p, 'svc:Read', 'r', {}), true, 'ForAllValues over an absent key holds, as in IAM');
  assert.equal(allowed(p, 'svc:Read', 'r'), true, 'no context: conditions ignored');
  const like = { statements: [{ ...p.statements[0], conditions: { StringLike: { a: ['arn:b', 'arn:b/p/*'] } } }] };
  assert.equal(allowed(like, 'svc:Read', 'r', { a: 'arn:b' }), true);
  assert.equal(allowed(like, 'svc:Read', 'r', { a: 'arn:b/p/o' }), true);
  assert.equal(allowed(like, 'svc:Read', 'r', { a: 'arn:bc' }), false);
  assert.equal(allowed(like, 'svc:Read', 'r', { a: 'arn:b/q/o' }), false);
  assert.equal(allowed(like, 'svc:Read', 'r', {}), false, 'StringLike needs the key');
  const other = { statements: [{ ...p.statements[0], conditions: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } }] };
  assert.throws(() => allowed(other, 'svc:Read', 'r', {}), /IpAddress/);
});
