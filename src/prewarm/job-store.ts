import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { PrewarmJob } from './prewarm-job.js';

const FILE = 'prewarm-jobs.json';

const userSchema = z.object({
  user: z.string(),
  state: z.enum(['pending', 'starting', 'ready', 'failed', 'skipped']),
  reason: z.string().optional(),
  readyAt: z.number().optional(),
});
const jobSchema = z.object({
  id: z.string(),
  by: z.string(),
  createdAt: z.number(),
  startAt: z.number(),
  readyBy: z.number(),
  holdUntil: z.number(),
  state: z.enum(['scheduled', 'starting', 'holding', 'finished', 'cancelled']),
  users: z.array(userSchema),
});
const fileSchema = z.object({ version: z.literal(1), jobs: z.array(jobSchema) });

/** Where pre-warm jobs are kept between gateway runs: what the engine cannot hold for us. */
export interface JobStore {
  load(): Promise<PrewarmJob[]>;
  save(jobs: PrewarmJob[]): Promise<void>;
}

/**
 * One small JSON file in the state folder (`GATEWAY_STATE_DIR`), replaced
 * whole by write-then-rename, so a crash mid-write leaves the old file or the
 * new one, never half of either. The engine holds every workspace's state;
 * a job (who, by when, how long) is the gateway's own, and a container's
 * labels cannot be changed after it is made.
 */
export class FileJobStore implements JobStore {
  private readonly path: string;
  /** Saves run one after another, the last one winning. */
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly dir: string) {
    this.path = join(dir, FILE);
  }

  async load(): Promise<PrewarmJob[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const parsed = fileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new Error(`${this.path} is not a pre-warm job file this gateway wrote: ${parsed.error.issues[0]?.message}`);
    return parsed.data.jobs;
  }

  save(jobs: PrewarmJob[]): Promise<void> {
    const text = JSON.stringify({ version: 1, jobs });
    const write = async () => {
      await mkdir(this.dir, { recursive: true });
      const temp = `${this.path}.${process.pid}.tmp`;
      await writeFile(temp, text, { mode: 0o600 });
      await rename(temp, this.path);
    };
    this.writing = this.writing.then(write, write);
    return this.writing;
  }
}
