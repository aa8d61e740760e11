/**
 * The load test's report as `epdma loadtest --json` prints it (API.md "LoadReport"): the final
 * (or, when interrupted, the last) progress plus what makes it comparable later, as fio's JSON
 * does: the settings, when it started, the warm-up excluded from the rates, the machine and the
 * versions, whether it was interrupted and why, and the thresholds with their actual values.
 */
import { machineInfo } from '../machine-info.js';
import type { LoadProgress } from './load-stats.js';
import type { ThresholdResult } from './thresholds.js';

export interface LoadReportSettings {
  side: string;
  channels: number | 'all';
  size: number | [number, number];
  depth: number;
  durationMs?: number;
  iterations?: number;
  verify: boolean;
}

export interface LoadReport extends LoadProgress {
  settings: LoadReportSettings;
  startedAt: string;
  warmupMs: number;
  machine: { cpu: string; cores: number; memoryBytes: number };
  versions: { node: string; epdma: string };
  interrupted?: { signal?: string; reason: string };
  thresholds?: ThresholdResult[];
}

export interface LoadReportContext {
  settings: LoadReportSettings;
  startedAt: Date;
  warmupMs: number;
  epdmaVersion: string;
  interrupted?: { signal?: string; reason: string };
  thresholds?: ThresholdResult[];
}

export function buildLoadReport(progress: LoadProgress, ctx: LoadReportContext): LoadReport {
  const { cpu, cores, memoryBytes } = machineInfo();
  return {
    ...progress,
    settings: ctx.settings,
    startedAt: ctx.startedAt.toISOString(),
    warmupMs: ctx.warmupMs,
    machine: { cpu, cores, memoryBytes },
    versions: { node: process.version, epdma: ctx.epdmaVersion },
    ...(ctx.interrupted !== undefined ? { interrupted: ctx.interrupted } : {}),
    ...(ctx.thresholds !== undefined ? { thresholds: ctx.thresholds } : {}),
  };
}
