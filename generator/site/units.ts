/** Durations in Go's notation (`87600h`, `90m`, `1h30m`), as Kubernetes tools write them. */
export function parseDurationHours(text: string): number | null {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === '') return null;
  const [, h = '0', min = '0', s = '0'] = m;
  return Number(h) + Number(min) / 60 + Number(s) / 3600;
}

/** `30000-32767` → {from, to}; null when not two ordered ports. */
export function parsePortRange(text: string): { from: number; to: number } | null {
  const m = /^(\d{1,5})-(\d{1,5})$/.exec(text);
  if (!m) return null;
  const from = Number(m[1]);
  const to = Number(m[2]);
  if (from < 1 || to > 65535 || from >= to) return null;
  return { from, to };
}
