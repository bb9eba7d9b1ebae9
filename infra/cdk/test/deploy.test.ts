// The GitHub deploy role: trusted only for this repository's runs in the stage's environment, and
// allowed only to assume the CDK bootstrap roles.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { FlagtrailDeployStack } from '../lib/deploy-stack';

test('the deploy role trusts one repository and environment, and may only use the bootstrap roles', () => {
  const app = new App();
  const stack = new FlagtrailDeployStack(app, 'Deploy', { repository: 'acme/flagtrail', stage: 'prod', env: { account: '123456789012', region: 'eu-west-1' } });
  const t = Template.fromStack(stack).toJSON();
  const [role] = Object.values<any>(t.Resources).filter((r) => r.Type === 'AWS::IAM::Role');
  const trust = role.Properties.AssumeRolePolicyDocument.Statement;
  assert.equal(trust.length, 1);
  assert.equal(trust[0].Action, 'sts:AssumeRoleWithWebIdentity');
  assert.deepEqual(trust[0].Condition, {
    StringEquals: { 'token.actions.githubusercontent.com:aud': 'sts.amazonaws.com', 'token.actions.githubusercontent.com:sub': 'repo:acme/flagtrail:environment:prod' },
  });
  assert.equal(role.Properties.ManagedPolicyArns, undefined);
  const statements = Object.values<any>(t.Resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy')
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
  assert.deepEqual(statements.map((s) => s.Action), ['sts:AssumeRole']);
  const resources = JSON.stringify(statements[0].Resource);
  for (const r of ['deploy', 'file-publishing', 'lookup']) assert.ok(resources.includes(`cdk-hnb659fds-${r}-role-123456789012-eu-west-1`), r);
  assert.ok(!resources.includes('*'), 'no wildcard');
});
