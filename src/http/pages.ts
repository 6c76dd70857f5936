/**
 * The gateway's own pages: one small, framework-free template that works on a
 * phone. Every dynamic string goes through `escapeHtml`.
 */

export const PAGE_HEADERS: Record<string, string> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export interface PageOptions {
  title: string;
  /** Already-escaped HTML. */
  body: string;
  /** Extra tags for <head> (already escaped). */
  head?: string;
}

export function page({ title, body, head = '' }: PageOptions): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · Workspace</title>${head}
<style>
:root{color-scheme:light dark;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
body{margin:0;min-height:100vh;display:grid;place-items:center;background:#f4f6fa;color:#1c2330}
@media (prefers-color-scheme:dark){body{background:#161a22;color:#e6e9ef}main{background:#1f2430!important}}
main{max-width:28rem;margin:1rem;padding:2rem;border-radius:12px;background:#fff;box-shadow:0 2px 12px rgba(0,0,0,.08)}
h1{font-size:1.3rem;margin:0 0 .75rem}p{line-height:1.5}.muted{opacity:.7;font-size:.9rem}
a.button,button{display:inline-block;padding:.6rem 1.1rem;border-radius:8px;border:0;background:#2563eb;color:#fff;font:inherit;text-decoration:none;cursor:pointer}
code{font-size:.9em;word-break:break-all}
</style></head>
<body><main>${body}<p class="muted">workspace-gateway</p></main></body></html>`;
}

export function errorPage(status: number, title: string, message: string, code: string, retryUrl?: string, retryLabel = 'Try again'): string {
  const retry = retryUrl ? `<p><a class="button" href="${escapeHtml(retryUrl)}">${escapeHtml(retryLabel)}</a></p>` : '';
  return page({
    title,
    body: `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>${retry}<p class="muted">Code: <code>${escapeHtml(code)}</code> (HTTP ${status})</p>`,
  });
}
