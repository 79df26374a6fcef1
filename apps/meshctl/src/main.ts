import { processIO } from './io.js';
import { runMeshctl } from './program.js';

const controller = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort(new Error(signal)));
process.exitCode = await runMeshctl(process.argv.slice(2), processIO(controller.signal));
