/**
 * compose.swarm.yaml, brought up with Debian's docker-compose on the swarm
 * bed's manager as an operator would, serves a student's workspace end to
 * end over the swarm. The bed cannot pull, so a second compose file swaps
 * the gateway image for the bed's node image running this checkout's build,
 * mounted read-only.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { LABEL } from '../../src/runtimes/engine/labels.js';
import { uniqueInstance } from '../support/engine.js';
import { builtGateway, REPO } from '../support/gateway-build.js';
import { pageLoad, token } from '../support/gateway.js';
import { visit } from '../support/http.js';
import { swarmBed, type SwarmBed } from '../support/swarm-bed.js';
import { cleanupSwarm } from '../support/swarm-workspaces.js';

const COMPOSE_CLI = '/usr/bin/docker-compose';
const run = promisify(execFile);
const { instance } = uniqueInstance('compose-swarm');
const project = instance.replace(/[^a-z0-9]/g, '');
const jwtSecret = `lms-signing-key-${instance}-0123456789abcdef`;
const port = 18_000 + Math.floor(Math.random() * 2_000);

describe('compose.swarm.yaml on a swarm manager', () => {
  let bed: SwarmBed;
  let folder = '';
  const compose = (args: string[], env: Record<string, string> = {}) =>
    run(COMPOSE_CLI, ['-f', join(REPO, 'compose.swarm.yaml'), '-f', join(folder, 'bed.yaml'), '-p', project, ...args], {
      env: {
        ...process.env,
        DOCKER_HOST: `unix://${bed.manager.socket}`,
        DOCKER_SOCKET: bed.manager.socket,
        GATEWAY_INSTANCE: instance,
        GATEWAY_PUBLISHED_PORT: `${bed.manager.ip}:${port}`,
        GATEWAY_JWT_SECRET_PATH: join(folder, 'jwt'),
        GATEWAY_SESSION_SECRET_PATH: join(folder, 'session'),
        WORKSPACE_IMAGE: bed.images[0]!,
        ...env,
      },
      timeout: 180_000,
    });
  const logs = async () => (await compose(['logs', '--tail', '40'])).stdout;

  beforeAll(async () => {
    bed = await swarmBed();
    folder = mkdtempSync(join(tmpdir(), 'wg-compose-swarm-'));
    writeFileSync(join(folder, 'jwt'), jwtSecret);
    writeFileSync(join(folder, 'session'), `session-key-${instance}-${'s'.repeat(32)}`);
    const main = await builtGateway();
    const build = dirname(dirname(main));
    const gateway = {
      image: bed.images[0],
      // Root, for the bed engine's socket (root:root); the real image runs as uid 1000 with the socket's group.
      user: '0:0',
      entrypoint: ['node', main],
      volumes: [`${REPO}:${REPO}:ro`, `${build}:${build}:ro`],
      environment: { GATEWAY_CONTAINER_PREFIX: `${instance}_`, GATEWAY_MEMORY_LIMIT: '256m', GATEWAY_SPAWN_TIMEOUT: '60s' },
      labels: { [LABEL.managed]: 'true', [LABEL.instance]: instance },
    };
    writeFileSync(join(folder, 'bed.yaml'), stringify({ services: { gateway } }));
    await compose(['up', '-d']);
  }, 180_000);
  afterAll(async () => {
    if (!bed) return;
    await compose(['down']).catch(() => undefined);
    await cleanupSwarm(bed, instance);
  }, 120_000);

  it('runs the gateway as a container on the manager with one published port, and serves a workspace through it', async () => {
    const url = `http://${bed.manager.ip}:${port}`;
    const deadline = Date.now() + 90_000;
    const ready = () =>
      fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
    while (!(await ready())) {
      if (Date.now() > deadline) throw new Error(`the gateway did not get ready:\n${await logs()}`);
      await new Promise((ok) => setTimeout(ok, 500));
    }
    const jwt = await token('stacy', { secret: jwtSecret });
    const res = await visit(`${url}/ws/stacy/__echo`, { headers: pageLoad(jwt) });
    if (res.status !== 200) throw new Error(`${res.status} ${await res.text()}\n${await logs()}`);
    expect((await res.json()).user).toBe('stacy');
    const services = await bed.docker(bed.manager).listServices({ filters: { label: [`${LABEL.instance}=${instance}`] } });
    expect(services.map((s) => [s.Spec?.Name, s.Spec?.Mode?.Replicated?.Replicas])).toEqual([[`${instance}_stacy`, 1]]);
  }, 180_000);
});
