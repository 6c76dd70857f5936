import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ProcessRuntime } from '../../src/runtimes/process/process-runtime.js';
import { runtimeContract } from '../support/runtime-contract.js';

runtimeContract('process', async () => {
  const root = await mkdtemp(join(tmpdir(), 'wg-process-contract-'));
  const open = () => new ProcessRuntime({ settings: { data_root: join(root, 'data'), process_command: undefined }, logger: pino({ level: 'silent' }) });
  return {
    runtime: open(),
    // Same data root, as a restarted gateway: the folders are there, the processes were the old object's children.
    reopen: open,
    reopenFinds: 'nothing',
    engine: { none: 'the runtime is this process: workspaces are its child processes' },
    // The whole process group, as the kernel's OOM killer or a stray kill would end it.
    crash: async (info) => void process.kill(-Number(info.id), 'SIGKILL'),
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
});
