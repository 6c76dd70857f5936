import pino, { type Logger } from 'pino';

/**
 * pino JSON logs. Anything that could carry a token is redacted wherever it
 * appears, in case a header object is ever logged whole.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'workspace-gateway' },
      redact: {
        paths: [
          '*.authorization',
          '*.cookie',
          '*.headers.authorization',
          '*.headers.cookie',
          'token',
          '*.token',
          'jwt_secret',
          '*.jwt_secret',
          'jwt_key',
          'session_secret',
          '*.session_secret',
          'session_key',
          '*.session_key',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
