/**
 * Output paths are checked before a run starts (`--html`, `--trace`, `bench --out`): a typo in
 * a directory name must not cost a ten-minute load test.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { UsageError } from './command.js';

/** The file may exist (it is replaced) but not be a directory; its directory must be writable. */
export async function checkOutputFile(option: string, file: string): Promise<void> {
  const path = resolve(file);
  const info = await stat(path).catch(() => undefined);
  if (info?.isDirectory()) throw new UsageError(`${option} ${JSON.stringify(file)} is a directory, not a file`);
  const dir = dirname(path);
  const dirInfo = await stat(dir).catch(() => undefined);
  if (dirInfo === undefined) throw new UsageError(`${option} ${JSON.stringify(file)}: directory ${dir} does not exist`);
  if (!dirInfo.isDirectory()) throw new UsageError(`${option} ${JSON.stringify(file)}: ${dir} is not a directory`);
  try {
    await access(info === undefined ? dir : path, constants.W_OK);
  } catch {
    throw new UsageError(`${option} ${JSON.stringify(file)} is not writable`);
  }
}
