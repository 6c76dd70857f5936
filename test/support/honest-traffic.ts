/**
 * A student using their workspace while someone else attacks the gateway:
 * requests one after another (on fresh and on kept-alive connections) whose
 * answers are checked byte for byte: 200, from their own workspace, the
 * answer to this very request.
 */
import { Agent, request } from 'node:http';
import { scriptRequest } from './gateway.js';

export interface HonestFailure {
  /** Which gateway process served (see `generation`): a crash's failures are the crash's. */
  generation: number;
  at: number;
  what: string;
}

export interface HonestTrafficOptions {
  /** The gateway's base URL now (it may have been restarted on another process). */
  base: () => string;
  /** Changes when the gateway is replaced; requests wait while it is undefined. */
  generation: () => number | undefined;
  jwt: string;
  user: string;
  /** Requests in flight at once. */
  lanes?: number;
  timeoutMs?: number;
}

interface Answer {
  status: number;
  body: Buffer;
}

const KIB = Buffer.alloc(1024, 'x');
const MIB = Buffer.alloc(1024 * 1024, 'y');

export class HonestTraffic {
  readonly failures: HonestFailure[] = [];
  served = 0;
  private running = true;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 2 });
  private readonly lanes: Promise<void>[];
  private n = 0;

  constructor(private readonly options: HonestTrafficOptions) {
    this.lanes = Array.from({ length: options.lanes ?? 2 }, () => this.lane());
  }

  /** Failures of the given gateway generation since `since` (epoch ms). */
  failuresSince(since: number, generation: number): HonestFailure[] {
    return this.failures.filter((f) => f.at >= since && f.generation === generation);
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.lanes);
    this.agent.destroy();
  }

  private async lane(): Promise<void> {
    while (this.running) {
      const generation = this.options.generation();
      if (generation === undefined) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const n = ++this.n;
      const problem = await this.one(n).catch((err: Error) => `no answer: ${err.message}`);
      if (problem) this.failures.push({ generation, at: Date.now(), what: `request ${n}: ${problem}` });
      else this.served++;
    }
  }

  /** One request, chosen by n; undefined when its answer is right, else what is wrong with it. */
  private async one(n: number): Promise<string | undefined> {
    const { user } = this.options;
    const kept = n % 2 === 0;
    if (n % 3 === 0) {
      const big = n % 15 === 0;
      const path = `/ws/${user}/__bytes${big ? '?size=1m' : ''}`;
      const res = await this.get(path, kept);
      const want = big ? MIB : KIB;
      if (res.status !== 200) return `${path}: status ${res.status}: ${res.body.toString('latin1', 0, 300)}`;
      if (!res.body.equals(want))
        return `${path}: ${res.body.length} bytes, not the ${want.length} expected: ${JSON.stringify(res.body.toString('latin1', 0, 200))}`;
      return undefined;
    }
    const path = `/ws/${user}/__echo?n=${n}`;
    const res = await this.get(path, kept);
    const text = res.body.toString('latin1');
    if (res.status !== 200) return `${path}: status ${res.status}: ${text.slice(0, 300)}`;
    let echo: { user?: string; url?: string; method?: string };
    try {
      echo = JSON.parse(text);
    } catch {
      return `${path}: not the echo's JSON: ${JSON.stringify(text.slice(0, 300))}`;
    }
    if (echo.user !== user || echo.url !== `/__echo?n=${n}` || echo.method !== 'GET') return `${path}: someone else's answer: ${text.slice(0, 300)}`;
    return undefined;
  }

  private get(path: string, keptAlive: boolean): Promise<Answer> {
    const url = new URL(this.options.base());
    return new Promise((resolve, reject) => {
      const req = request(
        {
          hostname: url.hostname,
          port: url.port,
          path,
          headers: scriptRequest(this.options.jwt),
          agent: keptAlive ? this.agent : false,
          timeout: this.options.timeoutMs ?? 8000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => (res.complete ? resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }) : reject(new Error('answer broke off'))));
          res.on('close', () => reject(new Error('answer broke off')));
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no complete answer in ${this.options.timeoutMs ?? 8000} ms`)));
      req.on('error', reject);
      req.end();
    });
  }
}
