// The first deploy's order: CloudFormation creates a resource only after what it needs at creation
// time — a role and its policy that a service checks or assumes right away, the stream a
// subscription filter sends its test message to, the archive's subscription (or, with data
// protection, the delivery stream and the grant to write it) before the audit function writes. Ordering cannot wait out IAM's propagation delay itself (a retry of the deploy
// does; the runbook says so), but it rules out the races CloudFormation can rule out.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { prodTemplate } from './synth';

function template(dataProtection = false): any {
  return prodTemplate({ alertEmail: 'oncall@example.com', slack: { workspaceId: 'T1', channelId: 'C1' }, dataProtection }, 'Order');
}

let R: Record<string, any> = template().Resources;
/** The data-protection variant: no subscription filter, the audit function writes to Firehose. */
const masked: Record<string, any> = template(true).Resources;

/** Runs `f` with `R` the data-protection variant's resources. */
function withDataProtection(f: () => void): void {
  const plain = R;
  R = masked;
  try {
    f();
  } finally {
    R = plain;
  }
}

/** The one logical ID of `type` starting with `prefix`. */
function id(type: string, prefix: string): string {
  const ids = Object.keys(R).filter((k) => R[k].Type === type && k.startsWith(prefix));
  assert.equal(ids.length, 1, `${type} ${prefix}*: ${ids}`);
  return ids[0];
}

/** What a resource waits for explicitly (DependsOn). */
function dependsOn(resource: string): string[] {
  return [R[resource].DependsOn ?? []].flat();
}

/** Everything CloudFormation creates before `resource`: DependsOn, Ref and GetAtt, transitively. */
function before(resource: string, seen = new Set<string>()): Set<string> {
  const direct = new Set(dependsOn(resource));
  const walk = (v: any) => {
    if (Array.isArray(v)) return v.forEach(walk);
    if (v && typeof v === 'object') {
      if (typeof v.Ref === 'string' && R[v.Ref]) direct.add(v.Ref);
      if (Array.isArray(v['Fn::GetAtt']) && R[v['Fn::GetAtt'][0]]) direct.add(v['Fn::GetAtt'][0]);
      Object.values(v).forEach(walk);
    }
  };
  walk(R[resource].Properties);
  for (const d of direct) {
    if (seen.has(d)) continue;
    seen.add(d);
    before(d, seen);
  }
  return seen;
}

const role = (prefix: string) => id('AWS::IAM::Role', prefix);
const policy = (prefix: string) => id('AWS::IAM::Policy', `${prefix}DefaultPolicy`);

test('Firehose is created after its role and the role policy it is validated with', () => {
  const stream = id('AWS::KinesisFirehose::DeliveryStream', 'ArchiveDeliveryStream');
  for (const d of [role('ArchiveDeliveryRole'), policy('ArchiveDeliveryRole')]) assert.ok(dependsOn(stream).includes(d), `${stream} DependsOn ${d}`);
  // And after what it writes to: the bucket, the key, its error log stream.
  for (const d of [id('AWS::S3::Bucket', 'ArchiveBucket'), id('AWS::KMS::Key', 'Key'), id('AWS::Logs::LogStream', 'ArchiveDeliveryErrorsStream')]) {
    assert.ok(before(stream).has(d), `${stream} after ${d}`);
  }
});

test("the subscription filter is created after the Firehose stream and its role's policy (the test message)", () => {
  const filter = id('AWS::Logs::SubscriptionFilter', 'ArchiveSubscription');
  const want = [id('AWS::KinesisFirehose::DeliveryStream', 'ArchiveDeliveryStream'), role('ArchiveSubscriptionRole'), policy('ArchiveSubscriptionRole')];
  for (const d of want) assert.ok(dependsOn(filter).includes(d), `${filter} DependsOn ${d}`);
});

test('the audit function reads the stream only once the archive subscription exists', () => {
  // The mapping starts at TRIM_HORIZON: records written before the filter existed would never
  // reach the archive.
  const mapping = id('AWS::Lambda::EventSourceMapping', 'AuditStreamMapping');
  assert.equal(R[mapping].Properties.StartingPosition, 'TRIM_HORIZON');
  assert.ok(dependsOn(mapping).includes(id('AWS::Logs::SubscriptionFilter', 'ArchiveSubscription')));
});

test('with data protection the audit function reads the stream only once it may write the archive stream', () => {
  withDataProtection(() => {
    // No subscription filter (its data would be masked): the function puts the records itself, so
    // its first batch needs the stream ACTIVE and the grant in place.
    assert.equal(Object.values(R).filter((r) => r.Type === 'AWS::Logs::SubscriptionFilter').length, 0);
    const mapping = id('AWS::Lambda::EventSourceMapping', 'AuditStreamMapping');
    assert.equal(R[mapping].Properties.StartingPosition, 'TRIM_HORIZON');
    const stream = id('AWS::KinesisFirehose::DeliveryStream', 'ArchiveDeliveryStream');
    const p = policy('AuditRole');
    assert.deepEqual(dependsOn(mapping).sort(), [stream, p].sort());
    assert.ok(R[p].Properties.PolicyDocument.Statement.some((s: any) => s.Sid === 'WriteTheArchive'), `${p} holds the grant`);
    // The function names the stream, so it comes after it too.
    assert.ok(before(id('AWS::Lambda::Function', 'AuditFunction')).has(stream));
    // The stream itself still waits for its role and policy.
    for (const d of [role('ArchiveDeliveryRole'), policy('ArchiveDeliveryRole')]) assert.ok(dependsOn(stream).includes(d), `${stream} DependsOn ${d}`);
  });
});

test('functions and mappings come after the role policies Lambda checks at creation', () => {
  for (const name of ['Audit', 'Notify', 'Reconcile']) {
    const fn = id('AWS::Lambda::Function', `${name}Function`);
    for (const d of [role(`${name}Role`), policy(`${name}Role`)]) assert.ok(dependsOn(fn).includes(d), `${fn} DependsOn ${d}`);
  }
  // CreateEventSourceMapping checks that the role may read the stream and write the destination.
  for (const name of ['Audit', 'Notify']) {
    const mapping = id('AWS::Lambda::EventSourceMapping', `${name}StreamMapping`);
    const p = policy(`${name}Role`);
    const sids = R[p].Properties.PolicyDocument.Statement.map((s: any) => s.Sid);
    assert.ok(sids.includes('ReadTheFlagTableStream') && sids.includes('WriteDiscardedBatches'), `${p}: ${sids}`);
    assert.ok(before(mapping).has(p), `${mapping} after ${p}`);
  }
});

test('key policies are created after the roles they name', () => {
  // KMS refuses a policy naming a principal that does not exist (yet).
  const seal = id('AWS::KMS::Key', 'SealKey');
  for (const d of [role('AuditRole'), role('AuditorRole')]) assert.ok(before(seal).has(d), `${seal} after ${d}`);
  // And the audit function, which signs with it, after the key.
  assert.ok(before(id('AWS::Lambda::Function', 'AuditFunction')).has(seal));
});
