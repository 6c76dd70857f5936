import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JwtKey } from '../../src/config/load.js';
import { UnauthorizedError } from '../../src/errors.js';
import { createTokenVerifier, verifierOptionsFromConfig, type TokenVerifierOptions } from '../../src/auth/token-verifier.js';

const SECRET = 'a-test-secret-of-enough-length';
const secretBytes = new TextEncoder().encode(SECRET);
const secretKey: JwtKey = { kind: 'secret', secret: secretBytes };
const NOW = Date.UTC(2030, 0, 1);
const nowS = NOW / 1000;

const verifier = (overrides: Partial<TokenVerifierOptions> = {}) =>
  createTokenVerifier({
    key: secretKey,
    algorithms: ['HS256'],
    userClaim: 'user_id',
    adminClaim: 'is_staff',
    clockToleranceMs: 30_000,
    now: () => NOW,
    ...overrides,
  });

const sign = (payload: JWTPayload, key: CryptoKey | Uint8Array = secretBytes, alg = 'HS256', kid?: string) =>
  new SignJWT({ exp: nowS + 3600, ...payload }).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).sign(key);

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

async function refused(promise: Promise<unknown>, code = 'token_invalid'): Promise<UnauthorizedError> {
  const err = await promise.then(
    () => expect.unreachable('token was accepted'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UnauthorizedError);
  const unauthorized = err as UnauthorizedError;
  expect(unauthorized.status).toBe(401);
  expect(unauthorized.code).toBe(code);
  return unauthorized;
}

describe('HS256', () => {
  it('accepts a valid token', async () => {
    expect(await verifier().verify(await sign({ user_id: 'alice' }))).toEqual({ user: 'alice', admin: false, expiresAt: (nowS + 3600) * 1000 });
  });

  it('maps a numeric user id to its decimal string', async () => {
    expect((await verifier().verify(await sign({ user_id: 42 }))).user).toBe('42');
  });

  it('reads the configured claim', async () => {
    const token = await sign({ sub: 'bob', user_id: 'mallory' });
    expect((await verifier({ userClaim: 'sub' }).verify(token)).user).toBe('bob');
    await refused(verifier({ userClaim: 'sub' }).verify(await sign({ user_id: 'bob' })));
  });

  it.each([
    [true, true],
    [false, false],
    [undefined, false],
    ['true', false],
    [1, false],
  ])('admin claim %j → admin %s', async (value, admin) => {
    expect((await verifier().verify(await sign({ user_id: 'a', is_staff: value }))).admin).toBe(admin);
  });

  it('refuses an expired token, with its own code and no token in the message', async () => {
    const token = await sign({ user_id: 'a', exp: nowS - 60 });
    const err = await refused(verifier().verify(token), 'token_expired');
    expect(err.message).toMatch(/expired/);
    expect(err.message).not.toContain(token);
  });

  it('accepts a token expired within the clock tolerance', async () => {
    const token = await sign({ user_id: 'a', exp: nowS - 10 });
    expect((await verifier().verify(token)).user).toBe('a');
    await refused(verifier({ clockToleranceMs: 0 }).verify(token), 'token_expired');
  });

  it('refuses a token not valid yet, beyond the tolerance only', async () => {
    await refused(verifier().verify(await sign({ user_id: 'a', nbf: nowS + 120 })));
    expect((await verifier().verify(await sign({ user_id: 'a', nbf: nowS + 10 }))).user).toBe('a');
  });

  it('checks iss and aud when configured', async () => {
    const v = verifier({ issuer: 'lms', audience: 'gateway' });
    expect((await v.verify(await sign({ user_id: 'a', iss: 'lms', aud: 'gateway' }))).user).toBe('a');
    expect((await v.verify(await sign({ user_id: 'a', iss: 'lms', aud: ['other', 'gateway'] }))).user).toBe('a');
    await refused(v.verify(await sign({ user_id: 'a', iss: 'evil', aud: 'gateway' })));
    await refused(v.verify(await sign({ user_id: 'a', iss: 'lms', aud: 'other' })));
    await refused(v.verify(await sign({ user_id: 'a', aud: 'gateway' })));
    await refused(v.verify(await sign({ user_id: 'a', iss: 'lms' })));
  });

  it('refuses a token without exp', async () => {
    const token = await new SignJWT({ user_id: 'a' }).setProtectedHeader({ alg: 'HS256' }).sign(secretBytes);
    await refused(verifier().verify(token));
  });

  it('refuses alg none', async () => {
    const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ user_id: 'a', exp: nowS + 3600 })}.`;
    await refused(verifier().verify(token));
    await refused(verifier({ algorithms: ['HS256', 'none'] }).verify(token));
  });

  it('refuses a token signed with the wrong secret', async () => {
    await refused(verifier().verify(await sign({ user_id: 'a' }, new TextEncoder().encode('another-secret-of-enough-length'))));
  });

  it('refuses an algorithm outside the pinned list', async () => {
    const token = await sign({ user_id: 'a' }, secretBytes, 'HS512');
    await refused(verifier().verify(token));
    expect((await verifier({ algorithms: ['HS512'] }).verify(token)).user).toBe('a');
  });

  it.each([
    ['empty', ''],
    ['garbage', 'abc'],
    ['three dots', 'a.b.c'],
    ['bad header JSON', `${Buffer.from('{').toString('base64url')}.${b64({})}.sig`],
    ['payload not an object', `${b64({ alg: 'HS256' })}.${Buffer.from('[1]').toString('base64url')}.c2ln`],
    ['huge', 'x'.repeat(1_000_000)],
    ['huge JWT-shaped', `${b64({ alg: 'HS256' })}.${'A'.repeat(500_000)}.${'B'.repeat(500_000)}`],
  ])('refuses a malformed token (%s)', async (_, token) => {
    await refused(verifier().verify(token));
  });

  it.each([
    ['path traversal', '../x'],
    ['slash', 'a/b'],
    ['empty', ''],
    ['64 characters', 'a'.repeat(64)],
    ['leading dot', '.a'],
    ['negative number', -1],
    ['float', 1.5],
    ['unsafe integer', 2 ** 60],
    ['object', { id: 'a' }],
    ['array', ['a']],
    ['boolean', true],
    ['null', null],
    ['missing', undefined],
  ])('refuses an invalid user claim (%s)', async (_, user_id) => {
    await refused(verifier().verify(await sign({ user_id })));
  });

  it('accepts a 63-character user id', async () => {
    expect((await verifier().verify(await sign({ user_id: 'a'.repeat(63) }))).user).toBe('a'.repeat(63));
  });

  it('refuses the user `me`, which names the caller in every URL (other cases are other names)', async () => {
    await refused(verifier().verify(await sign({ user_id: 'me' })));
    await refused(verifier({ userClaim: 'sub' }).verify(await sign({ sub: 'me' })));
    expect((await verifier().verify(await sign({ user_id: 'Me' }))).user).toBe('Me');
    expect((await verifier().verify(await sign({ user_id: 'mei' }))).user).toBe('mei');
  });

  it.each([['refresh'], ['Refresh'], ['id'], [''], [1], [null]])(
    'refuses a token whose token_type is %j (a SimpleJWT refresh token opens nothing)',
    async (token_type) => {
      await refused(verifier().verify(await sign({ user_id: 'alice', token_type })));
    },
  );

  it.each([['access'], [undefined]])('accepts token_type %j', async (token_type) => {
    expect((await verifier().verify(await sign({ user_id: 'alice', ...(token_type ? { token_type } : {}) }))).user).toBe('alice');
  });
});

describe('public keys', () => {
  it.each(['RS256', 'ES256', 'EdDSA'])('verifies %s via a PEM public key', async (alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    const v = verifier({ key: { kind: 'public_key', pem: await exportSPKI(publicKey) }, algorithms: [alg] });
    expect(await v.verify(await sign({ user_id: 'carol', is_staff: true }, privateKey, alg))).toMatchObject({ user: 'carol', admin: true });
    // Same key type, other key: the signature must not verify.
    const other = await generateKeyPair(alg);
    await refused(v.verify(await sign({ user_id: 'carol' }, other.privateKey, alg)));
  });

  it('refuses an HS256 token keyed with the public key PEM (algorithm confusion)', async () => {
    const { publicKey } = await generateKeyPair('RS256', { extractable: true });
    const pem = await exportSPKI(publicKey);
    const forged = await sign({ user_id: 'admin', is_staff: true }, new TextEncoder().encode(pem), 'HS256');
    await refused(verifier({ key: { kind: 'public_key', pem }, algorithms: ['RS256'] }).verify(forged));
    // Even a misconfigured list that names HS256 next to a public key must not fall back to HMAC.
    await refused(verifier({ key: { kind: 'public_key', pem }, algorithms: ['RS256', 'HS256'] }).verify(forged));
  });

  it('refuses an RS256 token when configured for HS256', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    await refused(verifier().verify(await sign({ user_id: 'a' }, privateKey, 'RS256')));
  });

  it('refuses a token whose algorithm does not fit the configured key', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES256');
    const v = verifier({ key: { kind: 'public_key', pem: await exportSPKI(rsa.publicKey) }, algorithms: ['RS256', 'ES256'] });
    await refused(v.verify(await sign({ user_id: 'a' }, ec.privateKey, 'ES256')));
    expect((await v.verify(await sign({ user_id: 'a' }, rsa.privateKey, 'RS256'))).user).toBe('a');
  });
});

describe('JWKS', () => {
  let server: Server;
  let url: string;
  let privateKey: CryptoKey;
  let requests = 0;

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    privateKey = pair.privateKey;
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }] });
    server = createServer((_req, res) => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(jwks);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('verifies a token by kid', async () => {
    const v = verifier({ key: { kind: 'jwks', url }, algorithms: ['RS256'] });
    expect((await v.verify(await sign({ user_id: 'dave' }, privateKey, 'RS256', 'k1'))).user).toBe('dave');
    expect(requests).toBeGreaterThan(0);
  });

  it('refuses an unknown kid', async () => {
    const v = verifier({ key: { kind: 'jwks', url }, algorithms: ['RS256'] });
    const stranger = await generateKeyPair('RS256');
    await refused(v.verify(await sign({ user_id: 'dave' }, stranger.privateKey, 'RS256', 'k2')));
  });

  it('answers 401 when the JWKS cannot be fetched', async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}/jwks.json`;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const v = verifier({ key: { kind: 'jwks', url: deadUrl }, algorithms: ['RS256'] });
    const err = await refused(v.verify(await sign({ user_id: 'dave' }, privateKey, 'RS256', 'k1')));
    expect(err.message).toMatch(/keys/);
  });
});

describe('cache', () => {
  it('stops returning a cached identity once now passes exp plus tolerance', async () => {
    let now = NOW;
    const v = verifier({ now: () => now, clockToleranceMs: 5_000 });
    const token = await sign({ user_id: 'a', exp: nowS + 60 });
    expect((await v.verify(token)).user).toBe('a');
    now = NOW + 62_000;
    expect((await v.verify(token)).user).toBe('a');
    now = NOW + 66_000;
    await refused(v.verify(token), 'token_expired');
    await refused(v.verify(token), 'token_expired');
  });

  it('peek (the hot path) answers only for verified tokens, and never past exp', async () => {
    let now = NOW;
    const v = verifier({ now: () => now, clockToleranceMs: 0 });
    const token = await sign({ user_id: 'a', exp: nowS + 60 });
    expect(v.peek(token)).toBeUndefined();
    await v.verify(token);
    expect(v.peek(token)?.user).toBe('a');
    now = NOW + 60_000;
    expect(v.peek(token)).toBeUndefined();
  });

  it('never mixes users: each token gets its own identity, and a changed token is verified afresh', async () => {
    const v = verifier({ now: () => NOW });
    const tokens = await Promise.all(['ann', 'ben', 'cid'].map((user) => sign({ user_id: user, exp: nowS + 600 })));
    for (const t of tokens) await v.verify(t);
    expect(tokens.map((t) => v.peek(t)?.user)).toEqual(['ann', 'ben', 'cid']);
    // Ben's token with Ann's payload: same signature, another claim. Not a cache hit, and refused.
    const [, annPayload] = tokens[0]!.split('.');
    const [benHeader, , benSignature] = tokens[1]!.split('.');
    const forged = `${benHeader}.${annPayload}.${benSignature}`;
    expect(v.peek(forged)).toBeUndefined();
    await refused(v.verify(forged));
    expect(v.peek(tokens[1]!)?.user).toBe('ben');
  });

  it('does not cache failures', async () => {
    let now = NOW;
    const v = verifier({ now: () => now, clockToleranceMs: 0 });
    const token = await sign({ user_id: 'a', nbf: nowS + 60 });
    await refused(v.verify(token));
    now = NOW + 61_000;
    expect((await v.verify(token)).user).toBe('a');
  });
});

describe('verifierOptionsFromConfig', () => {
  it('maps the jwt settings', () => {
    const config = {
      jwt_key: secretKey,
      jwt_algorithms: ['HS256', 'HS512'],
      jwt_user_claim: 'sub',
      jwt_admin_claim: 'admin',
      jwt_issuer: 'lms',
      jwt_audience: undefined,
      jwt_clock_tolerance: 30_000,
    } as unknown as Parameters<typeof verifierOptionsFromConfig>[0];
    expect(verifierOptionsFromConfig(config)).toEqual({
      key: secretKey,
      algorithms: ['HS256', 'HS512'],
      userClaim: 'sub',
      adminClaim: 'admin',
      issuer: 'lms',
      audience: undefined,
      clockToleranceMs: 30_000,
    });
  });
});
