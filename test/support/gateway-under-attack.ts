/**
 * A gateway process with two students: the honest one (her workspace used
 * all the time by HonestTraffic, every answer checked) and the hostile one
 * (whose workspace and client the fuzz tests script). After each generated
 * case, `check` says what went wrong: the process (or a worker) died, or the
 * honest student got a wrong answer. A dead gateway is replaced before the
 * next case, so fast-check's shrinking runs each smaller case against a live
 * one. File descriptors are compared with a baseline taken when the
 * gateway had settled.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type fc from 'fast-check';
import { expect } from 'vitest';
import { fuzz } from './fuzz-check.js';
import { GatewayProcess, type TcpSocket } from './gateway-process.js';
import { pageLoad, scriptRequest, token } from './gateway.js';
import { call, freePort, visit } from './http.js';
import { HonestTraffic } from './honest-traffic.js';

export const HONEST = 'alice';
export const HOSTILE = 'mallory';

/** The demo workspace, for every user: its `/__raw` answers with what the request scripts. */
const WORKSPACE_COMMAND = `"${process.execPath}" "${fileURLToPath(new URL('../../images/demo-workspace/server.mjs', import.meta.url))}"`;

/** The pool closes idle workspace connections after 4 s: a settled gateway has none. */
const POOL_IDLE_MS = 4000;
/** Kept-alive connections and the like: a few descriptors either way are not a leak. */
export const FD_SLACK = 2;
/** How long a hung-up client's connection may stay open on the gateway. */
const RELEASE_MS = 7000;
/** How long a case waits for its clients' connections to go before it is set aside to be judged later. */
const QUICK_RELEASE_MS = 1000;

const describeHeld = (held: TcpSocket[]) =>
  `the gateway still holds ${held.length} of their connections (${held.map((s) => `${s.state} from ${s.remote}`).join(', ')})`;

/** A fuzz property against the gateway: each generated value is played by the attacker. */
export interface AttackFuzz<T> {
  name: string;
  cases: fc.Arbitrary<T>;
  /** Plays one case, noting the ports of the attacker's clients (all closed when it returns); what the attacker got that it may not. */
  play: (value: T, clientPorts: number[]) => Promise<string[]>;
  describe: (value: T) => string;
  numRuns: number;
  timeLimitMs: number;
}

export interface AttackSetup {
  workers: number;
  env?: Record<string, string>;
}

export class GatewayUnderAttack {
  gateway!: GatewayProcess;
  /** Bumped for every gateway process; undefined while one is being started. */
  generation: number | undefined;
  baselineFds = 0;
  honestJwt = '';
  hostileJwt = '';
  traffic?: HonestTraffic;
  /** Every crash seen, with the gateway's last lines (a shrinking run sees several). */
  readonly crashes: string[] = [];
  /** Connections of hung-up clients the gateway kept (see clientConnectionsReleased). */
  readonly leaks: string[] = [];
  private lingering: { ports: Set<number>; since: number; what: string }[] = [];
  private port = 0;
  private workers: number[] = [];
  private nextGeneration = 1;

  constructor(readonly setup: AttackSetup) {}

  get url(): string {
    return this.gateway.url;
  }

  async start(): Promise<void> {
    this.port = await freePort();
    this.honestJwt = await token(HONEST);
    this.hostileJwt = await token(HOSTILE);
    await this.launch(true);
  }

  /** Replaces a gateway that died (or lost a worker) since it started. */
  async ensureHealthy(): Promise<void> {
    if (this.gateway.alive()) await this.judgeLingering();
    const problem = this.problem();
    if (problem === undefined) return;
    this.crashes.push(problem);
    this.generation = undefined;
    this.lingering = [];
    await this.gateway.stop();
    // No new baseline: a test that saw a crash has failed, and shrinking should not wait 5 s per case.
    await this.launch(false);
  }

  /**
   * Fuzzes the gateway with `play` while the honest student's traffic runs,
   * then asserts what every such check asserts: no connection of a hung-up
   * client kept, no crash, the gateway alive, her answers served, the file
   * descriptors back at the baseline.
   */
  async livesThrough<T>(f: AttackFuzz<T>): Promise<void> {
    const crashesBefore = this.crashes.length;
    this.startHonestTraffic();
    await fuzz(
      f.name,
      f.cases,
      (value) =>
        this.runCase(
          (ports) => f.play(value, ports),
          () => f.describe(value),
        ),
      {
        numRuns: f.numRuns,
        timeLimitMs: f.timeLimitMs,
        describe: f.describe,
        context: () => this.crashReport(),
      },
    );
    await this.stopHonestTraffic();
    await this.judgeLingering(true);
    expect(this.leaks.splice(0)).toEqual([]);
    expect(this.crashes.slice(crashesBefore)).toEqual([]);
    expect(this.gateway.alive()).toBe(true);
    expect(this.traffic!.served).toBeGreaterThan(0);
    expect(await this.fdsBackToBaseline()).toBeUndefined();
  }

  /** One generated case against a live gateway; throws what went wrong. */
  private async runCase(play: (clientPorts: number[]) => Promise<string[]>, what: () => string): Promise<void> {
    await this.ensureHealthy();
    const generation = this.generation!;
    const since = Date.now();
    const clientPorts: number[] = [];
    const problems = await play(clientPorts);
    const held = await this.clientConnectionsReleased(clientPorts, what);
    if (held) problems.push(held);
    // A crash takes a moment to show as an exit.
    await new Promise((r) => setTimeout(r, 50));
    const problem = this.check(since, generation);
    if (problem) problems.unshift(problem);
    this.gateway.noteWorkspaces();
    if (problems.length) throw new Error(problems.join('\n'));
  }

  /** For a fuzz failure message: the crashes seen while shrinking, the first in full. */
  private crashReport(): string {
    return this.crashes.length ? `The gateway crashed ${this.crashes.length} time(s) during the check; the first:\n${this.crashes[0]}` : '';
  }

  /**
   * What is wrong now: the process exited, a worker was replaced, or the
   * honest student got a wrong answer since `since`. Undefined if nothing.
   */
  check(since: number, generation: number): string | undefined {
    const problem = this.problem();
    const honest = this.traffic?.failuresSince(since, generation) ?? [];
    const parts = [
      problem,
      honest.length
        ? `${HONEST} got wrong answers:\n  ${honest
            .slice(0, 5)
            .map((f) => f.what)
            .join('\n  ')}`
        : undefined,
    ].filter(Boolean);
    return parts.length ? parts.join('\n') : undefined;
  }

  startHonestTraffic(): void {
    this.traffic = new HonestTraffic({ base: () => this.url, generation: () => this.generation, jwt: this.honestJwt, user: HONEST });
  }

  async stopHonestTraffic(): Promise<void> {
    await this.traffic?.stop();
  }

  /**
   * Waits until the gateway's descriptors are back at the baseline (plus
   * the slack); resolves with undefined, or what is still open.
   */
  async fdsBackToBaseline(timeoutMs = POOL_IDLE_MS + 8000): Promise<string | undefined> {
    const until = Date.now() + timeoutMs;
    let count = this.gateway.fdCount();
    while (count > this.baselineFds + FD_SLACK && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 250));
      count = this.gateway.fdCount();
    }
    if (!this.gateway.alive()) return this.gateway.exitReport();
    if (count <= this.baselineFds + FD_SLACK) return undefined;
    return `${count} file descriptors open, ${this.baselineFds} at the start (${timeoutMs} ms after the last request):\n${this.gateway.describeFds(this.portNames())}`;
  }

  /**
   * The attacker's clients (by their ports) hung up: the gateway must let go
   * of their connections within RELEASE_MS (a relayed WebSocket whose client
   * half-closed gets 5 s for the other side to finish, then 1 s to flush).
   *
   * Waiting that long after every case would make the check slow, so a case
   * whose connections are still open after a short wait is set aside and
   * judged later (`judgeLingering`): a leak is then reported with the exact
   * case, unshrunk. With FUZZ_STRICT_RELEASE=1 the case waits the whole time
   * and fails itself, so fast-check shrinks it (slower; for reproducing a leak).
   * Undefined when fine (or set aside); else what the gateway still holds.
   */
  async clientConnectionsReleased(clientPorts: number[], what: () => string): Promise<string | undefined> {
    const strict = process.env.FUZZ_STRICT_RELEASE === '1';
    const held = await this.heldUntil(new Set(clientPorts), Date.now() + (strict ? RELEASE_MS : QUICK_RELEASE_MS));
    if (held.length === 0) return undefined;
    if (strict) return `${RELEASE_MS} ms after the attacker's clients hung up, ${describeHeld(held)}`;
    this.lingering.push({ ports: new Set(clientPorts), since: Date.now(), what: what() });
    return undefined;
  }

  /**
   * Cases set aside whose connections should be gone by now: any still held
   * is a leak, recorded in `leaks`. With `wait`, waits until every case set
   * aside is old enough to judge.
   */
  async judgeLingering(wait = false): Promise<void> {
    if (wait && this.lingering.length > 0) {
      const last = Math.max(...this.lingering.map((l) => l.since));
      await new Promise((r) => setTimeout(r, Math.max(0, last + RELEASE_MS - Date.now())));
    }
    const due = this.lingering.filter((l) => Date.now() - l.since >= RELEASE_MS - QUICK_RELEASE_MS);
    this.lingering = this.lingering.filter((l) => !due.includes(l));
    for (const l of due) {
      const held = await this.heldUntil(l.ports, 0);
      if (held.length > 0) this.leaks.push(`${RELEASE_MS} ms after the attacker's clients hung up, ${describeHeld(held)}; the case:\n${l.what}`);
    }
  }

  private async heldUntil(ports: Set<number>, until: number): Promise<TcpSocket[]> {
    for (;;) {
      const held = this.gateway.tcpSockets().filter((s) => s.localPort === this.port && ports.has(s.remotePort));
      if (held.length === 0 || Date.now() >= until) return held;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    await this.stopHonestTraffic();
    await this.gateway?.stop();
  }

  /** Stops the hostile student's workspace: the next page load spawns it (with workers, through the leader). */
  async stopHostileWorkspace(): Promise<void> {
    const res = await call(`${this.url}/api/workspaces/${HOSTILE}/stop`, { method: 'POST', headers: scriptRequest(this.hostileJwt) });
    if (res.status >= 300) throw new Error(`could not stop ${HOSTILE}'s workspace: ${res.status} ${await res.text()}`);
  }

  private problem(): string | undefined {
    if (!this.gateway.alive()) return this.gateway.exitReport();
    if (this.setup.workers > 1) {
      const now = this.gateway.workerPids();
      const gone = this.workers.filter((pid) => !now.includes(pid));
      if (gone.length) return `gateway worker(s) ${gone.join(', ')} died; the gateway's last lines:\n${this.gateway.lastLines()}`;
    }
    return undefined;
  }

  private async launch(takeBaseline: boolean): Promise<void> {
    this.gateway = await GatewayProcess.start({
      workers: this.setup.workers,
      port: this.port,
      env: {
        GATEWAY_PROCESS_COMMAND: WORKSPACE_COMMAND,
        GATEWAY_PROXY_TIMEOUT: '2s',
        GATEWAY_SPAWN_TIMEOUT: '20s',
        GATEWAY_START_RATE_LIMIT: '0',
        ...this.setup.env,
      },
    });
    this.workers = this.gateway.workerPids();
    for (const [user, jwt] of [
      [HONEST, this.honestJwt],
      [HOSTILE, this.hostileJwt],
    ] as const) {
      const page = await visit(`${this.url}/ws/${user}/`, { headers: pageLoad(jwt) }, 20_000);
      if (page.status !== 200) throw new Error(`${user}'s workspace did not start: ${page.status}\n${this.gateway.lastLines()}`);
    }
    // With workers, the leader tells them about the spawned workspaces within 100 ms.
    await new Promise((r) => setTimeout(r, 300));
    this.gateway.noteWorkspaces();
    if (takeBaseline) this.baselineFds = await this.settledFdCount();
    this.generation = this.nextGeneration++;
  }

  /** Descriptor count once idle connections have closed and nothing changed for a second. */
  private async settledFdCount(): Promise<number> {
    const started = Date.now();
    let count = this.gateway.fdCount();
    let changed = Date.now();
    while (Date.now() - started < POOL_IDLE_MS + 500 || Date.now() - changed < 1000) {
      await new Promise((r) => setTimeout(r, 250));
      const now = this.gateway.fdCount();
      if (now !== count) ((count = now), (changed = Date.now()));
      if (Date.now() - started > 20_000) break;
    }
    return count;
  }

  /** Far ends of sockets by name, for the descriptor report. */
  private portNames(): Record<number, string> {
    const names: Record<number, string> = { [this.port]: 'a client' };
    for (const pid of this.gateway.workspacePids()) {
      try {
        const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
        const port = env.find((e) => e.startsWith('PORT='))?.slice(5);
        const user = env.find((e) => e.startsWith('WORKSPACE_USER='))?.slice(15);
        if (port) names[Number(port)] = `${user}'s workspace`;
      } catch {
        /* gone */
      }
    }
    return names;
  }
}
