/**
 * A fault-injecting HTTP proxy on 127.0.0.1 in front of moto, for what moto cannot be made to do
 * by itself: answer a BatchGetItem with UnprocessedKeys, fail one ReceiveMessage, or hold a read
 * until the test has applied an invalidation. Real SDK, real HTTP, real moto behind it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before } from 'node:test';

import { clientsFor, type Clients } from './moto.js';

/** A request as the proxy sees it. */
export interface ProxyRequest {
  /** The operation: `DynamoDB_20120810.BatchGetItem`, `AmazonSQS.ReceiveMessage`, or the query `Action`. */
  readonly target: string;
  readonly body: string;
}

/** A response to send back. */
export interface ProxyResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Decides what to answer; `forward` sends the request to moto. */
export type ProxyHandler = (request: ProxyRequest, forward: () => Promise<ProxyResponse>) => Promise<ProxyResponse>;

/** A running proxy. */
export interface FaultProxy {
  readonly endpoint: string;
  /** Replaces the handler (the default forwards everything). */
  setHandler(handler: ProxyHandler): void;
  close(): Promise<void>;
}

const passThrough: ProxyHandler = (_request, forward) => forward();

/** Starts a proxy forwarding to `upstream` (moto's endpoint). */
export async function startProxy(upstream: string): Promise<FaultProxy> {
  let handler = passThrough;
  // Aborted on close, so a forwarded long poll does not keep this process alive for its 20 s.
  const upstreamCalls = new AbortController();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const amzTarget = req.headers['x-amz-target'];
      const target = typeof amzTarget === 'string' ? amzTarget : (new URLSearchParams(body).get('Action') ?? '');
      const forward = async (): Promise<ProxyResponse> => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) {
          if (typeof v === 'string' && !['host', 'connection', 'content-length', 'transfer-encoding'].includes(k)) headers[k] = v;
        }
        const upstreamRes = await fetch(`${upstream}${req.url ?? '/'}`, { method: req.method ?? 'POST', headers, body, signal: upstreamCalls.signal });
        const out: Record<string, string> = {};
        upstreamRes.headers.forEach((v, k) => {
          // fetch has decoded the body; the checksum header would not match a rewritten one.
          if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection', 'x-amz-crc32'].includes(k)) out[k] = v;
        });
        return { status: upstreamRes.status, headers: out, body: await upstreamRes.text() };
      };
      handler({ target, body }, forward).then(
        (reply) => {
          res.writeHead(reply.status, { ...reply.headers, 'content-length': Buffer.byteLength(reply.body) });
          res.end(reply.body);
        },
        (err: unknown) => {
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end(String(err));
        },
      );
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    setHandler(h) {
      handler = h;
    },
    async close() {
      upstreamCalls.abort();
      server.closeAllConnections();
      await new Promise<void>((ok) => server.close(() => ok()));
    },
  };
}

/** An AWS JSON-protocol error response (what DynamoDB and SQS send for a failed call). */
export function jsonError(status: number, type: string, message: string): ProxyResponse {
  return {
    status,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-query-error': `${type.split('#').pop()};Sender` },
    body: JSON.stringify({ __type: type, message }),
  };
}

/** A proxy in front of `upstream()` for the calling suite, with clients that talk through it. */
export function proxyPerSuite(upstream: () => string): { proxy: FaultProxy; clients: Clients } {
  const fixture = {} as { proxy: FaultProxy; clients: Clients };
  before(async () => {
    fixture.proxy = await startProxy(upstream());
    fixture.clients = clientsFor(fixture.proxy.endpoint);
  });
  after(async () => {
    fixture.clients.destroy();
    await fixture.proxy.close();
  });
  return fixture;
}
