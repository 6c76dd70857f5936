import { z } from 'zod';
import { parseBoolean, parseBytes, parseDuration, parseList } from './values.js';

/** The validators settings are written with; each accepts the textual forms of the environment and YAML. */

export const text = () => z.string().trim().min(1, 'expected a non-empty string');

/** A setting parsed by one of the value parsers; `undefined` from the parser means "not this form". */
const parsed = <I extends string | number | boolean, T>(input: z.ZodType<I>, parse: (value: I) => T | undefined, expected: string) =>
  input.transform((value, ctx) => {
    const out = parse(value);
    if (out === undefined) {
      ctx.addIssue({ code: 'custom', message: `${expected}; got ${JSON.stringify(value)}` });
      return z.NEVER;
    }
    return out;
  });

export const duration = () => parsed(z.union([z.string(), z.number()]), parseDuration, 'expected a duration like 45s, 30m, 24h, 7d or seconds');
/** A timeout that cannot be off (0 would disable the limit, or spin a checking timer) and fits a timer (at most 24 days). */
export const timeout = () =>
  duration().pipe(
    z
      .number()
      .min(1, 'expected a duration above 0')
      .max(2 ** 31 - 1, 'expected at most 24 days'),
  );
export const bytes = () => parsed(z.union([z.string(), z.number()]), parseBytes, 'expected a size like 512m or 2g');
export const bool = () => parsed(z.union([z.string(), z.boolean()]), parseBoolean, 'expected true or false');

export const list = () => z.union([z.string(), z.array(z.string())]).transform(parseList);

export const int = (min: number, max: number) => z.coerce.number().int(`expected a whole number`).min(min).max(max);

export const positiveNumber = () => z.coerce.number().positive('expected a number above 0');

export const url = () =>
  text().refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'expected an absolute http(s) URL');
