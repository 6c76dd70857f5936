import { spawn } from 'node:child_process';

/**
 * Runs a setup script that reports progress on stderr and prints its result
 * as the last line of stdout (images/*.sh). Progress lines are passed on as
 * they come; a failure rejects with the script's own `error:` sentence, never
 * a stack trace, so the demo can say what went wrong in one line.
 */
export function runScript(script: string, args: string[], onLine: (line: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let partial = '';
    let lastError: string | undefined;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const error = /\berror: (.*)$/.exec(line);
        if (error) lastError = error[1];
        onLine(line);
      }
    });
    child.once('error', (err) => reject(new Error(`could not run ${script}: ${err.message}`)));
    child.once('close', (code) => {
      const result = stdout.trim().split('\n').pop();
      if (code === 0 && result) resolve(result);
      else reject(new Error(lastError ?? `${script} ended with code ${code}`));
    });
  });
}
