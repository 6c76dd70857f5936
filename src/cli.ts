import { parseArgs } from 'node:util';
import { ConfigError, helpText, loadConfig, readConfigFile, type Config } from './config/load.js';

/** Parses the command line and the environment into a Config, or exits with a message. */
export function configFromCommandLine(argv: string[], env: NodeJS.ProcessEnv, overrides: NodeJS.ProcessEnv = {}): Config {
  let args;
  try {
    args = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${helpText()}`);
    process.exit(2);
  }
  if (args.help) {
    console.log(helpText());
    process.exit(0);
  }
  try {
    const file = args.config ? readConfigFile(args.config) : undefined;
    return loadConfig({ env: { ...overrides, ...env }, file, fileName: args.config });
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  }
}
