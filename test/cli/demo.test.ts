/**
 * `npm start`'s job: the built CLI's demo creates the default testbed, moves data host -> EP ->
 * host through delegated and EP-local channels, verifies every byte and exits 0.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../../dist/cli/index.js', import.meta.url));

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, CI: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('epdma demo', () => {
  it('runs for a second, verifies every byte, exits 0', async () => {
    const r = await runCli(['demo', '--seconds=1']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const line = /every byte verified: (\d+) MiB went host -> EP -> host through (\d+) channel actors/.exec(r.stdout);
    expect(line, r.stdout).not.toBeNull();
    expect(Number(line![1])).toBeGreaterThan(0);
    expect(Number(line![2])).toBe(8);
    // The device the host found, and a table row per channel that moved data.
    expect(r.stdout).toMatch(/host sees 0x1234:0x5678 class 080100/);
    expect(r.stdout).toMatch(/0 mismatching bytes/);
    for (const name of ['host/rd0', 'host/rd3', 'endpoint/wr0', 'endpoint/wr3']) expect(r.stdout).toContain(name);
  });
});
