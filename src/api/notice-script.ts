/**
 * The script the gateway adds to code-server's workbench page (see
 * idle-notices.ts), served from `/api/workspaces/<user>/notice.js`. It
 * follows `/api/workspaces/<user>/notice` (server-sent events) and shows:
 *
 *   - on `warning`: a small notice at the bottom right, "Your workspace stops
 *     in 2 minutes because nothing happened in it", with "Keep working"
 *     (POST `/api/workspaces/<user>/keep-working`, same-origin, so it carries
 *     its Origin and passes the cross-site write check); gone on `active`;
 *   - on `stopped`: a veil over the whole editor (over VS Code's
 *     "reconnecting" dialog) saying why, with a button that reloads the page,
 *     which is a page load and so wakes the workspace.
 *
 * What it must live with in the workbench: the page's CSP (`script-src
 * 'self'`, `connect-src 'self' …`: this file and its requests are same-origin)
 * and Trusted Types, so the DOM is built with createElement, textContent and
 * `element.style` properties only, never HTML strings or style attribute
 * strings; its own nodes sit in a shadow root, out of reach of VS Code's CSS.
 * It never writes to the console and handles every promise; it sends nothing
 * but the stream and the button's call, so it never counts as activity.
 */
export const NOTICE_SCRIPT = `(function () {
  'use strict';
  var me = document.currentScript;
  if (!me || typeof EventSource !== 'function' || typeof fetch !== 'function' || typeof URL !== 'function') return;
  var streamUrl = new URL('notice', me.src).href;
  var keepUrl = new URL('keep-working', me.src).href;
  var FONT = '13px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  var host = null;
  var root = null;
  var warning = null;
  var veil = null;
  var ticker = 0;

  function el(tag, style, text) {
    var node = document.createElement(tag);
    for (var key in style) if (Object.prototype.hasOwnProperty.call(style, key)) node.style[key] = style[key];
    if (text) node.textContent = text;
    return node;
  }

  function button(label) {
    var b = el('button', {
      background: '#2563eb', color: '#ffffff', border: '0', borderRadius: '4px', padding: '6px 12px',
      font: 'inherit', fontWeight: '600', cursor: 'pointer', whiteSpace: 'nowrap'
    }, label);
    b.type = 'button';
    return b;
  }

  function mount() {
    if (host && host.isConnected) return;
    host = el('div', { position: 'fixed', top: '0', left: '0', width: '0', height: '0', zIndex: '2147483647' });
    host.setAttribute('data-workspace-gateway', 'notice');
    root = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
    (document.body || document.documentElement).appendChild(host);
  }

  function when(ms) {
    if (ms <= 0) return 'any moment now';
    var s = Math.ceil(ms / 1000);
    if (s > 60) {
      var m = Math.round(s / 60);
      return 'in ' + m + (m === 1 ? ' minute' : ' minutes');
    }
    return 'in ' + s + (s === 1 ? ' second' : ' seconds');
  }

  function tick() {
    clearTimeout(ticker);
    if (!warning || warning.failed) return;
    warning.text.textContent = 'Your workspace stops ' + when(warning.deadline - Date.now()) + ' because nothing happened in it.';
    ticker = setTimeout(tick, 1000);
  }

  function hideWarning() {
    clearTimeout(ticker);
    if (warning) warning.box.remove();
    warning = null;
  }

  function showWarning(stopsInMs) {
    if (veil) return;
    hideWarning();
    mount();
    var box = el('div', {
      position: 'fixed', right: '16px', bottom: '36px', maxWidth: '380px', padding: '12px 14px',
      background: '#1f2937', color: '#f9fafb', borderRadius: '6px', boxShadow: '0 6px 20px rgba(0,0,0,0.35)',
      font: FONT, display: 'flex', alignItems: 'center', gap: '12px'
    });
    box.setAttribute('role', 'alert');
    var text = el('span', {});
    var keep = button('Keep working');
    keep.addEventListener('click', keepWorking);
    box.appendChild(text);
    box.appendChild(keep);
    root.appendChild(box);
    warning = { box: box, text: text, button: keep, deadline: Date.now() + Math.max(0, Number(stopsInMs) || 0), failed: false };
    tick();
  }

  function keepWorking() {
    var w = warning;
    if (!w) return;
    w.button.disabled = true;
    var failed = function (why) {
      if (warning !== w) return;
      w.failed = true;
      w.button.disabled = false;
      w.text.textContent = why;
    };
    fetch(keepUrl, { method: 'POST', credentials: 'same-origin', cache: 'no-store' }).then(
      function (res) {
        if (res.ok) hideWarning();
        else failed('Could not keep your workspace running (' + res.status + '). Try again, or save your work.');
      },
      function () {
        failed('The gateway did not answer. Try again, or save your work.');
      }
    );
  }

  function showStopped(message) {
    hideWarning();
    if (veil) return;
    mount();
    veil = el('div', {
      position: 'fixed', top: '0', left: '0', right: '0', bottom: '0', background: 'rgba(0,0,0,0.6)',
      display: 'flex', alignItems: 'center', justifyContent: 'center', font: FONT
    });
    var card = el('div', {
      background: '#ffffff', color: '#111827', padding: '22px 26px', borderRadius: '8px', maxWidth: '460px',
      margin: '16px', boxShadow: '0 10px 30px rgba(0,0,0,0.4)'
    });
    card.setAttribute('role', 'alertdialog');
    card.setAttribute('aria-modal', 'true');
    card.setAttribute('aria-labelledby', 'wg-stopped-title');
    card.setAttribute('aria-describedby', 'wg-stopped-text');
    var title = el('h2', { margin: '0 0 8px', fontSize: '18px', fontWeight: '600' }, 'Your workspace stopped');
    title.id = 'wg-stopped-title';
    var text = el('p', { margin: '0 0 16px' }, message);
    text.id = 'wg-stopped-text';
    var start = button('Start my workspace again');
    start.addEventListener('click', function () {
      start.disabled = true;
      start.textContent = 'Starting…';
      location.reload();
    });
    card.appendChild(title);
    card.appendChild(text);
    card.appendChild(start);
    veil.appendChild(card);
    root.appendChild(veil);
    start.focus();
  }

  function data(event) {
    try {
      return JSON.parse(event.data) || {};
    } catch (e) {
      return {};
    }
  }

  var stream = new EventSource(streamUrl);
  stream.addEventListener('active', function () { hideWarning(); });
  stream.addEventListener('warning', function (event) { showWarning(data(event).stopsInMs); });
  stream.addEventListener('stopped', function (event) {
    stream.close();
    showStopped(data(event).message || 'Your workspace is not running any more.');
  });
})();
`;
