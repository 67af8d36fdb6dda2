// Present (TV) mode: the dashboard on a wall screen, rotating between slides. The slides,
// the rotation's state and keys, and the URLs between the dashboard and /present.
// Framework-free: unit-tested in present.test.ts.
import { FILTERS } from "./analytics";

/** A chart present mode can show (drawn by components/Charts.tsx). */
export type ChartId =
  | "opened_closed"
  | "type"
  | "ageing"
  | "priority"
  | "status"
  | "sla_board"
  | "billable"
  | "hours_member"
  | "hours_company"
  | "utilisation";

export interface Slide {
  id: string;
  title: string;
  /** KPI cards, in order (dashboard metric ids). */
  cards: string[];
  /** Charts, left to right. */
  charts: ChartId[];
}

export const SLIDES: Slide[] = [
  {
    id: "service_desk",
    title: "Service desk",
    cards: ["tickets_opened", "tickets_closed", "net_ticket_change", "first_response_hours_avg"],
    charts: ["opened_closed", "type"],
  },
  {
    id: "sla_backlog",
    title: "SLA & backlog",
    cards: ["sla_met_pct", "open_backlog", "resolution_hours_avg"],
    charts: ["ageing", "priority", "sla_board"],
  },
  {
    id: "time_billing",
    title: "Time & billing",
    cards: ["hours_worked", "billable_pct", "billed_amount", "utilisation_pct", "effective_hourly_rate"],
    charts: ["billable", "hours_member", "utilisation"],
  },
];

/** Every card the slides show, each once, in slide order. */
export function slideCards(slides: Slide[] = SLIDES): string[] {
  return [...new Set(slides.flatMap((s) => s.cards))];
}

export const DEFAULT_ROTATE_SECONDS = 20;
export const MIN_ROTATE_SECONDS = 2;
export const MAX_ROTATE_SECONDS = 3600;
/** How often present mode reads its figures again, unless `?refresh=` says otherwise. */
export const REFRESH_MS = 60_000;
export const MIN_REFRESH_SECONDS = 10;
export const MAX_REFRESH_SECONDS = 3600;

/** `?refresh=`: seconds between two readings of the figures; anything unreadable is the
 *  default (a minute); a number out of range is brought into it (at least 10 s, so a
 *  wall of screens cannot hammer the server). */
export function refreshMs(param: string | null | undefined): number {
  const s = param?.trim() ?? "";
  if (!/^\d+(\.\d+)?$/.test(s)) return REFRESH_MS;
  return Math.min(MAX_REFRESH_SECONDS, Math.max(MIN_REFRESH_SECONDS, Number(s))) * 1000;
}

/** `?rotate=`: seconds a slide shows; 0 (or "off") keeps the slide; anything unreadable
 *  is the default; a number out of range is brought into it. */
export function rotateSeconds(param: string | null | undefined): number {
  if (param === null || param === undefined || param.trim() === "") return DEFAULT_ROTATE_SECONDS;
  const s = param.trim().toLowerCase();
  if (s === "off" || s === "0") return 0;
  if (!/^\d+(\.\d+)?$/.test(s)) return DEFAULT_ROTATE_SECONDS;
  const n = Number(s);
  return Math.min(MAX_ROTATE_SECONDS, Math.max(MIN_ROTATE_SECONDS, n));
}

export interface SlideState {
  index: number;
  paused: boolean;
}

export type SlideAction =
  | { type: "next" }
  | { type: "prev" }
  | { type: "goto"; index: number }
  | { type: "toggle" }
  | { type: "pause" }
  | { type: "resume" }
  /** The rotation's timer: moves on unless paused. */
  | { type: "tick" };

function wrap(i: number, count: number): number {
  return count <= 0 ? 0 : ((i % count) + count) % count;
}

/** The rotation: `next`/`prev` wrap around, `tick` moves on only when not paused. A
 *  manual move keeps the pause as it is. */
export function slideReducer(count: number) {
  return (state: SlideState, action: SlideAction): SlideState => {
    switch (action.type) {
      case "next":
        return { ...state, index: wrap(state.index + 1, count) };
      case "prev":
        return { ...state, index: wrap(state.index - 1, count) };
      case "goto":
        return { ...state, index: wrap(action.index, count) };
      case "toggle":
        return { ...state, paused: !state.paused };
      case "pause":
        return state.paused ? state : { ...state, paused: true };
      case "resume":
        return state.paused ? { ...state, paused: false } : state;
      case "tick":
        return state.paused ? state : { ...state, index: wrap(state.index + 1, count) };
    }
  };
}

export type KeyCommand = SlideAction | { type: "exit" } | { type: "fullscreen" };

/** What a key does: space (or P, K) pauses and resumes, the arrows (Page Up / Down) move,
 *  Home and End go to the first and last slide, 1–9 to that slide, F toggles full screen,
 *  Escape leaves. Keys with modifiers, and keys typed in a field, are not ours. */
export function keyCommand(
  e: { key: string; altKey?: boolean; ctrlKey?: boolean; metaKey?: boolean },
  count: number,
): KeyCommand | null {
  if (e.altKey || e.ctrlKey || e.metaKey) return null;
  switch (e.key) {
    case " ":
    case "Spacebar":
    case "p":
    case "P":
    case "k":
    case "K":
      return { type: "toggle" };
    case "ArrowRight":
    case "ArrowDown":
    case "PageDown":
      return { type: "next" };
    case "ArrowLeft":
    case "ArrowUp":
    case "PageUp":
      return { type: "prev" };
    case "Home":
      return { type: "goto", index: 0 };
    case "End":
      return { type: "goto", index: count - 1 };
    case "f":
    case "F":
      return { type: "fullscreen" };
    case "Escape":
      return { type: "exit" };
  }
  if (/^[1-9]$/.test(e.key) && Number(e.key) <= count) return { type: "goto", index: Number(e.key) - 1 };
  return null;
}

/** The dashboard's view (period, dates, filters, as_of) as present mode's query string,
 *  with `rotate` if given. */
export function presentSearch(dashboard: URLSearchParams, rotate?: number): string {
  const qs = new URLSearchParams();
  for (const k of ["period", "from", "to", ...FILTERS.map((f) => f.key), "as_of"]) {
    const v = dashboard.get(k);
    if (v) qs.set(k, v);
  }
  if (rotate !== undefined) qs.set("rotate", String(rotate));
  return qs.toString();
}

/** Back from present mode: the same view on the dashboard, without its own parameters. */
export function dashboardSearch(present: URLSearchParams): string {
  const qs = new URLSearchParams(present);
  qs.delete("rotate");
  return qs.toString();
}

/** Font and layout sizes (px) for charts at a viewport of `width` × `height`: every text
 *  is at least 2% of the height, so it stays readable across a room at 1080p and 4K. */
export function presentSizes(width: number, height: number) {
  const vh = height / 100;
  const vw = width / 100;
  const font = Math.max(12, Math.round(2.2 * vh));
  return {
    font,
    /** Category axis labels (names of clients, technicians). */
    categoryWidth: Math.round(Math.min(16 * vw, 30 * vh)),
    /** Characters of a category label before it is cut. */
    labelChars: Math.max(10, Math.floor(Math.min(16 * vw, 30 * vh) / (font * 0.56))),
    stroke: Math.max(2, Math.round(0.45 * vh)),
    margin: Math.round(1.2 * vh),
    barSize: Math.round(4.2 * vh),
  };
}
