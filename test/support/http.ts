import { request } from 'node:http';

export { freePort } from '../../src/runtimes/process/free-port.js';

export interface CallInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface CallResponse {
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
  json(): Promise<any>;
  body: Buffer;
}

/**
 * A plain HTTP/1.1 request. Node's fetch sends its own `Sec-Fetch-Mode: cors`
 * and follows redirects, so it cannot play a browser's page load; this can.
 * Never follows redirects. Rejects when the body breaks off.
 */
export function call(url: string, init: CallInit = {}): Promise<CallResponse> {
  return new Promise((resolve, reject) => {
    // The path goes out exactly as written: URL parsing would resolve `..` and hide what a raw client can send.
    const { hostname, port } = new URL(url);
    const path = url.slice(url.indexOf('/', url.indexOf('//') + 2));
    const req = request({ hostname, port, path, method: init.method ?? 'GET', headers: init.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
      res.on('end', () => {
        if (!res.complete) return reject(new Error('response incomplete'));
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: {
            get: (name) => {
              const v = res.headers[name.toLowerCase()];
              return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v);
            },
          },
          body,
          text: async () => body.toString(),
          json: async () => JSON.parse(body.toString()),
        });
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/**
 * A browser's page load: while the gateway answers with its starting page,
 * wait and load again, as the page's own script would.
 */
export async function visit(url: string, init: CallInit = {}, timeoutMs = 60_000): Promise<CallResponse> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await call(url, init);
    if (res.headers.get('x-workspace-status') !== 'starting' || Date.now() > deadline) return res;
    await new Promise((r) => setTimeout(r, 150));
  }
}
