import type { z } from 'zod';

/** One setting: its help line, default (as an operator would write it) and validator. */
export interface Setting {
  help: string;
  /** Shown by --help; undefined means unset. */
  default?: string;
  schema: z.ZodType<unknown, unknown>;
  secret?: boolean;
}

/** A group of settings, keyed like the YAML file. */
export type SettingGroup = Record<string, Setting>;

/** The validated values of a group: settings without a default may be undefined. */
export type SettingValues<G extends SettingGroup> = {
  [K in keyof G]: G[K] extends { default: string } ? z.output<G[K]['schema']> : z.output<G[K]['schema']> | undefined;
};
