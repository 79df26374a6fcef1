// The running mesh as `meshctl up` describes it for other meshctl commands: `<state dir>/up.json` with meshctl up's
// pid and the waypoint processes it runs (address, admin). Written when the mesh is ready and on every change,
// removed when it stops; a file whose pid is gone is stale (meshctl up was killed) and reads as "not running".
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

export interface UpState {
  pid: number;
  configDir: string;
  waypoints: { namespace: string; name: string; address: string; admin: string }[];
}

/** `meshctl up`'s default state directory: `.mesh/<config dir name>` next to the config directory. */
export function defaultStateDir(configDir: string): string {
  const dir = resolve(configDir);
  return join(dirname(dir), '.mesh', basename(dir));
}

const file = (stateDir: string) => join(stateDir, 'up.json');

export async function writeUpState(stateDir: string, state: UpState): Promise<void> {
  await writeFile(`${file(stateDir)}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${file(stateDir)}.tmp`, file(stateDir));
}

export async function removeUpState(stateDir: string): Promise<void> {
  await rm(file(stateDir), { force: true });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The state of a running `meshctl up`, or undefined when none runs for that state directory. */
export async function readUpState(stateDir: string): Promise<UpState | undefined> {
  const text = await readFile(file(stateDir), 'utf8').catch(() => undefined);
  if (!text) return undefined;
  try {
    const state = JSON.parse(text) as UpState;
    return Number.isInteger(state.pid) && alive(state.pid) ? state : undefined;
  } catch {
    return undefined;
  }
}
