import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeRuntime } from '../support/fake-runtime.js';
import { runtimeContract } from '../support/runtime-contract.js';

runtimeContract('fake', async () => {
  // The fake's one endpoint: an editor that answers.
  const editor = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((ok) => editor.listen(0, '127.0.0.1', ok));
  const runtime = new FakeRuntime({ host: '127.0.0.1', port: (editor.address() as AddressInfo).port }).keepFiles();
  return {
    runtime,
    reopen: () => runtime.reopen(),
    reopenFinds: 'their workspaces',
    // Another object on the same fake engine, which has gone away.
    engine: { down: () => runtime.reopen().down() },
    crash: async (info) => {
      runtime.workspaces.set(info.user, { ...info, state: 'error', reason: 'exited with code 137', endpoint: undefined });
      runtime.emit({ kind: 'died', user: info.user, id: info.id, reason: 'exited with code 137' });
    },
    cleanup: () => new Promise<void>((ok) => editor.close(() => ok())),
  };
});
