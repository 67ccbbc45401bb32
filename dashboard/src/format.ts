// How values read on screen. Numbers are shown in full (String(n): every digit JSON carried), never rounded.

export const full = (value: unknown): string =>
  value === null || value === undefined ? "—" : typeof value === "number" ? String(value) : String(value);

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  return h ? `${h}h ${m}m ${rest}s` : m ? `${m}m ${rest}s` : `${rest}s`;
}

export const when = (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString() : "—");

export const percent = (fraction: number): string => `${Math.round(fraction * 100)}%`;
