/**
 * One moto server per test file, on a port the server binds itself (scripts/moto-serve.py), so
 * no other process can answer on it. It exits when our stdin pipe closes, i.e. with this process.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';

import { waitFor } from './wait.js';

/** The package directory (consumers/node) and the repository root two levels above it. */
export const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const repoRoot = resolve(packageDir, '../..');

// No test may reach a real AWS endpoint, credentials chain or instance-metadata service.
process.env.AWS_ACCESS_KEY_ID = 'test';
process.env.AWS_SECRET_ACCESS_KEY = 'test';
process.env.AWS_REGION = 'us-east-1';
process.env.AWS_EC2_METADATA_DISABLED = 'true';

/** A running moto. */
export interface Moto {
  readonly port: number;
  readonly endpoint: string;
  stop(): Promise<void>;
}

/** Starts moto and waits until `GET /moto-api/` answers 200 with "Moto" in the body. */
export async function startMoto(): Promise<Moto> {
  const python = resolve(repoRoot, '.venv/bin/python');
  if (!existsSync(python)) throw new Error(`${python} missing: run ${resolve(repoRoot, 'scripts/setup-python.sh')}`);
  const child: ChildProcessWithoutNullStreams = spawn(python, [resolve(repoRoot, 'scripts/moto-serve.py'), '--exit-with-stdin'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const port = await new Promise<number>((ok, fail) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => {
      lines.close();
      const port = Number(line.trim());
      if (Number.isInteger(port) && port > 0) ok(port);
      else fail(new Error(`moto printed ${JSON.stringify(line)} instead of a port`));
    });
    child.once('exit', (code) => fail(new Error(`moto exited (${code}) before printing its port: ${stderr}`)));
  });
  // Keep draining stdout so a chatty server never blocks on a full pipe.
  child.stdout.resume();
  const endpoint = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      try {
        const res = await fetch(`${endpoint}/moto-api/`);
        return res.status === 200 && (await res.text()).includes('Moto');
      } catch {
        return false;
      }
    },
    { what: 'moto to answer /moto-api/', timeoutMs: 60_000 },
  );
  return {
    port,
    endpoint,
    async stop() {
      child.stdin.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** SDK clients pointed at an endpoint on 127.0.0.1 with dummy credentials. */
export interface Clients {
  readonly dynamodb: DynamoDBClient;
  readonly sqs: SQSClient;
  readonly sns: SNSClient;
  destroy(): void;
}

/** Clients for `endpoint` (moto, or a fault proxy in front of it). */
export function clientsFor(endpoint: string, options: { maxAttempts?: number } = {}): Clients {
  const common = {
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: options.maxAttempts ?? 3,
  };
  const dynamodb = new DynamoDBClient(common);
  const sqs = new SQSClient(common);
  const sns = new SNSClient(common);
  return {
    dynamodb,
    sqs,
    sns,
    destroy() {
      dynamodb.destroy();
      sqs.destroy();
      sns.destroy();
    },
  };
}

/** One moto for the calling test file: started before its tests, stopped after them. */
export function motoPerFile(): { moto: Moto; aws: Clients } {
  const fixture = {} as { moto: Moto; aws: Clients };
  before(async () => {
    fixture.moto = await startMoto();
    fixture.aws = clientsFor(fixture.moto.endpoint);
  });
  after(async () => {
    fixture.aws.destroy();
    await fixture.moto.stop();
  });
  return fixture;
}
