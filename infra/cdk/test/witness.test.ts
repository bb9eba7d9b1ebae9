// The witness in the auditors' account (lib/witness.ts, lib/witness-stack.ts) and the log writer's
// side of a call to it (lib/transparency-log.ts, `-c witnesses` / `-c witnessFunctionArns`), proven on
// the synthesized templates with the policy evaluator of iam.test.ts (test/policy.ts): only the
// witness function signs with the witness key, and only Ed25519 over the raw message; it reads and
// advances its state table and does nothing else; only the given log writer role can call its
// Function URL (IAM auth), and only through the URL; the writer holds that right only with the context.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { checkWitnesses, Witnesses } from '../lib/transparency-log';
import { parseVkey, VKEY_TYPES } from '../lib/signed-note';
import { WitnessStack, WitnessStackProps } from '../lib/witness-stack';
import { allowed, conditionsHold, Context, glob, keyAllows, policiesOf, resolver, roleNamed, roleOf } from './policy';
import { ACCOUNT, REGION, placeholderAssets, prodTemplate } from './synth';

/** The log owner's account (the main stack's, synth.ts) and the auditors' (the witness stack's). */
const LOG_ACCOUNT = ACCOUNT;
const WITNESS_ACCOUNT = '210987654321';

/** A signed-note vkey of an Ed25519 key whose seed is 32 times `seed` (C2SP signed-note, as shared/core/src/integrity/witness.rs writes it). */
function vkey(name: string, type: number, seed: number): string {
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.alloc(32, seed)]); // PKCS#8 Ed25519
  const pub = Buffer.from(createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' }).x!, 'base64url');
  const bytes = Buffer.concat([Buffer.from([type]), pub]);
  const id = createHash('sha256').update(Buffer.concat([Buffer.from(`${name}\n`), bytes])).digest().subarray(0, 4).toString('hex');
  return `${name}+${id}+${bytes.toString('base64')}`;
}

/** The prod log's checkpoint key (its origin), and the witness's key under the name cdk.sh gives it. */
const LOG_VKEY = vkey('flagtrail/prod/seals', VKEY_TYPES.log, 1);
const WITNESS_NAME = 'witness.auditors.example/flagtrail';
const WITNESS_VKEY = vkey(WITNESS_NAME, VKEY_TYPES.witness, 2);
/** The main stack's log writer role as deployed (CDK names it; the LogWriterRoleArn output gives it). */
const WRITER = `arn:aws:iam::${LOG_ACCOUNT}:role/Flagtrail-prod-LogWriterRoleF7D5E3B1-AbCdEfGh1234`;
/** What the witness stack is given and gives back. */
const WITNESS_FN = `arn:aws:lambda:${REGION}:${WITNESS_ACCOUNT}:function:flagtrail-prod-witness`;
const WITNESS_URL = `https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.${REGION}.on.aws`;

/** The witness stack as cdk.sh synthesizes it (`-c witness=true …`), in the auditors' account, with `extra`. */
function witnessTemplate(extra: Partial<WitnessStackProps> = {}, id = 'FlagtrailWitness-prod'): any {
  const stack = new WitnessStack(new App(), id, {
    stage: 'prod',
    assetDir: placeholderAssets(),
    logVkeys: [LOG_VKEY],
    logWriterRoleArns: [WRITER],
    witnessName: WITNESS_NAME,
    alertEmail: 'audit@example.com',
    env: { account: WITNESS_ACCOUNT, region: REGION },
    ...extra,
  });
  return Template.fromStack(stack).toJSON();
}

/** The main stack with `witnesses` (`-c witnesses=… -c witnessFunctionArns=…`). */
function mainTemplate(witnesses?: Witnesses, id = 'WitnessWired'): any {
  return prodTemplate({ witnesses }, id);
}

const entries = (t: any, type: string): Array<[string, any]> => Object.entries<any>(t.Resources).filter(([, r]) => r.Type === type);

/**
 * Whether the function's resource-based policy (its AWS::Lambda::Permission resources) lets
 * `principal` take `action` in a request with condition keys `context`: a statement's Principal is
 * an ARN (that principal), an account (any principal of it) or `*`; FunctionUrlAuthType is the
 * condition lambda:FunctionUrlAuthType (StringEquals), InvokedViaFunctionUrl the condition
 * lambda:InvokedViaFunctionUrl (Bool). Any other property of a permission throws.
 */
function functionPolicyAllows(t: any, fnId: string, principal: string, action: string, context: Context): boolean {
  const resolve = resolver(t, WITNESS_ACCOUNT);
  return entries(t, 'AWS::Lambda::Permission').some(([, r]) => {
    const { Action, FunctionName, Principal, FunctionUrlAuthType, InvokedViaFunctionUrl, ...rest } = r.Properties;
    if (Object.keys(rest).length) throw new Error(`functionPolicyAllows does not know ${Object.keys(rest).join(', ')}`);
    if (FunctionName['Fn::GetAtt']?.[0] !== fnId) return false;
    const who = String(resolve(Principal));
    const matches = who === '*' || who === principal || (/^\d{12}$/.test(who) && principal.split(':')[4] === who);
    const conditions: Record<string, Record<string, unknown>> = {};
    if (FunctionUrlAuthType !== undefined) conditions.StringEquals = { 'lambda:FunctionUrlAuthType': FunctionUrlAuthType };
    if (InvokedViaFunctionUrl !== undefined) conditions.Bool = { 'lambda:InvokedViaFunctionUrl': String(InvokedViaFunctionUrl) };
    return matches && glob(Action, action, true) && conditionsHold(conditions, context);
  });
}

/** A call through the Function URL: both actions, each with the keys Lambda sets for it. */
const THROUGH_THE_URL: Array<[string, Context]> = [
  ['lambda:InvokeFunctionUrl', { 'lambda:FunctionUrlAuthType': 'AWS_IAM' }],
  ['lambda:InvokeFunction', { 'lambda:InvokedViaFunctionUrl': 'true' }],
];

test('only the witness function signs with the witness key, Ed25519 over the raw message only; the account administers it but cannot sign', () => {
  const t = witnessTemplate();
  const role = roleOf(t, 'WitnessFunction');
  const [keyId, key] = entries(t, 'AWS::KMS::Key').find(([id]) => id.startsWith('WitnessKey'))!;
  assert.equal(key.Properties.KeySpec, 'ECC_NIST_EDWARDS25519');
  assert.equal(key.Properties.KeyUsage, 'SIGN_VERIFY');
  assert.equal(key.DeletionPolicy, 'RetainExceptOnCreate', 'kept: its cosignatures stay verifiable');
  // [action, allowed for the witness role?]: Sign by name in the key policy; GetPublicKey through the account's statement and its own policy.
  const matrix: Array<[string, boolean]> = [
    ['kms:Sign', true],
    ['kms:GetPublicKey', true],
    ['kms:Verify', false],
    ['kms:CreateGrant', false],
    ['kms:PutKeyPolicy', false],
    ['kms:ScheduleKeyDeletion', false],
    ['kms:DisableKey', false],
    ['kms:Decrypt', false],
  ];
  const failures = matrix
    .filter(([action, want]) => keyAllows(t, 'WitnessKey', role, action, WITNESS_ACCOUNT) !== want)
    .map(([action, want]) => `witness role ${action}: should be ${want ? 'allowed' : 'denied'}`);
  assert.deepEqual(failures, []);
  const statements = [key.Properties.KeyPolicy.Statement].flat();
  // Sign: one statement, the witness role's, for Ed25519 over the raw message alone.
  const signs = statements.filter((s: any) => [s.Action].flat().some((a: string) => glob(a, 'kms:Sign', true)));
  assert.deepEqual(signs.map((s: any) => [s.Effect, s.Principal.AWS['Fn::GetAtt'][0], s.Condition]), [['Allow', role, { StringEquals: { 'kms:SigningAlgorithm': 'ED25519_SHA_512', 'kms:MessageType': 'RAW' } }]]);
  const sign = (context: Context) => conditionsHold(signs[0].Condition, context);
  assert.equal(sign({ 'kms:SigningAlgorithm': 'ED25519_SHA_512', 'kms:MessageType': 'RAW' }), true);
  assert.equal(sign({ 'kms:SigningAlgorithm': 'ED25519_PH_SHA_512', 'kms:MessageType': 'DIGEST' }), false, 'pre-hashed Ed25519');
  assert.equal(sign({ 'kms:SigningAlgorithm': 'ED25519_SHA_512', 'kms:MessageType': 'DIGEST' }), false);
  assert.equal(sign({ 'kms:SigningAlgorithm': 'ECDSA_SHA_256', 'kms:MessageType': 'RAW' }), false);
  // The account (any administrator of the auditors' account through IAM): no Sign, no CreateGrant,
  // so no IAM policy there can grant either; no one else is named.
  const account = statements.find((s: any) => s.Sid === 'AccountAdministersTheKeyButCannotSign');
  assert.ok(!account.Action.some((a: string) => glob(a, 'kms:Sign', true) || glob(a, 'kms:CreateGrant', true)) && account.Action.includes('kms:GetPublicKey'));
  assert.deepEqual(statements.map((s: any) => s.Sid).sort(), ['AccountAdministersTheKeyButCannotSign', 'WitnessSignsCosignatures']);
  assert.ok(statements.every((s: any) => s.Effect === 'Allow' && !JSON.stringify(s.Principal).includes('"*"')));
  // The function is told this key.
  const [, fn] = entries(t, 'AWS::Lambda::Function').find(([id]) => id.startsWith('WitnessFunction'))!;
  assert.deepEqual(fn.Properties.Environment.Variables.FLAGTRAIL_WITNESS_KEY_ID, { 'Fn::GetAtt': [keyId, 'Arn'] });
});

test('the witness role reads and advances its state and does nothing else, as IAM would evaluate its policies', () => {
  const t = witnessTemplate();
  const role = roleOf(t, 'WitnessFunction');
  const p = policiesOf(t, role, WITNESS_ACCOUNT);
  assert.deepEqual(p.managed, [], 'no managed policies (AWSLambdaBasicExecutionRole writes any log group)');
  const table = (name: string) => `arn:aws:dynamodb:${REGION}:${WITNESS_ACCOUNT}:table/${name}`;
  const state = table('flagtrail-prod-witness');
  const own = `arn:aws:logs:${REGION}:${WITNESS_ACCOUNT}:log-group:/aws/lambda/flagtrail-prod-witness`;
  const [keyId] = entries(t, 'AWS::KMS::Key').find(([id]) => id.startsWith('WitnessKey'))!;
  const key = `arn:aws:kms:${REGION}:${WITNESS_ACCOUNT}:key/${keyId}`;
  // [action, resource, allowed?]
  const matrix: Array<[string, string, boolean]> = [
    ['dynamodb:GetItem', state, true],
    ['dynamodb:PutItem', state, true],
    ['dynamodb:UpdateItem', state, false],
    ['dynamodb:DeleteItem', state, false],
    ['dynamodb:BatchWriteItem', state, false],
    ['dynamodb:BatchGetItem', state, false],
    ['dynamodb:Scan', state, false],
    ['dynamodb:Query', state, false],
    ['dynamodb:PartiQLInsert', state, false],
    ['dynamodb:PartiQLUpdate', state, false],
    ['dynamodb:PartiQLDelete', state, false],
    ['dynamodb:DeleteTable', state, false],
    ['dynamodb:UpdateTable', state, false],
    ['dynamodb:UpdateContinuousBackups', state, false],
    ['dynamodb:RestoreTableToPointInTime', state, false],
    ['dynamodb:GetItem', `${state}/index/any`, false],
    ['dynamodb:PutItem', table('some-other-table'), false],
    ['dynamodb:GetItem', table('flagtrail-dev-witness'), false],
    ['logs:CreateLogStream', `${own}:log-stream:x`, true],
    ['logs:PutLogEvents', `${own}:log-stream:x`, true],
    ['logs:PutLogEvents', `arn:aws:logs:${REGION}:${WITNESS_ACCOUNT}:log-group:/some/other/group:log-stream:x`, false],
    ['logs:DeleteLogGroup', own, false],
    ['logs:PutRetentionPolicy', own, false],
    ['kms:GetPublicKey', key, true],
    ['kms:Sign', key, false], // by name in the key policy only (above)
    ['kms:CreateGrant', key, false],
    ['kms:PutKeyPolicy', key, false],
    ['lambda:InvokeFunction', WITNESS_FN, false],
    ['lambda:UpdateFunctionConfiguration', WITNESS_FN, false],
    ['lambda:AddPermission', WITNESS_FN, false],
    ['lambda:UpdateFunctionUrlConfig', WITNESS_FN, false],
    ['iam:PassRole', `arn:aws:iam::${WITNESS_ACCOUNT}:role/any`, false],
    ['sts:AssumeRole', WRITER, false],
    ['s3:GetObject', 'arn:aws:s3:::any/log/checkpoint', false],
    ['sns:Publish', `arn:aws:sns:${REGION}:${WITNESS_ACCOUNT}:flagtrail-prod-witness-alarms`, false],
  ];
  const failures = matrix
    .filter(([action, resource, want]) => allowed(p, action, resource) !== want)
    .map(([action, resource, want]) => `witness role ${action} ${resource}: should be ${want ? 'allowed' : 'denied'}`);
  assert.deepEqual(failures, []);
  // The whole grant, spelled out: three statements, no wildcard action.
  assert.deepEqual(p.statements.map((s) => [s.effect, s.actions.slice().sort(), s.resources]), [
    ['Allow', ['logs:CreateLogStream', 'logs:PutLogEvents'], [`${own}:*`]],
    ['Allow', ['dynamodb:GetItem', 'dynamodb:PutItem'], [state]],
    ['Allow', ['kms:GetPublicKey'], [key]],
  ]);
});

test('the state table: origin key, on demand, point-in-time recovery, deletion protection, retained under a fixed name; the function as the runtime reads it', () => {
  const t = witnessTemplate();
  const [tableId, table] = entries(t, 'AWS::DynamoDB::Table').find(([id]) => id.startsWith('WitnessTable'))!;
  const p = table.Properties;
  assert.deepEqual(p.KeySchema, [{ AttributeName: 'origin', KeyType: 'HASH' }]);
  assert.deepEqual(p.AttributeDefinitions, [{ AttributeName: 'origin', AttributeType: 'S' }]);
  assert.equal(p.BillingMode, 'PAY_PER_REQUEST');
  assert.deepEqual(p.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
  assert.equal(p.DeletionProtectionEnabled, true);
  assert.equal(p.TableName, 'flagtrail-prod-witness', 'a re-created stack fails on the name instead of starting a witness with no memory');
  assert.equal(table.DeletionPolicy, 'Retain');
  assert.equal(table.UpdateReplacePolicy, 'Retain');
  assert.equal(p.StreamSpecification, undefined);
  const [fnId, fn] = entries(t, 'AWS::Lambda::Function').find(([id]) => id.startsWith('WitnessFunction'))!;
  const f = fn.Properties;
  assert.equal(f.FunctionName, 'flagtrail-prod-witness');
  assert.equal(f.Runtime, 'provided.al2023');
  assert.deepEqual(f.Architectures, ['x86_64']);
  assert.equal(f.ReservedConcurrentExecutions, 2);
  const vars = f.Environment.Variables;
  assert.deepEqual(Object.keys(vars).sort(), ['FLAGTRAIL_WITNESS_KEY_ID', 'FLAGTRAIL_WITNESS_LOG_KEYS', 'FLAGTRAIL_WITNESS_NAME', 'FLAGTRAIL_WITNESS_TABLE']);
  assert.deepEqual(vars.FLAGTRAIL_WITNESS_TABLE, { Ref: tableId });
  assert.equal(vars.FLAGTRAIL_WITNESS_NAME, WITNESS_NAME);
  assert.equal(vars.FLAGTRAIL_WITNESS_LOG_KEYS, LOG_VKEY);
  // -c architecture=arm64 (the bootstraps' build, FLAGTRAIL_LAMBDA_ARCH=arm64), two logs, the default name.
  const second = vkey('flagtrail/dev/seals', VKEY_TYPES.log, 3);
  const arm = witnessTemplate({ architecture: 'arm64', logVkeys: [LOG_VKEY, second], witnessName: undefined }, 'Arm');
  const [, armFn] = entries(arm, 'AWS::Lambda::Function').find(([id]) => id.startsWith('WitnessFunction'))!;
  assert.deepEqual(armFn.Properties.Architectures, ['arm64']);
  assert.equal(armFn.Properties.Environment.Variables.FLAGTRAIL_WITNESS_LOG_KEYS, `${LOG_VKEY},${second}`);
  assert.equal(armFn.Properties.Environment.Variables.FLAGTRAIL_WITNESS_NAME, 'flagtrail-witness/prod');
  // Its errors page the auditors' topic (TLS only), which the given address receives.
  const [, alarm] = entries(t, 'AWS::CloudWatch::Alarm').find(([, r]) => r.Properties.AlarmName === 'flagtrail-prod-WitnessErrors')!;
  // Function errors and the 5xx answers the function gives its own failures (Url5xxCount), summed.
  const metrics = alarm.Properties.Metrics;
  assert.equal(metrics.find((m: any) => m.ReturnData !== false).Expression, 'FILL(errors, 0) + FILL(url5xx, 0)');
  const byId = Object.fromEntries(metrics.filter((m: any) => m.MetricStat).map((m: any) => [m.Id, m.MetricStat]));
  for (const [id, name] of [['errors', 'Errors'], ['url5xx', 'Url5xxCount']]) {
    assert.equal(byId[id].Metric.Namespace, 'AWS/Lambda');
    assert.equal(byId[id].Metric.MetricName, name);
    assert.deepEqual(byId[id].Metric.Dimensions, [{ Name: 'FunctionName', Value: { Ref: fnId } }]);
    assert.equal(byId[id].Stat, 'Sum');
  }
  assert.equal(alarm.Properties.Threshold, 0);
  assert.equal(alarm.Properties.ComparisonOperator, 'GreaterThanThreshold');
  const [topicId] = entries(t, 'AWS::SNS::Topic').find(([, r]) => r.Properties.TopicName === 'flagtrail-prod-witness-alarms')!;
  assert.deepEqual(alarm.Properties.AlarmActions, [{ Ref: topicId }]);
  assert.deepEqual(entries(t, 'AWS::SNS::Subscription').map(([, r]) => [r.Properties.Protocol, r.Properties.Endpoint, r.Properties.TopicArn]), [['email', 'audit@example.com', { Ref: topicId }]]);
  const [, topicPolicy] = entries(t, 'AWS::SNS::TopicPolicy').find(([, r]) => r.Properties.Topics[0].Ref === topicId)!;
  assert.ok(topicPolicy.Properties.PolicyDocument.Statement.some((s: any) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false'));
  // What the auditors hand the log owner, and their vkey command's inputs.
  assert.deepEqual(Object.keys(t.Outputs).sort(), ['WitnessAlarmTopicArn', 'WitnessFunctionArn', 'WitnessKeyArn', 'WitnessName', 'WitnessTableName', 'WitnessUrl']);
  assert.deepEqual(t.Outputs.WitnessFunctionArn.Value, { 'Fn::GetAtt': [fnId, 'Arn'] });
  assert.equal(t.Outputs.WitnessName.Value, WITNESS_NAME);
});

test('only the given log writer role can call the Function URL (IAM auth), and only through the URL, with both permissions on both sides', () => {
  const w = witnessTemplate();
  const fnId = Object.keys(w.Resources).find((id) => w.Resources[id].Type === 'AWS::Lambda::Function' && id.startsWith('WitnessFunction'))!;
  assert.equal(resolver(w, WITNESS_ACCOUNT)({ 'Fn::GetAtt': [fnId, 'Arn'] }), WITNESS_FN);
  // The URL: one, IAM auth, on the function itself (no alias), no CORS.
  assert.deepEqual(entries(w, 'AWS::Lambda::Url').map(([, r]) => r.Properties), [{ AuthType: 'AWS_IAM', TargetFunctionArn: { 'Fn::GetAtt': [fnId, 'Arn'] } }]);
  // The function policy: the writer alone, two statements, each held to the URL.
  assert.deepEqual(entries(w, 'AWS::Lambda::Permission').map(([, r]) => [r.Properties.Principal, r.Properties.Action, r.Properties.FunctionUrlAuthType, r.Properties.InvokedViaFunctionUrl]), [
    [WRITER, 'lambda:InvokeFunctionUrl', 'AWS_IAM', undefined],
    [WRITER, 'lambda:InvokeFunction', undefined, true],
  ]);
  // The log owner's stack, wired to it (-c witnesses="URL VKEY" -c witnessFunctionArns=ARN).
  const main = mainTemplate({ witnesses: `${WITNESS_URL} ${WITNESS_VKEY}`, functionArns: [WITNESS_FN] });
  const writerRole = roleOf(main, 'LogWriterFunction');
  // A request from another account is allowed when the caller's own policies allow it and the
  // function's policy does too (urls-auth.html: "both an identity-based policy … and permissions
  // granted … in a resource-based policy"). Each caller: its identity policies and its ARN.
  const mainPolicies = (roleId: string) => policiesOf(main, roleId, LOG_ACCOUNT);
  const lambdaStar = { statements: [{ effect: 'Allow', actions: ['lambda:*'], notActions: [], resources: ['*'], notResources: [] }] };
  const callers: Array<[string, { statements: any[] }, string, boolean]> = [
    ['the log writer', mainPolicies(writerRole), WRITER, true],
    // Anyone else of the log owner's account, even with lambda:* on everything: the function policy refuses.
    ['an administrator of the log account (lambda:*)', lambdaStar, `arn:aws:iam::${LOG_ACCOUNT}:role/Administrator`, false],
    ['the log account itself', lambdaStar, `arn:aws:iam::${LOG_ACCOUNT}:root`, false],
    ['the audit function', mainPolicies(roleOf(main, 'AuditFunction')), `arn:aws:iam::${LOG_ACCOUNT}:role/Flagtrail-prod-AuditFunctionRole-X`, false],
    ['the auditor role', mainPolicies(roleNamed(main, 'AuditorRole')), `arn:aws:iam::${LOG_ACCOUNT}:role/flagtrail-prod-auditor`, false],
    ['a third account (lambda:*)', lambdaStar, 'arn:aws:iam::999999999999:role/Flagtrail-prod-LogWriterRoleF7D5E3B1-AbCdEfGh1234', false],
  ];
  const failures: string[] = [];
  for (const [who, identity, arn, want] of callers) {
    const got = THROUGH_THE_URL.every(([action, context]) => allowed(identity, action, WITNESS_FN, context) && functionPolicyAllows(w, fnId, arn, action, context));
    if (got !== want) failures.push(`${who}: a call through the URL ${got ? 'allowed' : 'refused'}, should be ${want ? 'allowed' : 'refused'}`);
  }
  // The writer, otherwise: never the Invoke API on the witness (either side refuses), never a URL
  // whose AuthType became NONE, never another function (its own policy refuses).
  const writer = mainPolicies(writerRole);
  const direct: Context = { 'lambda:InvokedViaFunctionUrl': 'false' };
  if (allowed(writer, 'lambda:InvokeFunction', WITNESS_FN, direct)) failures.push('writer identity: the Invoke API on the witness');
  if (functionPolicyAllows(w, fnId, WRITER, 'lambda:InvokeFunction', direct)) failures.push('function policy: the Invoke API for the writer');
  const none: Context = { 'lambda:FunctionUrlAuthType': 'NONE' };
  if (allowed(writer, 'lambda:InvokeFunctionUrl', WITNESS_FN, none)) failures.push('writer identity: a URL without IAM auth');
  if (functionPolicyAllows(w, fnId, WRITER, 'lambda:InvokeFunctionUrl', none)) failures.push('function policy: a URL without IAM auth');
  for (const other of [`arn:aws:lambda:${REGION}:${WITNESS_ACCOUNT}:function:flagtrail-prod-other`, `arn:aws:lambda:${REGION}:${LOG_ACCOUNT}:function:flagtrail-prod-audit`]) {
    for (const [action, context] of THROUGH_THE_URL) if (allowed(writer, action, other, context)) failures.push(`writer identity: ${action} on ${other}`);
  }
  // Both halves are needed: without the function policy's InvokeFunction (the October 2025 rule),
  // or without the writer's, the call is refused.
  for (const [action, context] of THROUGH_THE_URL) {
    if (!allowed(writer, action, WITNESS_FN, context)) failures.push(`writer identity lacks ${action}`);
    if (!functionPolicyAllows(w, fnId, WRITER, action, context)) failures.push(`function policy lacks ${action} for the writer`);
  }
  assert.deepEqual(failures, []);
  // Two log writers (two logs, or a role replaced): each gets both statements, nobody else.
  const two = witnessTemplate({ logWriterRoleArns: [WRITER, `arn:aws:iam::${WITNESS_ACCOUNT}:role/other-log-writer`] }, 'Two');
  assert.deepEqual(entries(two, 'AWS::Lambda::Permission').map(([, r]) => `${r.Properties.Principal} ${r.Properties.Action}`).sort(), [
    `${WRITER} lambda:InvokeFunction`, `${WRITER} lambda:InvokeFunctionUrl`,
    `arn:aws:iam::${WITNESS_ACCOUNT}:role/other-log-writer lambda:InvokeFunction`, `arn:aws:iam::${WITNESS_ACCOUNT}:role/other-log-writer lambda:InvokeFunctionUrl`,
  ].sort());
});

test('the log writer gets the witnesses, and the right to call their Function URLs, only with the context', () => {
  const writerVars = (t: any) => {
    const [, fn] = entries(t, 'AWS::Lambda::Function').find(([id]) => id.startsWith('LogWriterFunction'))!;
    return fn.Properties.Environment.Variables;
  };
  const lambdaActions = (t: any) => policiesOf(t, roleOf(t, 'LogWriterFunction')).statements.filter((s) => s.actions.some((a) => a.startsWith('lambda:')));
  // The README deploy: no witness, no lambda:* right.
  const plain = prodTemplate({}, 'NoWitness');
  assert.equal(writerVars(plain).FLAGTRAIL_WITNESSES, undefined);
  assert.deepEqual(lambdaActions(plain), []);
  // A witness on the internet (no Function URL): the variable, still no lambda:* right.
  const publicWitness = vkey('witness.example.org', VKEY_TYPES.witness, 4);
  const open = mainTemplate({ witnesses: `https://witness.example.org/flagtrail ${publicWitness}` }, 'PublicWitness');
  assert.equal(writerVars(open).FLAGTRAIL_WITNESSES, `https://witness.example.org/flagtrail ${publicWitness}`);
  assert.deepEqual(lambdaActions(open), []);
  // The auditors' witness and the public one: the variable as the runtime reads it (comma-separated
  // `URL VKEY`), and exactly the two statements, on exactly the witness's function.
  const both = mainTemplate({ witnesses: ` ${WITNESS_URL}  ${WITNESS_VKEY} , https://witness.example.org/flagtrail ${publicWitness}`, functionArns: [WITNESS_FN] }, 'BothWitnesses');
  assert.equal(writerVars(both).FLAGTRAIL_WITNESSES, `${WITNESS_URL} ${WITNESS_VKEY},https://witness.example.org/flagtrail ${publicWitness}`);
  assert.deepEqual(lambdaActions(both).map((s) => [s.effect, s.actions, s.resources, s.conditions]), [
    ['Allow', ['lambda:InvokeFunctionUrl'], [WITNESS_FN], { StringEquals: { 'lambda:FunctionUrlAuthType': 'AWS_IAM' } }],
    ['Allow', ['lambda:InvokeFunction'], [WITNESS_FN], { Bool: { 'lambda:InvokedViaFunctionUrl': 'true' } }],
  ]);
  // No other role of the stack may call it.
  const failures: string[] = [];
  for (const fnPrefix of ['AuditFunction', 'NotifyFunction', 'ReconcileFunction']) {
    for (const [action, context] of THROUGH_THE_URL) if (allowed(policiesOf(both, roleOf(both, fnPrefix)), action, WITNESS_FN, context)) failures.push(`${fnPrefix} ${action}`);
  }
  for (const [action, context] of THROUGH_THE_URL) if (allowed(policiesOf(both, roleNamed(both, 'AuditorRole')), action, WITNESS_FN, context)) failures.push(`Auditor ${action}`);
  assert.deepEqual(failures, []);
  // What the auditors admit: the writer's role, an output of the main stack.
  assert.deepEqual(plain.Outputs.LogWriterRoleArn.Value, { 'Fn::GetAtt': [roleOf(plain, 'LogWriterFunction'), 'Arn'] });
});

test('vkeys, role and function ARNs are checked at synth time, the way the runtime checks them', () => {
  // A vkey published by someone else: Go's checksum database (golang.org/x/mod/sumdb/note), whose
  // key id and base64 (with '+' in it) the parser must read as C2SP signed-note defines them.
  assert.deepEqual(parseVkey('sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8', VKEY_TYPES.log, 'x'), { name: 'sum.golang.org', keyId: '033de0ae' });
  // The format the runtime writes (shared/core/src/integrity/witness.rs): name, key id, type and key.
  assert.deepEqual(parseVkey(LOG_VKEY, VKEY_TYPES.log, 'x'), { name: 'flagtrail/prod/seals', keyId: LOG_VKEY.split('+')[1] });
  assert.equal(parseVkey(WITNESS_VKEY, VKEY_TYPES.witness, 'x').name, WITNESS_NAME);
  const flip = (v: string) => v.replace(/\+([0-9a-f])/, (_, c) => `+${c === '0' ? '1' : '0'}`);
  const ok = `${WITNESS_URL} ${WITNESS_VKEY}`;
  const refused: Array<[string, () => void, RegExp]> = [
    ['a mistyped key id', () => parseVkey(flip(LOG_VKEY), VKEY_TYPES.log, '-c logVkey'), /key id does not match/],
    ['a log key given as a witness key', () => checkWitnesses({ witnesses: `${WITNESS_URL} ${LOG_VKEY}` }), /key type 0x01, expected 0x04/],
    ['a truncated key', () => parseVkey(LOG_VKEY.slice(0, -4), VKEY_TYPES.log, '-c logVkey'), /bytes/],
    ['no vkey', () => checkWitnesses({ witnesses: WITNESS_URL }), /not "URL VKEY"/],
    ['plain http', () => checkWitnesses({ witnesses: `http://witness.example.org ${WITNESS_VKEY}` }), /https/],
    ['a witness twice', () => checkWitnesses({ witnesses: `${ok},https://witness.example.org ${WITNESS_VKEY}`, functionArns: [WITNESS_FN] }), /named twice/],
    ['a Function URL without its ARN', () => checkWitnesses({ witnesses: ok }), /witnessFunctionArns/],
    ['an ARN without a Function URL', () => checkWitnesses({ witnesses: `https://witness.example.org ${WITNESS_VKEY}`, functionArns: [WITNESS_FN] }), /never uses/],
    ['a wildcard ARN', () => checkWitnesses({ witnesses: ok, functionArns: [`arn:aws:lambda:${REGION}:${WITNESS_ACCOUNT}:function:*`] }), /not a whole/],
    ['a qualified ARN', () => checkWitnesses({ witnesses: ok, functionArns: [`${WITNESS_FN}:live`] }), /not a whole/],
    ['no log key', () => witnessTemplate({ logVkeys: [] }, 'NoLog'), /logVkey/],
    ['a witness key as the log key', () => witnessTemplate({ logVkeys: [WITNESS_VKEY] }, 'WrongType'), /key type 0x04, expected 0x01/],
    ['one origin twice', () => witnessTemplate({ logVkeys: [LOG_VKEY, vkey('flagtrail/prod/seals', VKEY_TYPES.log, 5)] }, 'Twice'), /two keys of one origin/],
    ['no log writer', () => witnessTemplate({ logWriterRoleArns: [] }, 'NoWriter'), /logWriterRoleArn/],
    ['an account instead of a role', () => witnessTemplate({ logWriterRoleArns: [`arn:aws:iam::${LOG_ACCOUNT}:root`] }, 'Root'), /not an IAM role ARN/],
    ['a wildcard role', () => witnessTemplate({ logWriterRoleArns: [`arn:aws:iam::${LOG_ACCOUNT}:role/*`] }, 'Star'), /not an IAM role ARN/],
    ['a name with a space', () => witnessTemplate({ witnessName: 'my witness' }, 'Space'), /witnessName/],
    ['a name with a plus', () => witnessTemplate({ witnessName: 'a+b' }, 'Plus'), /witnessName/],
  ];
  const failures: string[] = [];
  for (const [what, run, message] of refused) {
    try {
      run();
      failures.push(`${what}: accepted`);
    } catch (e) {
      if (!message.test(String((e as Error).message))) failures.push(`${what}: ${(e as Error).message}`);
    }
  }
  assert.deepEqual(failures, []);
  checkWitnesses({ witnesses: ok, functionArns: [WITNESS_FN] });
});

test('the witness stack\'s stateful resources keep their logical IDs', () => {
  const t = witnessTemplate();
  const stateful = ['AWS::DynamoDB::Table', 'AWS::KMS::Key', 'AWS::Logs::LogGroup', 'AWS::SNS::Subscription', 'AWS::SNS::Topic'];
  const ids = Object.entries<any>(t.Resources).filter(([, r]) => stateful.includes(r.Type)).map(([id, r]) => `${r.Type} ${id}`).sort();
  // The key's ARN is in the vkey every verifier holds; the table is the witness's memory.
  assert.deepEqual(ids, [
    'AWS::DynamoDB::Table WitnessTableCB634BC9',
    'AWS::KMS::Key WitnessKeyEEEFD4BC',
    'AWS::Logs::LogGroup WitnessFunctionLogs30515239',
    'AWS::SNS::Subscription WitnessAlarmTopicauditexamplecom1AA13CB4',
    'AWS::SNS::Topic WitnessAlarmTopic689FF4C4',
  ]);
});
