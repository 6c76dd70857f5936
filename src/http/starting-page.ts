import { randomBytes } from 'node:crypto';
import type { SpawnProgress } from '../workspaces/spawn-progress.js';
import { escapeHtml, page, PAGE_HEADERS } from './pages.js';

/** The steps shown, each standing for the phases it covers (a runtime may pull an image, or be placed on a host, or neither). */
const STEPS: Array<[SpawnProgress['phase'][], string]> = [
  [['queued'], 'In line for a free slot'],
  [['creating', 'pulling'], 'Creating your workspace'],
  [['scheduled', 'starting'], 'Starting it'],
  [['waiting'], 'Waiting for the editor'],
];

/**
 * "Starting your workspace": follows the spawn through server-sent events and
 * reloads itself into the editor when it answers. Without JavaScript a meta
 * refresh does the same, more slowly. On failure it shows the reason and a
 * retry that really retries (a page load starts a new spawn).
 */
export function startingPage(user: string, progressUrl: string, current?: SpawnProgress): { html: string; headers: Record<string, string> } {
  const nonce = randomBytes(16).toString('base64');
  const active = current?.phase ?? 'creating';
  const steps = STEPS.map(
    ([phases, label]) => `<li data-phase="${phases[0]}"${phases.includes(active) ? ' aria-current="step"' : ''}>${escapeHtml(label)}</li>`,
  ).join('');
  const body = `
<h1>Starting your workspace</h1>
<p id="status" role="status" aria-live="polite">${escapeHtml(current?.message ?? 'Getting things ready…')}</p>
<div class="bar" aria-hidden="true"><div></div></div>
<ol class="steps">${steps}</ol>
<div id="failure" hidden><p><strong>Your workspace could not start.</strong> <span id="reason"></span></p>
<p class="muted">Tell staff this message if it happens again.</p><p><a class="button" id="retry" href="">Try again</a></p></div>
<p class="muted">Workspace of <code>${escapeHtml(user)}</code>. This page moves on by itself.</p>`;
  const script = `<script nonce="${nonce}">
(function(){
  var order = ${JSON.stringify(STEPS.map(([phases]) => phases))};
  var status = document.getElementById('status');
  function show(p){
    status.textContent = p.message;
    var at = -1;
    order.forEach(function(phases, i){ if (phases.indexOf(p.phase) !== -1) at = i; });
    document.querySelectorAll('.steps li').forEach(function(li, i){
      li.className = i < at ? 'done' : '';
      if (i === at) li.setAttribute('aria-current','step'); else li.removeAttribute('aria-current');
    });
  }
  function fail(message){
    document.getElementById('reason').textContent = message;
    document.getElementById('failure').hidden = false;
    document.querySelector('.bar').hidden = true;
    status.textContent = 'Stopped.';
  }
  document.getElementById('retry').href = location.href;
  var es = new EventSource(${JSON.stringify(progressUrl)});
  es.addEventListener('progress', function(e){ show(JSON.parse(e.data)); });
  es.addEventListener('ready', function(){ es.close(); status.textContent = 'Ready, opening…'; location.reload(); });
  es.addEventListener('failed', function(e){ es.close(); fail(JSON.parse(e.data).message); });
  es.onerror = function(){ es.close(); setTimeout(function(){ location.reload(); }, 3000); };
})();
</script>`;
  const head = `<noscript><meta http-equiv="refresh" content="3"></noscript>
<style>
.bar{height:4px;background:rgba(37,99,235,.15);border-radius:2px;overflow:hidden;margin:1rem 0}
.bar div{height:100%;width:40%;background:#2563eb;animation:slide 1.2s ease-in-out infinite}
@keyframes slide{0%{transform:translateX(-100%)}100%{transform:translateX(250%)}}
@media (prefers-reduced-motion:reduce){.bar div{animation:none;width:100%}}
.steps{padding-left:1.2rem}.steps li{opacity:.55;margin:.2rem 0}.steps li[aria-current]{opacity:1;font-weight:600}.steps li.done{opacity:.8}.steps li.done::after{content:" ✓"}
</style>`;
  return {
    html: page({ title: 'Starting your workspace', head, body: body + script }),
    headers: {
      ...PAGE_HEADERS,
      'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    },
  };
}
