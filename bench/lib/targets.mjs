// Starts the things the bench measures, each in its own process on 127.0.0.1:
// the demo backend (also the `direct` target), the gateway (10 and 10,000
// known workspaces), nginx from Debian, and configurable-http-proxy from npm.
import { randomBytes } from 'node:crypto';
import { chmodSync, createWriteStream, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processTree } from './procstat.mjs';
import { ask, freePort, run, spawnChild, stopChild, waitForPort } from './util.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const BENCH_DIR = join(here, '..');
export const REPO = join(BENCH_DIR, '..');

/** What the Dockerfile and `npm start` add to the gateway's environment (README, "The C allocator"). */
export const GATEWAY_PROCESS_ENV = { MALLOC_TRIM_THRESHOLD_: '67108864' };

function logTo(child, file) {
  const out = createWriteStream(file, { flags: 'a' });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
}

/** The demo workspace server as the one backend behind every target. */
export async function startBackend(work) {
  const port = await freePort();
  const child = spawnChild(process.execPath, [join(BENCH_DIR, 'backend-entry.mjs')], {
    cwd: REPO,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', WORKSPACE_USER: 'bench' },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  logTo(child, join(work, 'backend.log'));
  await waitForPort(port, 10_000, 'the demo backend');
  return {
    name: 'direct',
    port,
    pid: child.pid,
    child,
    prefix: '',
    pids: () => [child.pid],
    stop: () => stopChild(child),
  };
}

/**
 * The gateway in its own process (bench/gateway-entry.mjs), `known` workspaces
 * loaded from the runtime at start. `nodeArgs` e.g. ['--cpu-prof', ...].
 */
export async function startGateway({ work, name, backendPort, secret, known, user, nodeArgs = [], env = {} }) {
  const child = spawnChild(process.execPath, ['--expose-gc', ...nodeArgs, join(BENCH_DIR, 'gateway-entry.mjs')], {
    cwd: REPO,
    env: {
      ...process.env,
      ...GATEWAY_PROCESS_ENV,
      ...env,
      GATEWAY_JWT_SECRET: secret,
      BENCH_BACKEND_PORT: String(backendPort),
      BENCH_KNOWN_WORKSPACES: String(known),
      BENCH_USER: user,
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  logTo(child, join(work, `${name}.log`));
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not report ready within 60 s (see ${join(work, `${name}.log`)})`)), 60_000);
    child.on('message', (m) => {
      if (m && m.ready) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with code ${code} before it was ready (see ${join(work, `${name}.log`)})`));
    });
  });
  if (ready.workspaces < known) throw new Error(`${name}: expected ${known} known workspaces, the gateway loaded ${ready.workspaces}`);
  return {
    name,
    port: ready.port,
    pid: child.pid,
    child,
    known: ready.workspaces,
    prefix: `/ws/${user}`,
    // With workers, the leader and its forks.
    pids: () => processTree(child.pid),
    /** Full GC in the gateway (it runs with --expose-gc); used before idle memory readings. */
    gc: () =>
      new Promise((resolve) => {
        const timer = setTimeout(resolve, 2000);
        child.once('message', () => {
          clearTimeout(timer);
          resolve();
        });
        child.send('gc');
      }),
    stop: () => stopChild(child, 5000),
  };
}

/** Debian's nginx with a keep-alive upstream to the backend and WebSocket upgrade headers. */
export async function startNginx({ work, backendPort, workers = 1 }) {
  const dir = join(work, 'nginx');
  mkdirSync(dir, { recursive: true });
  chmodSync(work, 0o755);
  chmodSync(dir, 0o755);
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub), { recursive: true, mode: 0o777 });
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `# written by bench/lib/targets.mjs
daemon off;
master_process on;
worker_processes ${workers};
worker_rlimit_nofile 16384;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
${process.getuid?.() === 0 ? 'user root root;' : ''}
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream backend {
    server 127.0.0.1:${backendPort};
    keepalive 128;
    keepalive_requests 1000000;
  }
  map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      '';
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 3600s;
      # Buffered (nginx's default), in memory only: no temp files for 1 MiB bodies.
      proxy_max_temp_file_size 0;
    }
  }
}
`,
  );
  const child = spawnChild('nginx', ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')], { cwd: dir });
  logTo(child, join(work, 'nginx.log'));
  await waitForPort(port, 10_000, 'nginx');
  return childTarget('nginx', port, child);
}

/** A target that is one child process (and its own children). */
function childTarget(name, port, child) {
  return { name, port, pid: child.pid, child, prefix: '', pids: () => processTree(child.pid), stop: () => stopChild(child) };
}

/** configurable-http-proxy installed on demand into a temporary folder (reused while present). */
export async function installChp(version) {
  const prefix = join(tmpdir(), `workspace-gateway-bench-chp-${version}`);
  const bin = join(prefix, 'node_modules', '.bin', 'configurable-http-proxy');
  if (!existsSync(bin)) {
    mkdirSync(prefix, { recursive: true });
    process.stderr.write(`installing configurable-http-proxy@${version} into ${prefix} …\n`);
    const result = await run(
      'npm',
      ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-save', '--loglevel=error', `configurable-http-proxy@${version}`],
      {
        timeoutMs: 180_000,
      },
    );
    if (result.code !== 0 || !existsSync(bin)) throw new Error(`npm install configurable-http-proxy@${version} failed:\n${result.stderr.slice(-2000)}`);
  }
  const v = await run(bin, ['--version'], { timeoutMs: 20_000 });
  return { bin, version: v.stdout.trim() };
}

export async function startChp({ work, backendPort, bin }) {
  const port = await freePort();
  const apiPort = await freePort();
  const child = spawnChild(
    bin,
    [
      '--ip',
      '127.0.0.1',
      '--port',
      String(port),
      '--api-ip',
      '127.0.0.1',
      '--api-port',
      String(apiPort),
      '--default-target',
      `http://127.0.0.1:${backendPort}`,
      '--log-level',
      'error',
    ],
    { env: { ...process.env, CONFIGPROXY_AUTH_TOKEN: randomBytes(16).toString('hex') } },
  );
  logTo(child, join(work, 'chp.log'));
  await waitForPort(port, 20_000, 'configurable-http-proxy');
  // CHP's bin is a node script started directly: the child is the node process.
  return childTarget('chp', port, child);
}

/**
 * One of bench/'s scripts (`bench/<name>.mjs`) in a node process of its own
 * with an IPC channel, its output in <work>/<name>.log; resolves once it sent
 * `{ready}`.
 */
export async function startScript(work, name, { env = {}, nodeArgs = [] } = {}) {
  const child = spawnChild(process.execPath, [...nodeArgs, join(BENCH_DIR, `${name}.mjs`)], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  logTo(child, join(work, `${name}.log`));
  await ask(child, undefined, 'ready', 20_000);
  return child;
}

/** bench/node-relay.mjs: ten lines of Node `net`, the floor for a WebSocket relay in Node (only in the echo rounds). */
export async function startNodeRelay({ work, backendPort }) {
  const port = await freePort();
  const child = await startScript(work, 'node-relay', { env: { PORT: String(port), BACKEND_PORT: String(backendPort) } });
  return childTarget('node relay', port, child);
}

export const listDir = (dir) => (existsSync(dir) ? readdirSync(dir) : []);
