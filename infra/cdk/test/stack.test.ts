// Properties of the synthesized stack, including the negative ones (no wildcard actions anywhere).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FlagtrailStack, FlagtrailProps, SLACK_READ_ACTIONS } from '../lib/flagtrail-stack';
import { placeholderAssets, prodStack } from './synth';

function synth(extra: Partial<FlagtrailProps> = {}, nag = false): { template: Template; app: App; stack: FlagtrailStack } {
  const app = new App();
  const stack = prodStack(extra, 'Test', app);
  if (nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { template: Template.fromStack(stack), app, stack };
}

const base = synth();
const t = base.template;

function resources(template: Template, type: string): Array<[string, any]> {
  return Object.entries(template.findResources(type));
}

function mapping(kind: 'Audit' | 'Notify'): any {
  const fns = resources(t, 'AWS::Lambda::Function').find(([id]) => id.startsWith(`${kind}Function`))!;
  return resources(t, 'AWS::Lambda::EventSourceMapping').find(([, r]) => r.Properties.FunctionName.Ref === fns[0])![1].Properties;
}

test('attaches to the existing table stream with one mapping per function', () => {
  // The stack's only table is the freshness marks table: the flag table is attached, not created.
  assert.deepEqual(resources(t, 'AWS::DynamoDB::Table').map(([, r]) => r.Properties.TableName), ['flagtrail-prod-marks']);
  t.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
  for (const kind of ['Audit', 'Notify'] as const) {
    const m = mapping(kind);
    assert.equal(m.EventSourceArn, 'arn:aws:dynamodb:eu-west-1:123456789012:table/feature-flags-prod/stream/2026-11-01T00:00:00.000');
    assert.deepEqual(m.FunctionResponseTypes, ['ReportBatchItemFailures']);
    assert.equal(m.BisectBatchOnFunctionError, true);
    assert.ok(m.MaximumRetryAttempts > 0 && m.MaximumRetryAttempts <= 10, 'bounded retries');
    assert.ok(m.MaximumRecordAgeInSeconds > 0 && m.MaximumRecordAgeInSeconds < 24 * 3600, 'a poison batch cannot hold the shard for 24 h');
    assert.ok(m.DestinationConfig.OnFailure.Destination['Fn::GetAtt'][0].startsWith('FailureBucket'), 'whole records to S3, not metadata to SQS');
    assert.equal(m.BatchSize, 1000);
  }
  assert.equal(mapping('Audit').MaximumBatchingWindowInSeconds, 1, 'audit gathers records for a second');
  assert.equal(mapping('Audit').StartingPosition, 'TRIM_HORIZON', 'the trail misses nothing the stream holds');
  assert.equal(mapping('Notify').StartingPosition, 'LATEST', 'a first deploy does not replay a day of pages');
  assert.ok(!mapping('Notify').MaximumBatchingWindowInSeconds, 'notify is invoked as soon as records arrive');
  assert.equal(mapping('Audit').FilterCriteria, undefined, 'every record is audited');
  const patterns = mapping('Notify').FilterCriteria.Filters.map((f: any) => JSON.parse(f.Pattern));
  assert.deepEqual(patterns.map((p: any) => p.dynamodb.Keys.PK.S[0].prefix), ['FLAG#', 'KILLSWITCH#']);
});

test('the freshness marks table: key `mark` only, on-demand, KMS (AWS managed key), PITR; its name reaches notify', () => {
  const [[marksId, marks]] = resources(t, 'AWS::DynamoDB::Table');
  const p = marks.Properties;
  assert.equal(p.TableName, 'flagtrail-prod-marks');
  assert.deepEqual(p.KeySchema, [{ AttributeName: 'mark', KeyType: 'HASH' }], 'partition key only, no sort key');
  assert.deepEqual(p.AttributeDefinitions, [{ AttributeName: 'mark', AttributeType: 'S' }]);
  assert.equal(p.BillingMode, 'PAY_PER_REQUEST');
  assert.equal(p.ProvisionedThroughput, undefined);
  // SSEEnabled without a key id: KMS with the AWS managed key aws/dynamodb (false or absent would
  // be the AWS owned key), so evaluators of the account read with IAM alone (lib/marks.ts).
  assert.deepEqual(p.SSESpecification, { SSEEnabled: true });
  assert.deepEqual(p.PointInTimeRecoverySpecification, { PointInTimeRecoveryEnabled: true });
  assert.equal(p.StreamSpecification, undefined, 'nothing consumes a stream of the marks');
  assert.equal(marks.DeletionPolicy, 'Delete', 'derived data: notify rewrites it');
  const fns = resources(t, 'AWS::Lambda::Function');
  const vars = (prefix: string) => fns.find(([id]) => id.startsWith(prefix))![1].Properties.Environment.Variables;
  assert.deepEqual(vars('NotifyFunction').FLAGTRAIL_MARKS_TABLE, { Ref: marksId }, 'notify gets the table name');
  for (const other of ['AuditFunction', 'ReconcileFunction']) assert.equal(vars(other).FLAGTRAIL_MARKS_TABLE, undefined, other);
  const outputs = t.toJSON().Outputs;
  assert.deepEqual(outputs.MarksTableName.Value, { Ref: marksId });
  // The evaluators' read policy: named, read-only, this table only, attached to nothing in the stack.
  const [policyId, policy] = resources(t, 'AWS::IAM::ManagedPolicy').find(([, r]) => r.Properties.ManagedPolicyName === 'flagtrail-prod-evaluator-read')!;
  assert.deepEqual(policy.Properties.PolicyDocument.Statement, [
    { Sid: 'ReadFreshnessMarks', Effect: 'Allow', Action: ['dynamodb:BatchGetItem', 'dynamodb:GetItem'], Resource: { 'Fn::GetAtt': [marksId, 'Arn'] } },
  ]);
  assert.equal(policy.Properties.Roles ?? policy.Properties.Users ?? policy.Properties.Groups, undefined);
  assert.deepEqual(outputs.EvaluatorReadPolicyArn.Value, { Ref: policyId });
  // With the demo flag table, the marks table is a second, separate table.
  const demo = synth({ createDemoTable: true, tableStreamArn: undefined }).template;
  assert.deepEqual(resources(demo, 'AWS::DynamoDB::Table').map(([, r]) => r.Properties.TableName).sort(), ['feature-flags-prod', 'flagtrail-prod-marks']);
});

test('can create a demo table with a NEW_AND_OLD_IMAGES stream', () => {
  const demo = synth({ createDemoTable: true, tableStreamArn: undefined }).template;
  demo.hasResourceProperties('AWS::DynamoDB::Table', {
    KeySchema: [{ AttributeName: 'PK', KeyType: 'HASH' }, { AttributeName: 'SK', KeyType: 'RANGE' }],
    StreamSpecification: { StreamViewType: 'NEW_AND_OLD_IMAGES' },
  });
});

test('attaching without a stream ARN is refused with a clear message', () => {
  assert.throws(() => synth({ tableStreamArn: undefined }), /tableStreamArn/);
});

test('functions run the bootstraps with the variables the Rust config reads', () => {
  const shared = path.join(__dirname, '..', '..', '..', 'shared');
  const rust = ['runtime', 'core'].map((c) => fs.readFileSync(path.join(shared, c, 'src', 'config.rs'), 'utf8')).join('\n');
  const required = [...rust.matchAll(/vars\.required\("([A-Z_]+)"\)|arn\("([A-Z_]+)"\)/g)].map((m) => m[1] ?? m[2]);
  assert.ok(required.includes('FLAGTRAIL_AUDIT_LOG_GROUP') && required.includes('FLAGTRAIL_ALERT_TOPIC_ARN'));
  const fns = resources(t, 'AWS::Lambda::Function');
  assert.equal(fns.length, 4);
  for (const [id, fn] of fns) {
    const p = fn.Properties;
    assert.equal(p.Runtime, 'provided.al2023');
    assert.equal(p.Handler, 'bootstrap');
    assert.deepEqual(p.Architectures, ['x86_64']);
    assert.ok(p.MemorySize >= 128 && p.Timeout >= 30, `${id}: sized for a full batch`);
    const vars = Object.keys(p.Environment.Variables);
    const mine = id.startsWith('Audit')
      ? ['FLAGTRAIL_AUDIT_LOG_GROUP']
      : id.startsWith('Reconcile')
        ? ['FLAGTRAIL_TABLE', 'FLAGTRAIL_AUDIT_LOG_GROUP']
        : id.startsWith('LogWriter')
          ? ['FLAGTRAIL_AUDIT_LOG_GROUP', 'FLAGTRAIL_LOG_BUCKET', 'FLAGTRAIL_CHECKPOINT_KEY_ID']
          : ['FLAGTRAIL_ALERT_TOPIC_ARN', 'FLAGTRAIL_INVALIDATION_TOPIC_ARN'];
    for (const v of mine) assert.ok(vars.includes(v) && required.includes(v), `${id} sets ${v}`);
    for (const v of vars.filter((v) => v.startsWith('FLAGTRAIL_'))) assert.ok(rust.includes(`"${v}"`), `${v} is read by the Rust code`);
  }
  const arm = synth({ architecture: 'arm64' }).template;
  arm.hasResourceProperties('AWS::Lambda::Function', { Architectures: ['arm64'] });
});

test('what outlives the stack is retained on deletion and replacement, but not after a failed creation (RetainExceptOnCreate)', () => {
  // A failed first deploy rolls back and deletes them (empty: nothing is archived or audited yet,
  // and the retry replays the stream), instead of leaving a named log group that makes the retry
  // fail with "already exists", two keys and the buckets.
  const kept = (template: Template) =>
    Object.entries<any>(template.toJSON().Resources)
      .filter(([, r]) => (r.DeletionPolicy ?? 'Delete') !== 'Delete' || (r.UpdateReplacePolicy ?? 'Delete') !== 'Delete')
      .map(([id, r]) => [id.replace(/[0-9A-F]{8}$/, ''), r.Type, r.DeletionPolicy, r.UpdateReplacePolicy])
      .sort();
  const want = [
    ['AccessLogBucket', 'AWS::S3::Bucket'],
    ['ArchiveBucket', 'AWS::S3::Bucket'],
    ['AuditLogGroup', 'AWS::Logs::LogGroup'],
    ['CheckpointKey', 'AWS::KMS::Key'],
    ['FailureBucket', 'AWS::S3::Bucket'],
    ['Key', 'AWS::KMS::Key'],
    ['ReconcileStateBucket', 'AWS::S3::Bucket'],
    ['SealKey', 'AWS::KMS::Key'],
  ].map(([id, type]) => [id, type, 'RetainExceptOnCreate', 'Retain']);
  assert.deepEqual(kept(t), want);
  assert.deepEqual(kept(synth({ stage: 'dev', dataProtection: true }).template), want);
  // The demo's own table is derived test data: deleted with the stack.
  assert.deepEqual(kept(synth({ createDemoTable: true, tableStreamArn: undefined }).template), want);
});

test('the audit log group is encrypted, retained, and kept a year by default', () => {
  t.hasResource('AWS::Logs::LogGroup', {
    DeletionPolicy: 'RetainExceptOnCreate',
    UpdateReplacePolicy: 'Retain',
    Properties: { LogGroupName: '/flagtrail/prod/audit', RetentionInDays: 365, KmsKeyId: Match.anyValue() },
  });
  assert.equal(JSON.stringify(t.findResources('AWS::Logs::LogGroup')).includes('DataProtectionPolicy'), false);
  synth({ auditRetention: logs.RetentionDays.FIVE_YEARS }).template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/flagtrail/prod/audit', RetentionInDays: 1827 });
  const dp = synth({ dataProtection: true }).template;
  dp.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/flagtrail/prod/audit', DataProtectionPolicy: Match.anyValue() });
  t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
});

test('alert and invalidation topics are encrypted, the alarm topic on no key; e-mail gets only what pages; Slack is optional', () => {
  for (const [id, topic] of resources(t, 'AWS::SNS::Topic')) {
    // Paging must not depend on a key that can be disabled (and that the tamper rules watch).
    if (id.startsWith('AlarmTopic')) assert.equal(topic.Properties.KmsMasterKeyId, undefined, 'the alarm topic needs no key');
    else assert.ok(topic.Properties.KmsMasterKeyId, `${id} encrypted`);
  }
  // Nothing but CloudWatch Logs, and the account through IAM, uses the stack key: no service is
  // granted it for the alarm topic any more.
  const keyPolicy = JSON.stringify(resources(t, 'AWS::KMS::Key').find(([id]) => id.startsWith('Key'))![1].Properties.KeyPolicy);
  assert.ok(!keyPolicy.includes('cloudwatch.amazonaws.com') && !keyPolicy.includes('events.amazonaws.com'), keyPolicy);
  t.resourceCountIs('AWS::SNS::Subscription', 0);
  t.resourceCountIs('AWS::Chatbot::SlackChannelConfiguration', 0);
  const opt = synth({ alertEmail: 'oncall@example.com', slack: { workspaceId: 'T0123', channelId: 'C0456' } }).template;
  opt.hasResourceProperties('AWS::SNS::Subscription', {
    Protocol: 'email',
    Endpoint: 'oncall@example.com',
    FilterPolicy: { severity: ['critical', 'high'] },
  });
  opt.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', { SlackWorkspaceId: 'T0123', SlackChannelId: 'C0456' });
});

test('discarded batches land whole in an encrypted, private, versioned, retained bucket', () => {
  t.resourceCountIs('AWS::SQS::Queue', 0);
  const [[bucketId, bucket]] = resources(t, 'AWS::S3::Bucket');
  assert.equal(bucket.DeletionPolicy, 'RetainExceptOnCreate');
  assert.equal(bucket.UpdateReplacePolicy, 'Retain');
  const p = bucket.Properties;
  assert.equal(p.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm, 'aws:kms');
  assert.deepEqual(p.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
  assert.equal(p.VersioningConfiguration.Status, 'Enabled');
  assert.ok(p.LifecycleConfiguration.Rules.length >= 2);
  // Discarded batches page from S3's "Object Created" events under Lambda's prefix, not from
  // best-effort request metrics (issue 20 item 4).
  assert.equal(p.MetricsConfigurations, undefined, 'no request metrics');
  assert.deepEqual(p.NotificationConfiguration, { EventBridgeConfiguration: { EventBridgeEnabled: true } });
  assert.equal(resources(t, 'Custom::S3BucketNotifications').length, 0, 'on the bucket itself, no notifications custom resource');
  assert.ok(!resources(t, 'AWS::CloudWatch::Alarm').some(([, a]) => a.Properties.AlarmName === 'flagtrail-prod-DiscardedBatches'));
  const discarded = resources(t, 'AWS::Events::Rule').map(([, r]) => r.Properties).find((r) => r.Name === 'flagtrail-prod-DiscardedBatches');
  assert.deepEqual(discarded.EventPattern, {
    source: ['aws.s3'],
    'detail-type': ['Object Created'],
    detail: { bucket: { name: [{ Ref: bucketId }] }, object: { key: [{ prefix: 'aws/lambda/' }] } },
  }, 'Object Created only: redrive tags objects (Object Tags Added)');
  assert.ok(discarded.Targets[0].Arn.Ref.startsWith('AlarmTopic'));
  const audit = resources(t, 'AWS::Lambda::Function').find(([id]) => id.startsWith('AuditFunction'))![1];
  assert.equal(audit.Properties.Environment.Variables.FLAGTRAIL_AUDIT_RETENTION_DAYS, '365');
});

test('alarms page through the alarm topic, which the e-mail receives unfiltered', () => {
  const alarms = resources(t, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties);
  const names = alarms.map((a) => a.AlarmName).sort();
  for (const n of ['ProductionFlagChange', 'QuarantinedRecords', 'AuditErrors', 'NotifyErrors', 'AuditIteratorAge', 'NotifyIteratorAge', 'UnattributedChangesprod', 'UnattributedChangesproduction', 'ReconcileFindings', 'ReconcileErrors', 'LogWriterErrors']) {
    assert.ok(names.includes(`flagtrail-prod-${n}`), `alarm ${n}`);
  }
  const prod = alarms.find((a) => a.AlarmName === 'flagtrail-prod-ProductionFlagChange');
  assert.equal(prod.MetricName, 'ProductionFlagChange');
  assert.equal(prod.Namespace, 'Flagtrail');
  assert.equal(prod.Threshold, 0);
  assert.equal(prod.ComparisonOperator, 'GreaterThanThreshold');
  assert.equal(prod.Dimensions, undefined, 'the dimensionless series the functions emit');
  for (const a of alarms) assert.ok(a.AlarmActions[0].Ref.startsWith('AlarmTopic'), `${a.AlarmName} notifies the alarm topic`);
  const opt = synth({ alertEmail: 'oncall@example.com', slack: { workspaceId: 'T0123', channelId: 'C0456' } }).template;
  const subsOf = (prefix: string) =>
    resources(opt, 'AWS::SNS::Subscription').map(([, s]) => s.Properties).filter((s) => s.TopicArn.Ref.startsWith(prefix));
  assert.deepEqual(subsOf('AlarmTopic').map((s) => [s.Protocol, s.FilterPolicy]), [['email', undefined]], 'alarms carry no attributes: no filter');
  const slack = resources(opt, 'AWS::Chatbot::SlackChannelConfiguration')[0][1].Properties;
  assert.equal(slack.SnsTopicArns.length, 3, 'Slack gets alerts, alarms and the pipeline\'s own changes');
  const guardrail = JSON.stringify(slack.GuardrailPolicies);
  assert.ok(!guardrail.includes('ReadOnlyAccess'), 'not the whole account');
});

test('changes to what protects the trail page through the alarm topic, published only by those rules', () => {
  const patterned = resources(t, 'AWS::Events::Rule').filter(([, r]) => r.Properties.EventPattern);
  const rules = patterned.filter(([, r]) => r.Properties.EventPattern['detail-type'][0] === 'AWS API Call via CloudTrail');
  const by = (source: string) => rules.filter(([, r]) => r.Properties.EventPattern.source[0] === source).map(([, r]) => r.Properties);
  const names = (source: string) => new Set(by(source).flatMap((r) => r.EventPattern.detail.eventName));
  for (const a of ['DeleteLogGroup', 'DeleteLogStream', 'PutRetentionPolicy', 'DeleteSubscriptionFilter', 'PutSubscriptionFilter', 'DisassociateKmsKey']) {
    assert.ok(names('aws.logs').has(a), `logs ${a}`);
  }
  for (const a of ['ScheduleKeyDeletion', 'DisableKey', 'PutKeyPolicy']) assert.ok(names('aws.kms').has(a), `kms ${a}`);
  for (const a of ['PutBucketPolicy', 'PutObjectLockConfiguration', 'PutBucketVersioning', 'PutBucketLifecycle']) assert.ok(names('aws.s3').has(a), `s3 ${a}`);
  assert.ok(names('aws.firehose').has('DeleteDeliveryStream'));
  // The source and the watchers: the stream turned off, the functions or their mappings changed,
  // the alarms silenced, the alarm topic or these rules changed.
  assert.ok(names('aws.dynamodb').has('UpdateTable') && names('aws.dynamodb').has('DeleteTable'));
  const lambdaNames = JSON.stringify([...names('aws.lambda')]);
  for (const a of ['UpdateFunctionConfiguration', 'PutFunctionConcurrency', 'UpdateEventSourceMapping', 'DeleteEventSourceMapping']) {
    assert.ok(lambdaNames.includes(`{"prefix":"${a}"}`), `lambda ${a}, by prefix: CloudTrail adds the API version`);
  }
  assert.ok(names('aws.monitoring').has('DisableAlarmActions'));
  assert.ok(names('aws.sns').has('SetTopicAttributes') && names('aws.sns').has('Unsubscribe'));
  assert.ok(names('aws.events').has('DisableRule') && names('aws.events').has('RemoveTargets'));
  const silenced = by('aws.monitoring').find((r) => r.Name.endsWith('AlarmsSilenced')).EventPattern.detail.requestParameters.alarmNames;
  assert.equal(silenced.length, resources(t, 'AWS::CloudWatch::Alarm').length, 'every alarm of the stack');
  // The audit group by name and, where the API takes an identifier, by ARN; both keys by ID and ARN.
  const params = (source: string) => JSON.stringify(by(source).map((r) => r.EventPattern.detail.requestParameters));
  for (const p of ['logGroupName', 'logGroupIdentifier']) assert.ok(params('aws.logs').includes(p), p);
  for (const k of ['SealKey', 'Key961B73FD', 'CheckpointKey']) {
    assert.ok(params('aws.kms').includes(`{"Ref":"${k}`), `${k} by ID`);
    assert.ok(params('aws.kms').includes(`{"Fn::GetAtt":["${k}`), `${k} by ARN`);
  }
  for (const b of ['ArchiveBucket', 'FailureBucket', 'AccessLogBucket', 'ReconcileStateBucket']) assert.ok(params('aws.s3').includes(`{"Ref":"${b}`), b);
  for (const [, r] of rules) {
    assert.equal(r.Properties.EventPattern['detail-type'][0], 'AWS API Call via CloudTrail');
    assert.ok(r.Properties.Targets.every((x: any) => x.Arn.Ref.startsWith('AlarmTopic')), 'pages through the alarm topic');
  }
  // EventBridge may publish to the alarm topic for these rules only.
  const publish = resources(t, 'AWS::SNS::TopicPolicy')
    .flatMap(([, p]) => p.Properties.PolicyDocument.Statement)
    .filter((s: any) => s.Principal?.Service === 'events.amazonaws.com');
  assert.deepEqual(publish.map((s: any) => s.Sid).sort(), ['DiscardedBatchesPublish', 'TamperRulesPublish']);
  for (const s of publish) assert.deepEqual(s.Action, 'sns:Publish');
  assert.equal(publish.flatMap((s: any) => s.Condition.ArnEquals['aws:SourceArn']).length, patterned.length);
});

test('the completeness check runs hourly and may only read the table and the trail and keep its state (and, taking the baseline, write it)', () => {
  const rules = resources(t, 'AWS::Events::Rule').map(([, r]) => r.Properties);
  assert.ok(rules.some((r) => r.ScheduleExpression === 'rate(1 hour)' && r.Targets[0].Arn['Fn::GetAtt'][0].startsWith('ReconcileFunction')));
  // Its role's grants by statement id (iam.test.ts evaluates them).
  const grants = (template: Template) => {
    const policy = resources(template, 'AWS::IAM::Policy').find(([id]) => id.startsWith('ReconcileRole'))![1];
    return Object.fromEntries(policy.Properties.PolicyDocument.Statement.filter((s: any) => s.Effect === 'Allow').map((s: any) => [s.Sid, [s.Action].flat().sort()]));
  };
  const always = {
    WriteOwnLogs: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    FindTheState: ['s3:ListBucket'],
    ReadAndReplaceTheState: ['s3:GetObject', 's3:PutObject'],
    EncryptTheState: ['kms:Decrypt', 'kms:GenerateDataKey'],
    ReadTheCheckAttributes: ['dynamodb:GetItem', 'dynamodb:Scan'],
    ReadTheAuditTrail: ['logs:FilterLogEvents'],
  };
  const baseline = { ScanWholeItemsForTheBaseline: ['dynamodb:Scan'], WriteBaselineRecords: ['logs:CreateLogStream', 'logs:PutLogEvents'] };
  const demo = { createDemoTable: true, tableStreamArn: undefined };
  assert.deepEqual(grants(t), { ...always, ...baseline }, 'attached: the baseline on by default');
  assert.deepEqual(grants(synth({ baselineOnFirstRun: false }).template), always);
  assert.deepEqual(grants(synth(demo).template), always, 'the demo table: nothing predates the trail');
  assert.deepEqual(grants(synth({ ...demo, baselineOnFirstRun: true }).template), { ...always, ...baseline });
  const [, role] = resources(t, 'AWS::IAM::Role').find(([id]) => id.startsWith('ReconcileRole'))!;
  assert.equal(role.Properties.ManagedPolicyArns, undefined, 'no AWS managed policy');
});

test('the completeness check: one 15-minute run at a time, its state bucket, the mappings\' grace period, the baseline by configuration', () => {
  const fn = (template: Template) => resources(template, 'AWS::Lambda::Function').find(([id]) => id.startsWith('ReconcileFunction'))![1].Properties;
  const p = fn(t);
  assert.equal(p.Timeout, 900, 'Lambda\'s maximum: a first run may baseline a large table');
  assert.equal(p.ReservedConcurrentExecutions, 1, 'a single writer of the state');
  const vars = p.Environment.Variables;
  const [stateId] = resources(t, 'AWS::S3::Bucket').find(([id]) => id.startsWith('ReconcileStateBucket'))!;
  const [sealId] = resources(t, 'AWS::KMS::Key').find(([id]) => id.startsWith('SealKey'))!;
  assert.deepEqual(vars.FLAGTRAIL_STATE_BUCKET, { Ref: stateId });
  assert.equal(vars.FLAGTRAIL_STATE_KEY, undefined, 'the runtime\'s default, reconcile/state.jsonl.gz: under the granted prefix');
  // 6 h of maximum record age + 15 min, from the mapping's own value.
  assert.equal(vars.FLAGTRAIL_RECONCILE_GRACE_SECONDS, '22500');
  assert.equal(Number(vars.FLAGTRAIL_RECONCILE_GRACE_SECONDS), mapping('Audit').MaximumRecordAgeInSeconds + 15 * 60);
  assert.equal(mapping('Notify').MaximumRecordAgeInSeconds, mapping('Audit').MaximumRecordAgeInSeconds);
  assert.equal(vars.FLAGTRAIL_BASELINE_ON_FIRST_RUN, 'true', 'attached: the table predates the trail');
  assert.deepEqual(vars.FLAGTRAIL_SEAL_KEY_ID, { 'Fn::GetAtt': [sealId, 'Arn'] });
  // The runtime's defaults unless a prop is given.
  for (const v of ['FLAGTRAIL_SCAN_SEGMENTS', 'FLAGTRAIL_SCAN_READ_UNITS_PER_SECOND', 'FLAGTRAIL_LOGS_REQUESTS_PER_SECOND', 'FLAGTRAIL_RECONCILE_OVERLAP_SECONDS']) assert.equal(vars[v], undefined, v);
  for (const [what, extra] of [['-c baselineOnFirstRun=false', { baselineOnFirstRun: false }], ['the demo table', { createDemoTable: true, tableStreamArn: undefined }]] as const) {
    const v = fn(synth(extra).template).Environment.Variables;
    assert.equal(v.FLAGTRAIL_BASELINE_ON_FIRST_RUN, undefined, what);
    assert.equal(v.FLAGTRAIL_SEAL_KEY_ID, undefined, what);
    assert.ok(v.FLAGTRAIL_STATE_BUCKET, `${what}: the state is kept all the same`);
  }
  assert.equal(fn(synth({ createDemoTable: true, tableStreamArn: undefined, baselineOnFirstRun: true }).template).Environment.Variables.FLAGTRAIL_BASELINE_ON_FIRST_RUN, 'true');
  const tuned = fn(synth({ reconcileScanSegments: 48, reconcileReadUnitsPerSecond: 0 }).template).Environment.Variables;
  assert.equal(tuned.FLAGTRAIL_SCAN_SEGMENTS, '48');
  assert.equal(tuned.FLAGTRAIL_SCAN_READ_UNITS_PER_SECOND, '0');
  for (const bad of [0, 1.5, 1_000_001, NaN]) assert.throws(() => synth({ reconcileScanSegments: bad }), /reconcileScanSegments must be a whole number/, String(bad));
  for (const bad of [-1, 0.5, NaN]) assert.throws(() => synth({ reconcileReadUnitsPerSecond: bad }), /reconcileReadUnitsPerSecond must be a whole number/, String(bad));
});

test('the transparency log: its single writer hourly, under log/ of the archive, signing with an Ed25519 key of its own', () => {
  const R = t.toJSON().Resources;
  const [fnId, fn] = resources(t, 'AWS::Lambda::Function').find(([id]) => id.startsWith('LogWriterFunction'))!;
  const p = fn.Properties;
  assert.equal(p.FunctionName, 'flagtrail-prod-log-writer');
  assert.equal(p.ReservedConcurrentExecutions, 1, 'the single writer');
  assert.equal(p.Timeout, 300);
  assert.equal(p.MemorySize, 256);
  assert.equal(p.LoggingConfig.LogFormat, 'JSON');
  assert.equal(R[p.LoggingConfig.LogGroup.Ref].Properties.LogGroupName, '/aws/lambda/flagtrail-prod-log-writer');
  const [keyId, key] = resources(t, 'AWS::KMS::Key').find(([id]) => id.startsWith('CheckpointKey'))!;
  assert.equal(key.Properties.KeySpec, 'ECC_NIST_EDWARDS25519');
  assert.equal(key.Properties.KeyUsage, 'SIGN_VERIFY');
  const [archiveId] = resources(t, 'AWS::S3::Bucket').find(([id]) => id.startsWith('ArchiveBucket'))!;
  const [groupId] = resources(t, 'AWS::Logs::LogGroup').find(([, g]) => g.Properties.LogGroupName === '/flagtrail/prod/audit')!;
  assert.deepEqual(p.Environment.Variables, {
    FLAGTRAIL_METRICS_NAMESPACE: 'Flagtrail',
    FLAGTRAIL_AUDIT_LOG_GROUP: { Ref: groupId },
    FLAGTRAIL_LOG_BUCKET: { Ref: archiveId },
    FLAGTRAIL_LOG_PREFIX: 'log/',
    FLAGTRAIL_CHECKPOINT_KEY_ID: { 'Fn::GetAtt': [keyId, 'Arn'] },
    FLAGTRAIL_LOG_ORIGIN: 'flagtrail/prod/seals',
  });
  // Hourly, no retry (the next round resumes); its errors page.
  const rule = resources(t, 'AWS::Events::Rule').map(([, r]) => r.Properties).find((r) => r.Name === 'flagtrail-prod-log-writer');
  assert.equal(rule.ScheduleExpression, 'rate(1 hour)');
  assert.equal(rule.Targets[0].Arn['Fn::GetAtt'][0], fnId);
  assert.deepEqual(rule.Targets[0].RetryPolicy, { MaximumRetryAttempts: 0 });
  const alarm = resources(t, 'AWS::CloudWatch::Alarm').map(([, a]) => a.Properties).find((a) => a.AlarmName === 'flagtrail-prod-LogWriterErrors');
  assert.deepEqual([alarm.MetricName, alarm.Namespace, alarm.Dimensions[0].Value.Ref], ['Errors', 'AWS/Lambda', fnId]);
  // Its role: its own, no managed policy; the grants by statement id (iam.test.ts evaluates them).
  const roleId = p.Role['Fn::GetAtt'][0];
  assert.ok(roleId.startsWith('LogWriterRole'));
  assert.equal(R[roleId].Properties.ManagedPolicyArns, undefined, 'no AWS managed policy');
  const policy = resources(t, 'AWS::IAM::Policy').find(([id]) => id.startsWith('LogWriterRole'))![1];
  const grants = Object.fromEntries(policy.Properties.PolicyDocument.Statement.filter((st: any) => st.Effect === 'Allow').map((st: any) => [st.Sid, [st.Action].flat().sort()]));
  assert.deepEqual(grants, {
    WriteOwnLogs: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    ReadTheSeals: ['logs:FilterLogEvents'],
    ReadAndWriteTheLog: ['s3:GetObject', 's3:PutObject'],
    FindTheLog: ['s3:ListBucket'],
    EncryptTheLog: ['kms:Decrypt', 'kms:GenerateDataKey'],
    ReadTheCheckpointPublicKey: ['kms:GetPublicKey'],
  });
  // Sign: in the key policy, by name, Ed25519 over the raw text only; the account cannot sign.
  const statements = [key.Properties.KeyPolicy.Statement].flat();
  const signs = statements.filter((st: any) => [st.Action].flat().includes('kms:Sign'));
  assert.deepEqual(signs.map((st: any) => [st.Sid, st.Principal.AWS['Fn::GetAtt'][0], st.Condition]), [
    ['LogWriterSignsCheckpoints', roleId, { StringEquals: { 'kms:SigningAlgorithm': 'ED25519_SHA_512', 'kms:MessageType': 'RAW' } }],
  ]);
  const account = statements.find((st: any) => st.Sid === 'AccountAdministersTheKeyButCannotSign');
  assert.ok(!account.Action.includes('kms:Sign') && !account.Action.includes('kms:CreateGrant') && account.Action.includes('kms:GetPublicKey'));
  assert.equal(key.DeletionPolicy, 'RetainExceptOnCreate');
  // The archive's bucket policy: Firehose and the writer add objects, the writer alone under log/.
  const bucketPolicy = resources(t, 'AWS::S3::BucketPolicy').find(([, bp]) => bp.Properties.Bucket.Ref === archiveId)![1].Properties.PolicyDocument.Statement;
  const only = bucketPolicy.find((st: any) => st.Sid === 'OnlyFirehoseWrites');
  assert.deepEqual(only.Condition.ArnNotEquals['aws:PrincipalArn'].map((a: any) => a['Fn::GetAtt'][0].replace(/[0-9A-F]{8}$/, '')), ['ArchiveDeliveryRole', 'LogWriterRole']);
  const log = bucketPolicy.find((st: any) => st.Sid === 'OnlyTheLogWriterWritesTheLog');
  assert.equal(log.Effect, 'Deny');
  assert.equal(log.Action, 's3:PutObject');
  assert.deepEqual(log.Resource, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [archiveId, 'Arn'] }, '/log/*']] });
  assert.deepEqual(log.Condition, { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [roleId, 'Arn'] } } });
  const outputs = t.toJSON().Outputs;
  assert.deepEqual(outputs.LogWriterFunctionName.Value, { Ref: fnId });
  assert.deepEqual(outputs.CheckpointKeyArn.Value, { 'Fn::GetAtt': [keyId, 'Arn'] });
  // Another stage's origin and names.
  const dev = synth({ stage: 'dev' }).template;
  dev.hasResourceProperties('AWS::Lambda::Function', { FunctionName: 'flagtrail-dev-log-writer', Environment: { Variables: Match.objectLike({ FLAGTRAIL_LOG_ORIGIN: 'flagtrail/dev/seals' }) } });
});

test('the state bucket: the trail key, no public access, TLS, 7 days of replaced states, no Object Lock, access-logged, watched', () => {
  const [stateId, bucket] = resources(t, 'AWS::S3::Bucket').find(([id]) => id.startsWith('ReconcileStateBucket'))!;
  const [trailKey] = resources(t, 'AWS::KMS::Key').find(([id]) => id.startsWith('Key'))!;
  const [logId] = resources(t, 'AWS::S3::Bucket').find(([id]) => id.startsWith('AccessLogBucket'))!;
  const p = bucket.Properties;
  assert.deepEqual(p.BucketEncryption.ServerSideEncryptionConfiguration, [{ BucketKeyEnabled: true, ServerSideEncryptionByDefault: { KMSMasterKeyID: { 'Fn::GetAtt': [trailKey, 'Arn'] }, SSEAlgorithm: 'aws:kms' } }]);
  assert.deepEqual(p.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
  assert.equal(p.VersioningConfiguration.Status, 'Enabled');
  assert.equal(p.ObjectLockEnabled, undefined, 'replaced every hour: no Object Lock');
  assert.equal(p.ObjectLockConfiguration, undefined);
  assert.ok(p.LifecycleConfiguration.Rules.some((r: any) => r.NoncurrentVersionExpiration?.NoncurrentDays === 7 && r.Status === 'Enabled'));
  assert.ok(!p.LifecycleConfiguration.Rules.some((r: any) => r.ExpirationInDays !== undefined), 'the current state never expires');
  assert.deepEqual(p.LoggingConfiguration, { DestinationBucketName: { Ref: logId }, LogFilePrefix: 'state/' });
  assert.equal(bucket.DeletionPolicy, 'RetainExceptOnCreate');
  assert.equal(bucket.UpdateReplacePolicy, 'Retain');
  const [, policy] = resources(t, 'AWS::S3::BucketPolicy').find(([, r]) => r.Properties.Bucket.Ref === stateId)!;
  const statements = policy.Properties.PolicyDocument.Statement;
  assert.deepEqual(statements.map((s: any) => [s.Effect, s.Condition]), [['Deny', { Bool: { 'aws:SecureTransport': 'false' } }]], 'enforceSSL, and no grant by bucket policy');
  // Its configuration changes page like the evidence buckets'.
  const watched = resources(t, 'AWS::Events::Rule').filter(([, r]) => r.Properties.EventPattern?.detail?.eventName?.includes('PutBucketPolicy'));
  assert.ok(watched.length > 0 && watched.every(([, r]) => JSON.stringify(r.Properties.EventPattern.detail.requestParameters.bucketName).includes(`"Ref":"${stateId}"`)));
  assert.deepEqual(t.toJSON().Outputs.ReconcileStateBucketName.Value, { Ref: stateId });
});

test('saved queries and a dashboard exist for the audit log group', () => {
  t.resourceCountIs('AWS::Logs::QueryDefinition', 9);
  t.hasResourceProperties('AWS::Logs::QueryDefinition', { Name: 'flagtrail/prod/kill-switch-activations' });
  t.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
  const body = JSON.stringify(t.findResources('AWS::CloudWatch::Dashboard'));
  for (const w of ['Changes per environment', 'Production changes', 'Kill switches', 'Pipeline health', 'Invalidation lag']) assert.ok(body.includes(w), w);
});

/** Every Action of every policy document in a template (IAM, key, topic and queue policies). */
function statements(template: any): Array<{ where: string; action: string[]; resource: unknown[] }> {
  const out: Array<{ where: string; action: string[]; resource: unknown[] }> = [];
  const walk = (node: any, where: string) => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, where));
    if (node && typeof node === 'object') {
      // Deny statements (enforceSSL's "deny everything over plain HTTP") restrict, they grant nothing.
      if (node.Effect === 'Allow' && (node.Action || node.NotAction)) {
        const arr = (v: any) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
        out.push({ where, action: arr(node.Action ?? node.NotAction), resource: arr(node.Resource) });
      }
      for (const [k, v] of Object.entries(node)) walk(v, `${where}/${k}`);
    }
  };
  walk(template.Resources, '');
  return out;
}

test('no wildcard actions anywhere, and wildcard resources only where AWS offers nothing narrower', () => {
  for (const extra of [{}, { alertEmail: 'a@example.com', dataProtection: true, createDemoTable: true, tableStreamArn: undefined }]) {
    const template = synth(extra).template.toJSON();
    const all = statements(template);
    assert.ok(all.length > 10);
    for (const s of all) for (const a of s.action) assert.ok(!a.includes('*'), `wildcard action ${a} at ${s.where}`);
    const identity = all.filter((s) => s.where.includes('PolicyDocument') && !s.where.includes('KeyPolicy'));
    for (const s of identity) {
      if (!s.resource.includes('*')) continue;
      // ListStreams, X-Ray writes, CloudWatch metric/dashboard reads and the saved-query list have no
      // resource-level permissions.
      const allowed = s.action.every((a) => ['dynamodb:ListStreams', 'xray:PutTraceSegments', 'xray:PutTelemetryRecords', 'logs:DescribeQueryDefinitions', 'logs:DescribeLogGroups', ...SLACK_READ_ACTIONS].includes(a));
      assert.ok(allowed, `wildcard resource for ${s.action} at ${s.where}`);
    }
  }
});

test('cdk-nag AwsSolutions passes with every acknowledgement justified, and would fail otherwise', () => {
  const { app } = synth({ alertEmail: 'a@example.com', slack: { workspaceId: 'T1', channelId: 'C1' } }, true);
  assert.doesNotThrow(() => app.synth());
  // The same checks on a stack with one unacknowledged finding must fail the synthesis.
  const bad = new App();
  const stack = new FlagtrailStack(bad, 'Bad', { stage: 'dev', tableName: 't', createDemoTable: true, assetDir: placeholderAssets() });
  new sqs.Queue(stack, 'PlainQueue');
  Validations.of(bad).addPlugins(new AwsSolutionsChecks(bad));
  let report = '';
  assert.throws(() => bad.synth(), (e: Error) => {
    report = fs.readFileSync(/found in: (\S+)/.exec(e.message)![1], 'utf8');
    return true;
  });
  assert.ok(report.includes('PlainQueue') && report.includes('AwsSolutions-SQS'), 'the finding names the unacknowledged queue');
});

test('the archive: subscription filter to Firehose, Object Lock in compliance mode for years, the seal key', () => {
  const { template } = synth();
  const t0 = template.toJSON();
  const [, archive] = Object.entries<any>(t0.Resources).find(([id, r]) => r.Type === 'AWS::S3::Bucket' && id.startsWith('ArchiveBucket'))!;
  // Exactly Mode and Years: S3 refuses a default retention with both Days and Years.
  assert.deepEqual(archive.Properties.ObjectLockConfiguration, { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'COMPLIANCE', Years: 7 } } });
  template.hasResourceProperties('AWS::S3::Bucket', {
    ObjectLockEnabled: true,
    VersioningConfiguration: { Status: 'Enabled' },
    PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    BucketEncryption: { ServerSideEncryptionConfiguration: [Match.objectLike({ ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }) })] },
    LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Transitions: [{ StorageClass: 'GLACIER_IR', TransitionInDays: 90 }] })]) },
  });
  const t = template.toJSON();
  const [streamId] = Object.entries<any>(t.Resources).find(([, r]) => r.Type === 'AWS::KinesisFirehose::DeliveryStream')!;
  template.hasResourceProperties('AWS::Logs::SubscriptionFilter', {
    FilterPattern: '',
    LogGroupName: { Ref: Match.stringLikeRegexp('^AuditLogGroup') },
    DestinationArn: { 'Fn::GetAtt': [streamId, 'Arn'] },
  });
  template.hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
    ExtendedS3DestinationConfiguration: Match.objectLike({ BucketARN: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ArchiveBucket'), 'Arn'] }, CompressionFormat: 'UNCOMPRESSED', Prefix: 'audit/' }),
  });
  // Why a delivery failed is logged where the runbook looks, and the delivery role may write there only.
  const logging = t.Resources[streamId].Properties.ExtendedS3DestinationConfiguration.CloudWatchLoggingOptions;
  assert.equal(logging.Enabled, true);
  assert.equal(logging.LogStreamName.Ref.startsWith('ArchiveDeliveryErrorsStream'), true);
  template.hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/aws/kinesisfirehose/flagtrail-prod-archive' });
  const putLogs = Object.values<any>(t.Resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .filter((st: any) => st.Sid === 'LogDeliveryErrors');
  assert.equal(putLogs.length, 1);
  assert.match(JSON.stringify(putLogs[0].Resource), /log-stream:/);
  template.hasResourceProperties('AWS::KMS::Key', { KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
  template.hasResourceProperties('AWS::Lambda::Function', {
    FunctionName: 'flagtrail-prod-audit',
    Environment: { Variables: Match.objectLike({ FLAGTRAIL_SEAL_KEY_ID: { 'Fn::GetAtt': [Match.stringLikeRegexp('^SealKey'), 'Arn'] } }) },
  });
  // Only Firehose may add archive objects.
  template.hasResourceProperties('AWS::S3::BucketPolicy', {
    Bucket: { Ref: Match.stringLikeRegexp('^ArchiveBucket') },
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Sid: 'OnlyFirehoseWrites', Effect: 'Deny', Action: 's3:PutObject' })]) },
  });
  const years = synth({ archiveRetentionYears: 10 }).template.toJSON();
  const [, archive10] = Object.entries<any>(years.Resources).find(([id, r]) => r.Type === 'AWS::S3::Bucket' && id.startsWith('ArchiveBucket'))!;
  assert.deepEqual(archive10.Properties.ObjectLockConfiguration.Rule.DefaultRetention, { Mode: 'COMPLIANCE', Years: 10 });
  // Firehose encrypts through S3 with a Bucket Key: the encryption context is the bucket ARN itself.
  const delivery = Object.entries<any>(t0.Resources).find(([id, r]) => r.Type === 'AWS::IAM::Policy' && id.startsWith('ArchiveDeliveryRole'))![1];
  const kmsStatement = delivery.Properties.PolicyDocument.Statement.find((st: any) => st.Sid === 'EncryptArchiveObjects');
  const context = JSON.stringify(kmsStatement.Condition.StringLike['kms:EncryptionContext:aws:s3:arn']);
  assert.ok(context.endsWith('"*"]]}') && !context.includes('/*'), `context pattern must match the bucket ARN: ${context}`);
  assert.throws(() => synth({ archiveRetentionYears: 0 }), /archiveRetentionYears must be a whole number/);
});

test('archive retention by stage: production in compliance mode for 7 years, any other stage in governance mode for 30 days, each part overridable', () => {
  const lock = (extra: Partial<FlagtrailProps>) => {
    const R = synth(extra).template.toJSON().Resources;
    const [, bucket] = Object.entries<any>(R).find(([id, r]) => r.Type === 'AWS::S3::Bucket' && id.startsWith('ArchiveBucket'))!;
    assert.equal(bucket.Properties.ObjectLockEnabled, true);
    assert.equal(bucket.Properties.ObjectLockConfiguration.ObjectLockEnabled, 'Enabled');
    return bucket.Properties.ObjectLockConfiguration.Rule.DefaultRetention;
  };
  // Evidence: nobody, root included, deletes or shortens it.
  assert.deepEqual(lock({ stage: 'prod' }), { Mode: 'COMPLIANCE', Years: 7 });
  assert.deepEqual(lock({ stage: 'production' }), { Mode: 'COMPLIANCE', Years: 7 });
  // A trial: write-once for ordinary principals, but s3:BypassGovernanceRetention can clean it up,
  // and nothing stays locked after a month.
  assert.deepEqual(lock({ stage: 'dev' }), { Mode: 'GOVERNANCE', Days: 30 });
  assert.deepEqual(lock({ stage: 'staging' }), { Mode: 'GOVERNANCE', Days: 30 });
  // Overrides: a production stage of another name, a shorter trial, a prod retention in days.
  assert.deepEqual(lock({ stage: 'live', archiveLockMode: 'compliance', archiveRetentionYears: 7 }), { Mode: 'COMPLIANCE', Years: 7 });
  assert.deepEqual(lock({ stage: 'live', archiveLockMode: 'COMPLIANCE' as any }), { Mode: 'COMPLIANCE', Days: 30 });
  assert.deepEqual(lock({ stage: 'dev', archiveRetentionDays: 1 }), { Mode: 'GOVERNANCE', Days: 1 });
  assert.deepEqual(lock({ stage: 'dev', archiveRetentionYears: 1 }), { Mode: 'GOVERNANCE', Years: 1 });
  assert.deepEqual(lock({ stage: 'prod', archiveRetentionDays: 3650 }), { Mode: 'COMPLIANCE', Days: 3650 });
  assert.deepEqual(lock({ stage: 'prod', archiveLockMode: 'governance' }), { Mode: 'GOVERNANCE', Years: 7 });
  // Refused at synth, with the context key named.
  assert.throws(() => synth({ stage: 'dev', archiveRetentionYears: 1, archiveRetentionDays: 1 }), /archiveRetentionYears or archiveRetentionDays, not both/);
  assert.throws(() => synth({ stage: 'dev', archiveRetentionDays: 0 }), /archiveRetentionDays must be a whole number/);
  assert.throws(() => synth({ stage: 'dev', archiveRetentionDays: 1.5 }), /archiveRetentionDays must be a whole number/);
  assert.throws(() => synth({ stage: 'prod', archiveRetentionYears: 101 }), /archiveRetentionYears must be a whole number/);
  assert.throws(() => synth({ stage: 'dev', archiveLockMode: 'strict' as any }), /archiveLockMode must be compliance or governance, not strict/);
});

test('with data protection the audit function feeds the archive itself: no subscription filter, the stream name, PutRecordBatch only', () => {
  // The audit role's statements that name Firehose, and its function's variables.
  const archiveFeed = (template: any) => {
    const R: Record<string, any> = template.Resources;
    const [streamId, stream] = Object.entries<any>(R).find(([, r]) => r.Type === 'AWS::KinesisFirehose::DeliveryStream')!;
    const [, fn] = Object.entries<any>(R).find(([id, r]) => r.Type === 'AWS::Lambda::Function' && id.startsWith('AuditFunction'))!;
    const roleId = fn.Properties.Role['Fn::GetAtt'][0];
    const firehose = Object.values<any>(R)
      .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((x: any) => x.Ref === roleId))
      .flatMap((p) => p.Properties.PolicyDocument.Statement)
      .filter((st: any) => JSON.stringify(st.Action).includes('firehose:'));
    const filters = Object.values<any>(R).filter((r) => r.Type === 'AWS::Logs::SubscriptionFilter');
    return { R, streamId, stream, vars: fn.Properties.Environment.Variables, firehose, filters };
  };
  // Without: the group's subscription feeds the archive, the function has no Firehose permission.
  const plain = archiveFeed(t.toJSON());
  assert.equal(plain.filters.length, 1);
  assert.equal(plain.vars.FLAGTRAIL_ARCHIVE_STREAM, undefined);
  assert.deepEqual(plain.firehose, []);
  // With: masked subscription data would not match the seals, so there is no filter (nor its role)
  // and the function puts the exact bytes into the stream itself.
  const dp = archiveFeed(synth({ dataProtection: true }).template.toJSON());
  assert.deepEqual(dp.filters, []);
  assert.ok(!Object.keys(dp.R).some((id) => id.startsWith('ArchiveSubscription')), 'no subscription role either');
  assert.deepEqual(dp.vars.FLAGTRAIL_ARCHIVE_STREAM, { Ref: dp.streamId }, 'the stream name (Ref of a delivery stream)');
  assert.deepEqual(dp.firehose, [{ Sid: 'WriteTheArchive', Effect: 'Allow', Action: 'firehose:PutRecordBatch', Resource: { 'Fn::GetAtt': [dp.streamId, 'Arn'] } }]);
  // Direct PUT, and stored as sent: the function's records are gzip'd documents already.
  assert.equal(dp.stream.Properties.DeliveryStreamType, 'DirectPut');
  assert.equal(dp.stream.Properties.ExtendedS3DestinationConfiguration.CompressionFormat, 'UNCOMPRESSED');
  assert.deepEqual(dp.stream.Properties, plain.stream.Properties, 'the same stream either way');
});

test('every log group of the stack is encrypted with the trail key, which lets CloudWatch Logs use it for them', () => {
  const R = t.toJSON().Resources;
  const trailKey = resources(t, 'AWS::KMS::Key').find(([id]) => id.startsWith('Key'))![0];
  const groups = resources(t, 'AWS::Logs::LogGroup');
  assert.deepEqual(groups.map(([, g]) => g.Properties.LogGroupName).sort(), [
    '/aws/kinesisfirehose/flagtrail-prod-archive', '/aws/lambda/flagtrail-prod-audit', '/aws/lambda/flagtrail-prod-log-writer', '/aws/lambda/flagtrail-prod-notify', '/aws/lambda/flagtrail-prod-reconcile',
    '/flagtrail/prod/audit',
  ]);
  for (const [id, g] of groups) assert.deepEqual(g.Properties.KmsKeyId, { 'Fn::GetAtt': [trailKey, 'Arn'] }, id);
  // The key policy's CloudWatch Logs statement: every group of the account and region, by the
  // encryption context CloudWatch Logs sends (its group's ARN), so each name above is covered.
  const logsUse = [R[trailKey].Properties.KeyPolicy.Statement].flat().find((s: any) => s.Sid === 'CloudWatchLogsUseOfTheKey');
  const pattern = logsUse.Condition.ArnLike['kms:EncryptionContext:aws:logs:arn'];
  const arnPattern = JSON.stringify(pattern);
  assert.ok(arnPattern.includes(':logs:eu-west-1:123456789012:log-group:*'), arnPattern);
});

test('server access logs of the archive, failure and state buckets: one SSE-S3 bucket, delivery by bucket policy, kept as long as the archive', () => {
  const R = t.toJSON().Resources;
  const [logId, log] = resources(t, 'AWS::S3::Bucket').find(([id]) => id.startsWith('AccessLogBucket'))!;
  for (const [prefix, source] of [['archive/', 'ArchiveBucket'], ['failure/', 'FailureBucket'], ['state/', 'ReconcileStateBucket']]) {
    const [, b] = resources(t, 'AWS::S3::Bucket').find(([id]) => id.startsWith(source))!;
    assert.deepEqual(b.Properties.LoggingConfiguration, { DestinationBucketName: { Ref: logId }, LogFilePrefix: prefix }, source);
  }
  assert.equal(log.DeletionPolicy, 'RetainExceptOnCreate');
  const p = log.Properties;
  // S3 server access logging: SSE-S3 default encryption only, no Object Lock default retention on the target.
  assert.deepEqual(p.BucketEncryption.ServerSideEncryptionConfiguration, [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }]);
  assert.equal(p.ObjectLockConfiguration, undefined);
  assert.equal(p.LoggingConfiguration, undefined, 'not logged into itself');
  assert.deepEqual(p.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
  assert.equal(p.VersioningConfiguration.Status, 'Enabled');
  assert.deepEqual(p.OwnershipControls, { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] }, 'no ACLs: delivery by bucket policy');
  assert.equal(p.AccessControl, undefined);
  const expire = (template: any) => Object.entries<any>(template.Resources).find(([id]) => id.startsWith('AccessLogBucket'))![1].Properties.LifecycleConfiguration.Rules.find((r: any) => r.Id === 'expire-with-the-archive');
  assert.equal(expire(t.toJSON()).ExpirationInDays, 2557, 'production: the 7-year archive lock, leap days included');
  assert.equal(expire(synth({ stage: 'dev' }).template.toJSON()).ExpirationInDays, 365, 'a trial stage: the audit group\'s year outlasts the 30-day archive');
  assert.equal(expire(synth({ stage: 'dev', auditRetention: logs.RetentionDays.INFINITE }).template.toJSON()).ExpirationInDays, undefined, 'a never-expiring trail: logs kept too');
  // The logging service may write under each source's prefix, for that source bucket in this account only; TLS only.
  const [, policy] = resources(t, 'AWS::S3::BucketPolicy').find(([, r]) => r.Properties.Bucket.Ref === logId)!;
  const statements = policy.Properties.PolicyDocument.Statement;
  for (const [sid, prefix, source] of [['ServerAccessLogsOfArchive', 'archive/', 'ArchiveBucket'], ['ServerAccessLogsOfFailure', 'failure/', 'FailureBucket'], ['ServerAccessLogsOfState', 'state/', 'ReconcileStateBucket']]) {
    const s = statements.find((x: any) => x.Sid === sid);
    assert.deepEqual(s.Principal, { Service: 'logging.s3.amazonaws.com' });
    assert.equal(s.Action, 's3:PutObject');
    assert.deepEqual(s.Resource, { 'Fn::Join': ['', [{ 'Fn::GetAtt': [logId, 'Arn'] }, `/${prefix}*`]] });
    assert.ok(s.Condition.ArnLike['aws:SourceArn']['Fn::GetAtt'][0].startsWith(source), sid);
    assert.equal(s.Condition.StringEquals['aws:SourceAccount'], '123456789012');
  }
  assert.ok(statements.some((s: any) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false'), 'enforceSSL');
  assert.ok(R[logId]);
});
