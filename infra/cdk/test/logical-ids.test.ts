// The logical IDs of the stack's stateful resources never change. CloudFormation knows a resource by
// its logical ID, which CDK derives from the construct path: moving a resource into another
// construct, or renaming its id, makes the next deploy create a new one and delete (or, where
// retained, orphan) the old — a new audit log group or archive bucket, the trail's keys, a
// re-created mapping that re-reads or skips the stream, topics whose e-mail subscribers must
// confirm again; a named resource's replacement fails on its own name. A new stateful resource
// is added here once; an ID here never changes.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FlagtrailProps } from '../lib/flagtrail-stack';
import { prodTemplate } from './synth';

/** Resource types that hold data, a position, a key or a subscriber's confirmation. */
const STATEFUL = [
  'AWS::DynamoDB::Table',
  'AWS::KMS::Key',
  'AWS::KinesisFirehose::DeliveryStream',
  'AWS::Lambda::EventSourceMapping',
  'AWS::Logs::LogGroup',
  'AWS::Logs::SubscriptionFilter',
  'AWS::S3::Bucket',
  'AWS::SNS::Subscription',
  'AWS::SNS::Topic',
];

/** The IDs of the deployed stacks (the README's command: attach mode, e-mail oncall@example.com), by type. */
const KNOWN: Record<string, string[]> = {
  'AWS::DynamoDB::Table': ['MarksTable0297FC12'],
  'AWS::KMS::Key': ['CheckpointKey6ED5B60F', 'Key961B73FD', 'SealKey94782D95'],
  'AWS::KinesisFirehose::DeliveryStream': ['ArchiveDeliveryStream'],
  'AWS::Lambda::EventSourceMapping': ['AuditStreamMapping533D2B77', 'NotifyStreamMappingAA42426C'],
  'AWS::Logs::LogGroup': ['ArchiveDeliveryErrorsAD334BD6', 'AuditFunctionLogsFBC8BCBF', 'AuditLogGroup6D13791A', 'LogWriterFunctionLogsAEFD4748', 'NotifyFunctionLogsDD64CEFD', 'ReconcileFunctionLogsD790908C'],
  'AWS::Logs::SubscriptionFilter': ['ArchiveSubscription'],
  'AWS::S3::Bucket': ['AccessLogBucketDA470295', 'ArchiveBucket9DECBF5D', 'FailureBucket1DB25638', 'ReconcileStateBucketD49646D7'],
  'AWS::SNS::Subscription': ['AlarmTopiconcallexamplecomCD7D68CB', 'AlertTopiconcallexamplecom53B33DEE'],
  'AWS::SNS::Topic': ['AlarmTopicD01E77F9', 'AlertTopic2720D535', 'InvalidationTopic9BB795A5', 'PipelineChangesTopicD2110303'],
};
/** The demo's own flag table (createDemoTable). */
const DEMO_TABLE = 'DemoTableEE720AED';
/** The auditor role: named, and its ARN is in the seal key's policy and in auditors' configurations. */
const AUDITOR_ROLE = 'AuditorRoleB9C8BBB2';

/** The README's deploy with `extra`, synthesized without an env (logical IDs do not depend on it). */
function template(extra: Partial<FlagtrailProps>): any {
  return prodTemplate({ env: undefined, alertEmail: 'oncall@example.com', slack: { workspaceId: 'T0123ABCD', channelId: 'C0123ABCD' }, ...extra }, 'Flagtrail-prod');
}

function stateful(t: any): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [id, r] of Object.entries<any>(t.Resources)) if (STATEFUL.includes(r.Type)) (out[r.Type] ??= []).push(id);
  for (const ids of Object.values(out)) ids.sort();
  return out;
}

test('the stateful resources keep their logical IDs (the README deploy, and the demo)', () => {
  const t = template({});
  assert.deepEqual(stateful(t), KNOWN, 'a changed ID replaces a deployed resource; a new stateful resource is added to KNOWN');
  assert.equal(t.Resources[AUDITOR_ROLE]?.Properties.RoleName, 'flagtrail-prod-auditor');
  const demo = template({ createDemoTable: true, tableStreamArn: undefined });
  assert.deepEqual(stateful(demo), { ...KNOWN, 'AWS::DynamoDB::Table': [DEMO_TABLE, ...KNOWN['AWS::DynamoDB::Table']].sort() });
});
