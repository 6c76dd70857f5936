/**
 * An nginx edge in front of the gateway and the LMS, as a site would run it:
 * one origin where the gateway's paths go to the gateway and the rest to Django.
 * Runs Debian's nginx-light (scripts/ensure-engine.sh) from its own prefix dir.
 */
import { startGroup } from './process-group.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './http.js';

const NGINX = '/usr/sbin/nginx';

/** The gateway's own paths; everything else is the LMS's. */
const GATEWAY_LOCATIONS = ['/ws/', '/api/users/workspace/', '/api/workspaces', '/api/prewarm', '/api/launch/', '= /api/logout'];

export interface EdgeOptions {
  /** e.g. http://127.0.0.1:8080, no path: proxy_pass must pass the request URI untouched. */
  gatewayUrl: string;
  lmsUrl: string;
}

export interface Edge {
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** The site part (a map and a server block, as for /etc/nginx/conf.d/) the README shows. */
export function edgeConfig({ gatewayUrl, lmsUrl, listen }: EdgeOptions & { listen: string }): string {
  const gateway = origin(gatewayUrl);
  const lms = origin(lmsUrl);
  return `# WebSockets (VS Code's connection) need Upgrade passed on; plain requests get Connection: close.
map $http_upgrade $connection_upgrade {
    default upgrade;
    ''      close;
}

server {
    listen ${listen};

    # Workspace uploads can be large; the gateway sets its own limits.
    client_max_body_size 0;

    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection $connection_upgrade;
    # $http_host, not $host: $host drops a non-default port, and the gateway's Origin check compares host:port.
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-Host $http_host;
    # Stream both ways (terminal output, long polls, uploads) instead of collecting whole bodies.
    proxy_buffering off;
    proxy_request_buffering off;
    # An idle workspace connection is normal; do not cut it after nginx's default 60 s.
    proxy_read_timeout 1h;
    proxy_send_timeout 1h;

${GATEWAY_LOCATIONS.map((l) => `    location ${l} {\n        proxy_pass ${gateway};\n    }\n`).join('\n')}
    location / {
        proxy_pass ${lms};
    }
}
`;
}

/** A whole nginx.conf that keeps everything (pid, logs, temp files) under `prefix`. */
function standaloneConfig(prefix: string, site: string): string {
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `    ${t}_temp_path ${join(prefix, t)};`).join('\n');
  // As root, workers would otherwise drop to `nobody`, who cannot use the private temp dir.
  const user = process.getuid?.() === 0 ? 'user root;\n' : '';
  return `${user}daemon off;
worker_processes 1;
pid ${join(prefix, 'nginx.pid')};
error_log ${join(prefix, 'error.log')} warn;

events {
    worker_connections 1024;
}

http {
    access_log ${join(prefix, 'access.log')};
${temp}

${site.replace(/^(?=.)/gm, '    ')}}
`;
}

export async function startEdge(options: EdgeOptions): Promise<Edge> {
  const port = await freePort();
  const site = edgeConfig({ ...options, listen: `127.0.0.1:${port}` });
  const dir = mkdtempSync(join(tmpdir(), 'wg-edge-'));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, standaloneConfig(dir, site));

  // daemon off: the master stays our child; its own group, so stop takes the workers too.
  const server = startGroup(NGINX, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log')]);

  const stop = async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (server.exit() || Date.now() > deadline) {
      let log = '';
      try {
        log = readFileSync(join(dir, 'error.log'), 'utf8');
      } catch {}
      await stop();
      throw new Error(`edge: nginx did not listen on 127.0.0.1:${port} within 10 s${server.exit() ? ` (${server.exit()})` : ''}:\n${server.stderr()}${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `http://127.0.0.1:${port}`, port, stop };
}

function origin(url: string): string {
  const u = new URL(url);
  if (u.pathname !== '/' || u.search) throw new Error(`edge: ${url} must be an origin without a path (proxy_pass would rewrite URIs)`);
  return u.origin;
}

function listening(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = connect(port, '127.0.0.1', () => (socket.destroy(), ok(true)));
    socket.once('error', () => ok(false));
  });
}
