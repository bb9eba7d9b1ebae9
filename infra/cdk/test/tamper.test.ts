// The tamper rules on the template: every identifier form of each watched call, the new watches,
// and the pipeline's own deploys routed to Slack instead of the pager (issue 20 items 0 and 3).
// The recorded-shape fixtures run through these patterns on moto in scripts/alarm-routing-test.py.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { prodTemplate } from './synth';

const DEPLOY_ROLE = 'arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-eu-west-1';

const rulesOf = (t: any) =>
  Object.values<any>(t.Resources).filter((r) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern).map((r) => r.Properties);
const named = (t: any, name: string) => rulesOf(t).find((r) => r.Name === `flagtrail-prod-${name}`);

const plain = prodTemplate();
const piped = prodTemplate({ deployRoleArns: [DEPLOY_ROLE], slack: { workspaceId: 'T0123', channelId: 'C0456' }, alertEmail: 'oncall@example.com' });

test('each watched call in every form its API accepts and CloudTrail records', () => {
  const s3 = named(plain, 'TrailBucketChanged').EventPattern.detail.eventName;
  for (const n of ['PutObjectLockConfiguration', 'PutBucketObjectLockConfiguration', 'PutBucketLogging']) assert.ok(s3.includes(n), n);
  // The access-log bucket (who read the archive) is watched with the buckets it logs.
  const buckets = JSON.stringify(named(plain, 'TrailBucketChanged').EventPattern.detail.requestParameters.bucketName);
  for (const b of ['ArchiveBucket', 'FailureBucket', 'AccessLogBucket']) assert.ok(buckets.includes(`{"Ref":"${b}`), b);
  for (const id of ['FlagTableDeleted', 'FlagStreamTurnedOff']) {
    const tables = JSON.stringify(named(plain, id).EventPattern.detail.requestParameters.tableName);
    assert.ok(tables.includes('"feature-flags-prod"') && tables.includes(':dynamodb:eu-west-1:123456789012:table/feature-flags-prod'), `${id}: name and ARN`);
  }
  const fns = named(plain, 'TrailFunctionChanged').EventPattern.detail.requestParameters.functionName;
  const audit = fns.filter((f: any) => JSON.stringify(f).includes('AuditFunction'));
  // name, name:qualifier, …:function:name (full or partial ARN), …:function:name:qualifier
  assert.deepEqual(audit.map((f: any) => (f.Ref ? 'name' : Object.keys(f)[0])), ['name', 'prefix', 'suffix', 'wildcard']);
  // The transparency log's writer is watched like the trail's other functions (code, configuration, concurrency 0).
  const writer = fns.filter((f: any) => JSON.stringify(f).includes('LogWriterFunction'));
  assert.deepEqual(writer.map((f: any) => (f.Ref ? 'name' : Object.keys(f)[0])), ['name', 'prefix', 'suffix', 'wildcard']);
  const keys = JSON.stringify(named(plain, 'TrailKeyChanged').EventPattern.detail.requestParameters.keyId);
  assert.ok(keys.includes('{"Ref":"CheckpointKey') && keys.includes('{"Fn::GetAtt":["CheckpointKey'), 'the checkpoint key by ID and ARN');
  const mapping = named(plain, 'TrailMappingChanged').EventPattern.detail.responseElements.functionArn;
  assert.ok(mapping.some((f: any) => f.prefix), 'a qualified function ARN in the response');
});

test('new watches: alarms rewritten, grants on the trail keys, the alarm topic subscribed or filtered', () => {
  assert.deepEqual(named(plain, 'AlarmsRewritten').EventPattern.detail.eventName, ['PutMetricAlarm']);
  const alarms = Object.values<any>(plain.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm');
  assert.equal(named(plain, 'AlarmsRewritten').EventPattern.detail.requestParameters.alarmName.length, alarms.length);
  assert.deepEqual(named(plain, 'TrailKeyGranted').EventPattern.detail.eventName, ['CreateGrant', 'RetireGrant', 'RevokeGrant']);
  assert.equal(named(plain, 'TrailKeyGranted').EventPattern.detail.requestParameters.keyId.length, 6, 'the trail, seal and checkpoint keys by ID and ARN');
  assert.equal(named(plain, 'TrailKeyGrantRetired').EventPattern.detail.resources.ARN.length, 3, 'RetireGrant by token names the key only in resources');
  assert.ok(named(plain, 'AlarmTopicChanged').EventPattern.detail.eventName.includes('Subscribe'));
  assert.deepEqual(named(plain, 'AlarmTopicUnsubscribed').EventPattern.detail.eventName, ['Unsubscribe', 'SetSubscriptionAttributes']);
  // The discarded-batches rule is watched like the tamper rules themselves.
  assert.ok(named(plain, 'WatchersChanged').EventPattern.detail.requestParameters.name.includes('flagtrail-prod-DiscardedBatches'));
});

test('without deploy roles every change pages and there is no pipeline route', () => {
  for (const r of rulesOf(plain)) assert.equal(r.EventPattern.detail.$or, undefined);
  assert.ok(!rulesOf(plain).some((r) => r.Name.endsWith('ByPipeline')));
});

test("with deploy roles the pipeline's CloudFormation changes go to Slack only, anyone else's still page", () => {
  const cloudTrail = rulesOf(piped).filter((r) => r.EventPattern['detail-type'][0] === 'AWS API Call via CloudTrail');
  const paging = cloudTrail.filter((r) => !r.Name.endsWith('ByPipeline'));
  const info = cloudTrail.filter((r) => r.Name.endsWith('ByPipeline'));
  assert.equal(info.length, paging.length, 'one pipeline twin per paging rule');
  const topicId = (prefix: string) => Object.keys(piped.Resources).find((k) => k.startsWith(prefix))!;
  for (const r of paging) {
    assert.equal(r.Targets[0].Arn.Ref, topicId('AlarmTopic'));
    assert.deepEqual(r.EventPattern.detail.$or, [
      { userIdentity: { sessionContext: { sessionIssuer: { arn: [{ 'anything-but': [DEPLOY_ROLE] }] } } } },
      { userIdentity: { sessionContext: { sessionIssuer: { arn: [{ exists: false }] } } } },
      { userIdentity: { invokedBy: [{ 'anything-but': ['cloudformation.amazonaws.com'] }] } },
      { userIdentity: { invokedBy: [{ exists: false }] } },
    ], `${r.Name}: pages unless CloudFormation in the deploy role's session`);
  }
  for (const r of info) {
    assert.equal(r.Targets[0].Arn.Ref, topicId('PipelineChangesTopic'));
    assert.deepEqual(r.EventPattern.detail.userIdentity, { invokedBy: ['cloudformation.amazonaws.com'], sessionContext: { sessionIssuer: { arn: [DEPLOY_ROLE] } } });
  }
  // Slack (Chatbot) receives the pipeline topic; no e-mail subscription does: information, no page.
  const slack = Object.values<any>(piped.Resources).find((r) => r.Type === 'AWS::Chatbot::SlackChannelConfiguration').Properties;
  assert.ok(slack.SnsTopicArns.some((a: any) => a.Ref === topicId('PipelineChangesTopic')));
  const subs = Object.values<any>(piped.Resources).filter((r) => r.Type === 'AWS::SNS::Subscription').map((r) => r.Properties.TopicArn.Ref);
  assert.ok(!subs.includes(topicId('PipelineChangesTopic')));
  // EventBridge may publish there for the pipeline rules only.
  const policy = Object.values<any>(piped.Resources).find((r) => r.Type === 'AWS::SNS::TopicPolicy' && r.Properties.Topics[0].Ref === topicId('PipelineChangesTopic'));
  const stmt = policy.Properties.PolicyDocument.Statement.find((s: any) => s.Sid === 'PipelineChangesPublish');
  assert.equal(stmt.Condition.ArnEquals['aws:SourceArn'].length, info.length);
});
