import { spawn, type SpawnOptions } from 'node:child_process';

/** A server the tests start in a process group of its own, so stopping it takes whatever it started too. */
export interface ProcessGroup {
  /** The last 8 KiB of its stderr. */
  stderr(): string;
  /** Whether it exited, and how. */
  exit(): string | undefined;
  /** SIGTERM to the group, SIGKILL after 5 s; resolves once it is gone. */
  stop(): Promise<void>;
}

export function startGroup(command: string, args: string[], options: Omit<SpawnOptions, 'detached' | 'stdio'> = {}): ProcessGroup {
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-8000)));
  let exit: string | undefined;
  const exited = new Promise<void>((ok) => child.once('exit', (code, signal) => ok(void (exit = `exited ${code ?? signal}`))));
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {}
  };
  return {
    stderr: () => stderr,
    exit: () => exit,
    async stop() {
      if (exit !== undefined || !child.pid) return;
      kill('SIGTERM');
      const gone = await Promise.race([exited.then(() => true), new Promise<boolean>((ok) => setTimeout(() => ok(false), 5000))]);
      if (!gone) {
        kill('SIGKILL');
        await exited;
      }
    },
  };
}
