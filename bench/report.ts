// The benchmark's table, from its measurements: medians over repetitions, and each time ratio
// Lifeboat ÷ peer taken within a repetition, then the median of those. Run alone, it prints the
// table of one run recorded in results.jsonl: npx node bench/report.ts RUN_ID [RESULTS]
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PHASES = [
  'init', 'backup_full', 'backup_nochange', 'backup_incr', 'restore', 'restore_after_delete', 'check_read_data',
] as const;
export type Phase = (typeof PHASES)[number];

export interface Measurement {
  run: string;
  rep: number;
  tool: string;
  phase: Phase;
  wallSeconds: number;
  userSeconds: number;
  sysSeconds: number;
  peakRssKiB: number;
  repoBytes: number;
  /** Bytes of the corpus the phase covers (throughput = bytes / wall). */
  bytes: number;
  exitCode: number;
  verify?: Record<string, { count: number; examples: string[] }>;
}

/** The middle value; with an even count, the mean of the two middle ones (not the lower: that favoured whichever tool was faster once). */
function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function report(all: Measurement[], tools: string[], runId: string, reps: number): string {
  const lines = [`Run ${runId}, ${reps} repetition(s); medians over repetitions; ratios are Lifeboat ÷ peer within each repetition, then the median.`, ''];
  const peers = tools.filter((t) => t !== 'lifeboat');
  lines.push(`| phase | tool | wall s | MiB/s | CPU s | peak RSS MiB | repo MiB | restore check | ${peers.map((p) => `time vs ${p}`).join(' | ')} |`);
  lines.push(`|---|---|---:|---:|---:|---:|---:|---|${peers.map(() => '---:').join('|')}|`);
  for (const phase of PHASES) {
    for (const tool of tools) {
      const ms = all.filter((m) => m.phase === phase && m.tool === tool);
      if (!ms.length) continue;
      const wall = median(ms.map((m) => m.wallSeconds));
      const mibs = phase === 'init' ? '-' : (ms[0].bytes / 1048576 / wall).toFixed(1);
      const verify = phase.startsWith('restore') ? (ms.every((m) => Object.keys(m.verify ?? {}).length === 0) ? 'identical' : Object.keys(ms.find((m) => Object.keys(m.verify ?? {}).length)!.verify!).join(', ')) : '';
      const ratios = peers.map((p) => {
        if (tool !== 'lifeboat') return '';
        const rs = ms.map((m) => m.wallSeconds / (all.find((o) => o.phase === phase && o.rep === m.rep && o.tool === p)?.wallSeconds ?? NaN));
        return reps > 1 ? `${median(rs).toFixed(2)} (${rs.map((r) => r.toFixed(2)).join(', ')})` : median(rs).toFixed(2);
      });
      lines.push(`| ${phase} | ${tool} | ${wall.toFixed(2)} | ${mibs} | ${median(ms.map((m) => m.userSeconds + m.sysSeconds)).toFixed(1)} | ${(median(ms.map((m) => m.peakRssKiB)) / 1024).toFixed(0)} | ${(median(ms.map((m) => m.repoBytes)) / 1048576).toFixed(0)} | ${verify} | ${ratios.join(' | ')} |`);
    }
  }
  return lines.join('\n') + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runId = process.argv[2];
  if (!runId) throw new Error('usage: npx node bench/report.ts RUN_ID [RESULTS]');
  const file = process.argv[3] ?? fileURLToPath(new URL('results.jsonl', import.meta.url));
  const all = readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Measurement).filter((m) => m.run === runId);
  const order = ['lifeboat', 'restic', 'borg'];
  const tools = [...new Set(all.map((m) => m.tool))].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  process.stdout.write(report(all, tools, runId, Math.max(...all.map((m) => m.rep))));
}
