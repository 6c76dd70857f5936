/**
 * The gateway as its own process (`node dist/main.js`, configured through
 * GATEWAY_* as an operator would), for tests whose question is whether the
 * process survives: its exit is observed, not taken down with the test, and
 * its output is kept so a crash can be shown with the lines before it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { vi } from 'vitest';
import { builtGateway } from './gateway-build.js';
import { SECRET } from './gateway.js';
import { call } from './http.js';

export interface GatewayProcessOptions {
  /** GATEWAY_WORKERS: 1 is one process; more is a leader and that many workers. */
  workers: number;
  port: number;
  env?: Record<string, string>;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Lines of output kept for a failure message. */
const KEPT_LINES = 400;

export class GatewayProcess {
  readonly url: string;
  /** Set once the process exited, however. */
  exit?: Exit;
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private partial = '';
  private stopping = false;
  /** Workspace processes this gateway started: they are detached and outlive a crashed gateway. */
  private readonly workspaces = new Set<number>();
  private readonly dataRoot: string;
  readonly exited: Promise<Exit>;

  private constructor(
    main: string,
    readonly options: GatewayProcessOptions,
  ) {
    this.url = `http://127.0.0.1:${options.port}`;
    this.dataRoot = mkdtempSync(join(tmpdir(), 'wg-fuzz-data-'));
    this.child = spawn(process.execPath, [main], {
      env: {
        ...process.env,
        GATEWAY_RUNTIME: 'process',
        GATEWAY_DATA_ROOT: this.dataRoot,
        GATEWAY_JWT_SECRET: SECRET,
        GATEWAY_HOST: '127.0.0.1',
        GATEWAY_PORT: String(options.port),
        GATEWAY_WORKERS: String(options.workers),
        GATEWAY_LOG_LEVEL: 'info',
        ...options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (c: Buffer) => this.keep(c));
    this.child.stderr!.on('data', (c: Buffer) => this.keep(c));
    this.exited = new Promise((done) =>
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        done(this.exit);
      }),
    );
  }

  /** Starts it and waits until /healthz answers and (with workers) every worker runs. */
  static async start(options: GatewayProcessOptions): Promise<GatewayProcess> {
    const gateway = new GatewayProcess(await builtGateway(), options);
    const ready = async () => {
      if (gateway.exit) throw new Error(`the gateway exited while starting\n${gateway.lastLines()}`);
      const health = await call(`${gateway.url}/healthz`).then(
        (r) => r.status,
        () => 0,
      );
      return health === 200 && (options.workers === 1 || gateway.workerPids().length === options.workers);
    };
    try {
      await vi.waitUntil(ready, { timeout: 30_000, interval: 100 });
      return gateway;
    } catch (err) {
      const why = gateway.exit ? err : new Error(`the gateway did not start in 30 s\n${gateway.lastLines()}`);
      await gateway.stop();
      throw why;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  alive(): boolean {
    return this.exit === undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The leader's forked workers (its other children are workspace processes). */
  workerPids(): number[] {
    return this.children().filter((pid) => commandLine(pid).includes('main.js'));
  }

  /** The workspace processes it started (the runtime's children that are not workers). */
  workspacePids(): number[] {
    return this.children().filter((pid) => !commandLine(pid).includes('main.js'));
  }

  /** Leader (or the single process) and its workers. */
  gatewayPids(): number[] {
    return this.alive() ? [this.pid, ...this.workerPids()] : [];
  }

  /** Open file descriptors of all gateway processes together. */
  fdCount(): number {
    return this.gatewayPids().reduce((sum, pid) => sum + fdsOf(pid).length, 0);
  }

  /** The TCP sockets the gateway processes hold open. */
  tcpSockets(): TcpSocket[] {
    const table = socketTable();
    return this.gatewayPids().flatMap((pid) =>
      fdsOf(pid).flatMap((target) => {
        const s = table.get(/^socket:\[(\d+)\]$/.exec(target)?.[1] ?? '');
        return s ? [s] : [];
      }),
    );
  }

  /**
   * What the open descriptors are, per process: sockets by state and far
   * end (named by `portNames` where known), the rest by kind. For a leak's
   * failure message.
   */
  describeFds(portNames: Record<number, string> = {}): string {
    const sockets = socketTable();
    const lines: string[] = [];
    for (const pid of this.gatewayPids()) {
      const counts = new Map<string, number>();
      for (const target of fdsOf(pid)) {
        const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
        let kind: string;
        if (inode === undefined) kind = target.startsWith('/') ? 'file' : target.replace(/\[.*$/, '');
        else {
          const s = sockets.get(inode);
          kind = s ? `tcp ${s.state} ${s.local}->${portNames[s.remotePort] ?? portNames[s.localPort] ?? s.remote}` : 'socket (unix or other)';
        }
        counts.set(kind, (counts.get(kind) ?? 0) + 1);
      }
      lines.push(
        `pid ${pid}: ${[...counts]
          .sort((a, b) => b[1] - a[1])
          .map(([k, n]) => `${n}× ${k}`)
          .join('; ')}`,
      );
    }
    return lines.join('\n');
  }

  /** The last lines the gateway printed (its JSON log and anything on stderr). */
  lastLines(n = 40): string {
    const all = this.partial ? [...this.lines, this.partial] : this.lines;
    return all.slice(-n).join('\n');
  }

  /** Every kept line (for searching the log). */
  log(): string[] {
    return this.lines;
  }

  /** Why the process is not running, with its last lines; undefined while it runs. */
  exitReport(): string | undefined {
    if (this.alive()) return undefined;
    const how = this.exit ? (this.exit.signal ? `killed by ${this.exit.signal}` : `exited with code ${this.exit.code}`) : 'exited';
    return `the gateway process ${this.pid} ${how}; its last lines:\n${this.lastLines()}`;
  }

  /** Records the workspace processes it runs, to stop them if it dies without doing so. */
  noteWorkspaces(): void {
    for (const pid of this.workspacePids()) this.workspaces.add(pid);
  }

  async stop(): Promise<void> {
    this.noteWorkspaces();
    if (this.alive() && !this.stopping) {
      this.stopping = true;
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
      await this.exited;
      clearTimeout(timer);
    }
    // A gateway that crashed left its workspaces running (they are detached, each in its own group):
    // those seen as its children, and any process still working in its data folder.
    for (const pid of [...this.workspaces, ...processesIn(this.dataRoot)]) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }
    rmSync(this.dataRoot, { recursive: true, force: true });
  }

  private children(): number[] {
    if (!this.alive()) return [];
    try {
      const text = readFileSync(`/proc/${this.pid}/task/${this.pid}/children`, 'utf8').trim();
      return text ? text.split(/\s+/).map(Number) : [];
    } catch {
      return [];
    }
  }

  private keep(chunk: Buffer): void {
    const parts = (this.partial + chunk.toString()).split('\n');
    this.partial = parts.pop() ?? '';
    this.lines.push(...parts);
    if (this.lines.length > KEPT_LINES * 2) this.lines.splice(0, this.lines.length - KEPT_LINES);
  }
}

/** Processes whose working directory is inside `dir` (the process runtime starts each workspace in its folder). */
function processesIn(dir: string): number[] {
  return readdirSync('/proc').flatMap((name) => {
    if (!/^\d+$/.test(name)) return [];
    try {
      const cwd = readlinkSync(`/proc/${name}/cwd`);
      return cwd === dir || cwd.startsWith(`${dir}/`) ? [Number(name)] : [];
    } catch {
      return [];
    }
  });
}

function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

/** Targets of a process's descriptors (`socket:[123]`, `/path`, `pipe:[…]`, `anon_inode:[eventpoll]`). */
function fdsOf(pid: number): string[] {
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  return names.flatMap((fd) => {
    try {
      return [readlinkSync(`/proc/${pid}/fd/${fd}`)];
    } catch {
      return [];
    }
  });
}

export interface TcpSocket {
  local: string;
  remote: string;
  localPort: number;
  remotePort: number;
  state: string;
}

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '03': 'SYN_RECV',
  '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '09': 'LAST_ACK',
  '0A': 'LISTEN',
  '0B': 'CLOSING',
};

/** inode → TCP socket, from /proc/net/tcp and tcp6. */
function socketTable(): Map<string, TcpSocket> {
  const table = new Map<string, TcpSocket>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const [local, remote, state, inode] = [f[1]!, f[2]!, f[3]!, f[9]!];
      const port = (addr: string) => parseInt(addr.split(':')[1]!, 16);
      table.set(inode, {
        local: `:${port(local)}`,
        remote: `:${port(remote)}`,
        localPort: port(local),
        remotePort: port(remote),
        state: TCP_STATES[state] ?? state,
      });
    }
  }
  return table;
}
