import { apiContract } from '../support/api-contract.js';

apiContract('process runtime', { env: () => ({ GATEWAY_RUNTIME: 'process' }) });
