/** What a workspace process may see of the gateway's environment: how to find programs, the locale and the time zone. */
const INHERITED = ['PATH', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'] as const;

/**
 * A workspace's whole environment. Never the gateway's own: it holds
 * GATEWAY_JWT_SECRET (with it, code in any workspace could sign a token for
 * any user or an admin) and whatever else the operator set for the gateway.
 */
export function workspaceEnvironment(own: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of INHERITED) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...own };
}
