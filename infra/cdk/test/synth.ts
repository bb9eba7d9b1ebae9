// Synthesis for the tests: the placeholder Lambda assets and the prod stack every test file starts
// from (the README's stage, table and stream, in 123456789012 / eu-west-1), each test adding its own
// props on top.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { FlagtrailStack, FlagtrailProps } from '../lib/flagtrail-stack';

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';

/** Placeholder bootstrap zips in a new temp dir: synthesis hashes the assets, it never runs them. */
export function placeholderAssets(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flagtrail-assets-'));
  for (const fn of ['audit', 'notify', 'reconcile', 'log-writer', 'witness']) {
    fs.mkdirSync(path.join(dir, fn));
    // An empty zip archive (end-of-central-directory record only).
    fs.writeFileSync(path.join(dir, fn, 'bootstrap.zip'), Buffer.from([0x50, 0x4b, 0x05, 0x06, ...new Array(18).fill(0)]));
  }
  return dir;
}

/** The prod stack attached to feature-flags-prod's stream, with `extra` over those props. */
export function prodStack(extra: Partial<FlagtrailProps> = {}, id = 'Test', app = new App()): FlagtrailStack {
  return new FlagtrailStack(app, id, {
    stage: 'prod',
    tableName: 'feature-flags-prod',
    tableStreamArn: `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/feature-flags-prod/stream/2026-11-01T00:00:00.000`,
    assetDir: placeholderAssets(),
    env: { account: ACCOUNT, region: REGION },
    ...extra,
  });
}

/** The synthesized template (JSON) of `prodStack(extra, id)`. */
export function prodTemplate(extra: Partial<FlagtrailProps> = {}, id = 'Test'): any {
  return Template.fromStack(prodStack(extra, id)).toJSON();
}
