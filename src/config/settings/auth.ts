import { z } from 'zod';
import { isAddressOrCidr, isOrigin } from '../values.js';
import { bool, duration, list, text, timeout, url } from '../schemas.js';
import type { SettingGroup } from '../setting.js';

const ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

/** Who a request is: token keys and claims, the cookie, the login page, trusted edge proxies. */
export const authSettings = {
  jwt_secret: { help: 'HS256/384/512 shared secret.', secret: true, schema: text() },
  jwt_secret_file: { help: 'File holding the shared secret (trailing newline ignored).', schema: text() },
  jwt_public_key: { help: 'PEM public key (SPKI) for RS/PS/ES/EdDSA tokens, or a path to a PEM file.', schema: text() },
  jwks_url: { help: 'JWKS URL for asymmetric tokens.', schema: url() },
  jwt_algorithms: {
    help: 'Accepted signature algorithms, comma-separated.',
    default: 'HS256',
    schema: list().pipe(z.array(z.enum(ALGORITHMS)).min(1, 'expected at least one algorithm')),
  },
  jwt_user_claim: { help: 'Claim holding the user id.', default: 'user_id', schema: text() },
  jwt_admin_claim: { help: 'Claim that marks an admin when true.', default: 'is_staff', schema: text() },
  jwt_issuer: { help: 'Required `iss`.', schema: text() },
  jwt_audience: { help: 'Required `aud`.', schema: text() },
  jwt_clock_tolerance: { help: 'Clock skew allowed for exp/nbf.', default: '30s', schema: duration() },
  admin_workspace_access: { help: "Let admins open other users' workspaces (same origin: off by default).", default: 'false', schema: bool() },
  cookie_name: {
    help: 'Name of the auth cookie.',
    default: 'workspace_token',
    schema: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected letters, digits, _ or -'),
  },
  login_url: { help: 'Where browsers without a valid token are sent (with ?next=).', schema: text() },
  trusted_proxies: {
    help: 'Edge proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-* headers are believed and appended to.',
    default: '',
    schema: list().refine((l) => l.every(isAddressOrCidr), 'expected IP addresses or CIDRs like 10.0.0.0/8'),
  },
  session_secret: { help: 'Key that signs gateway sessions (at least 32 characters; the same on every replica).', secret: true, schema: text() },
  session_secret_file: { help: 'File holding the session key.', schema: text() },
  session_idle: { help: 'A session ends after this long without a request or WebSocket message from the student.', default: '2h', schema: timeout() },
  session_max_age: { help: 'A session ends this long after the launch, whatever happens.', default: '12h', schema: timeout() },
  session_cookie_name: {
    help: 'Name of the session cookie (`__Host-` is put in front behind HTTPS).',
    default: 'workspace_session',
    schema: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected letters, digits, _ or -'),
  },
  lms_origins: {
    help: 'Origins of LMS frontends (comma-separated) that may call the create call and GET /api/workspaces/me from the browser (CORS).',
    default: '',
    schema: list().refine((l) => l.every(isOrigin), 'expected origins like https://lms.example.edu'),
  },
} satisfies SettingGroup;
