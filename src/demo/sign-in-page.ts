import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { SignJWT } from 'jose';
import { authCookie } from '../auth/credentials.js';
import { isUserId, SELF_SEGMENT } from '../auth/user-id.js';

export interface SignInPageOptions {
  /** Where the gateway answers, e.g. http://localhost:8080. */
  gatewayUrl: string;
  /** The gateway's HS256 key: the page signs development tokens, as an LMS would. */
  secret: Uint8Array;
  cookieName: string;
  /** Shown on the page, so a person knows how long to wait for an idle stop. */
  idleTimeout: string;
  idleWarning: string;
}

interface WorkspaceRow {
  user: string;
  state: string;
  lastActivity: string | null;
  reason: string | null;
}

/**
 * The demo's stand-in for the LMS, on its own port: a sign-in form (every
 * user id is taken, no password) that sets the gateway's token cookie and sends the
 * browser to /ws/me, as the real LMS hand-off does; and a list of who signed
 * in here with each workspace's state and Stop/Start buttons, which go
 * through the gateway's management API with an admin token, so a person can
 * watch an idle stop and a wake happen.
 */
export function signInPage(options: SignInPageOptions): Server {
  const signedIn = new Set<string>();
  const sign = (user: string, staff: boolean, lifetime: string) =>
    new SignJWT({ user_id: user, is_staff: staff }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(lifetime).sign(options.secret);

  const gatewayApi = async (method: string, path: string) => {
    const admin = await sign('demo-admin', true, '1m');
    return fetch(`${options.gatewayUrl}/api/${path}`, { method, headers: { authorization: `Bearer ${admin}`, accept: 'application/json' } });
  };

  const states = async (): Promise<WorkspaceRow[]> => {
    const res = await gatewayApi('GET', 'workspaces');
    const known = new Map(((await res.json()) as { workspaces: WorkspaceRow[] }).workspaces.map((w) => [w.user, w]));
    return [...signedIn].map((user) => known.get(user) ?? { user, state: 'absent', lastActivity: null, reason: null });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://demo');
    const action = /^\/workspaces\/([^/]+)\/(start|stop)$/.exec(url.pathname);
    if (req.method === 'POST' && action && isUserId(action[1]!)) {
      const answer = await gatewayApi('POST', `workspaces/${action[1]}/${action[2]}`);
      return json(res, answer.status, await answer.json());
    }
    if (url.pathname === '/states') return json(res, 200, { users: await states() });
    if (url.pathname === '/login') {
      const user = url.searchParams.get('user') ?? '';
      if (!isUserId(user) || user === SELF_SEGMENT)
        return page(res, 400, `"${escapeHtml(user)}" is not a user id: letters, digits, "_", "." or "-", up to 63.`);
      const token = await sign(user, url.searchParams.has('staff'), '8h');
      signedIn.add(user);
      // Cookies are per host, not per port: the gateway on the other port of this host receives it.
      res.writeHead(302, { 'set-cookie': authCookie(options.cookieName, token, { secure: false }), location: `${options.gatewayUrl}/ws/me/` });
      return res.end();
    }
    return page(res, 200);
  };

  function page(res: ServerResponse, status: number, problem?: string) {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(pageHtml(options, problem));
  }

  return createServer((req, res) => {
    handle(req, res).catch((err: Error) => json(res, 502, { error: 'gateway_unreachable', message: `The gateway did not answer: ${err.message}` }));
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function pageHtml({ gatewayUrl, idleTimeout, idleWarning }: SignInPageOptions, problem?: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>workspace-gateway demo: sign in</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#1f2328}
table{border-collapse:collapse;width:100%;margin-top:.5rem}td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d0d7de}
.running{color:#1a7f37;font-weight:600}.stopped,.absent{color:#656d76}.error{color:#cf222e}.problem{color:#cf222e}
button{font:inherit;padding:.2rem .8rem}
</style></head><body>
<h1>Sign in to your workspace</h1>
<p>The stand-in for your LMS, without passwords: each user id opens that user's own workspace at <code>${escapeHtml(gatewayUrl)}/ws/&lt;user&gt;/</code>.</p>
${problem ? `<p class="problem">${problem}</p>` : ''}
<form action="/login"><label>User id <input id="user" name="user" value="alice" required pattern="[A-Za-z0-9][A-Za-z0-9_.\\-]{0,62}"></label>
<label><input type="checkbox" name="staff" value="1"> staff (admin)</label> <button id="open">Open my workspace</button></form>
<h2>Signed in here</h2>
<p>A workspace nobody uses is stopped after <strong>${escapeHtml(idleTimeout)}</strong> (an open editor tab warns ${escapeHtml(idleWarning)} before);
the next page load starts it again with the same files. Stop and Start go through the gateway's management API.</p>
<table><thead><tr><th>user</th><th>workspace</th><th>last activity</th><th></th></tr></thead><tbody id="rows"><tr><td colspan="4">nobody yet</td></tr></tbody></table>
<script>
const rows = document.getElementById('rows');
function cell(tr, text, cls) { const td = document.createElement('td'); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; }
function button(td, label, user, action) {
  const b = document.createElement('button'); b.textContent = label; b.dataset.user = user; b.dataset.action = action;
  b.onclick = async () => { b.disabled = true; b.textContent = action === 'start' ? 'starting…' : 'stopping…'; await fetch('/workspaces/' + user + '/' + action, { method: 'POST' }); refresh(); };
  td.appendChild(b);
}
async function refresh() {
  const { users } = await (await fetch('/states')).json();
  if (!users.length) return;
  rows.replaceChildren(...users.map((w) => {
    const tr = document.createElement('tr'); tr.dataset.user = w.user;
    cell(tr, w.user);
    cell(tr, w.state + (w.reason && w.state !== 'running' ? ' (' + w.reason + ')' : ''), w.state).classList.add('state');
    cell(tr, w.lastActivity ? new Date(w.lastActivity).toLocaleTimeString() : '—');
    const actions = cell(tr, '');
    button(actions, w.state === 'running' ? 'Stop' : 'Start', w.user, w.state === 'running' ? 'stop' : 'start');
    return tr;
  }));
}
refresh(); setInterval(refresh, 3000);
</script>
</body></html>`;
}
