// Present (TV) mode, `/present`: the dashboard for a wall screen. Dark, full screen, no
// navigation; large KPI cards and a few charts in slides that rotate every `?rotate=`
// seconds (20 by default); the figures are read again every minute. Space pauses, the
// arrows move, F goes full screen, Escape returns to the dashboard (lib/present.ts).
// Every size is in viewport units, so the screen reads the same at 1080p and 4K.
import { useEffect, useMemo, useReducer, useState, type CSSProperties, type ReactNode } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api } from "../lib/client";
import { useCurrentUser } from "../lib/auth";
import { filterResource, valueText } from "../lib/listFilters";
import { useRecordNames } from "../lib/names";
import { analyticsQuery, FILTERS, PERIODS, type MetricView, type PeriodView } from "../lib/analytics";
import {
  refreshMs,
  SLIDES,
  dashboardSearch,
  keyCommand,
  presentSizes,
  rotateSeconds,
  slideCards,
  slideReducer,
  type ChartId,
} from "../lib/present";
import { ApiError } from "../lib/api";
import { KpiCard } from "../components/KpiCard";
import { Chart, ChartThemeProvider, type ChartTheme } from "../components/Charts";

function useViewport(): { width: number; height: number } {
  const read = () => ({ width: window.innerWidth, height: window.innerHeight });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const on = () => setSize(read());
    window.addEventListener("resize", on);
    return () => window.removeEventListener("resize", on);
  }, []);
  return size;
}

/** True once the pointer has not moved for a few seconds: the cursor and controls hide. */
function useIdle(ms = 4000): boolean {
  const [idle, setIdle] = useState(false);
  useEffect(() => {
    let t = window.setTimeout(() => setIdle(true), ms);
    const wake = () => {
      setIdle(false);
      window.clearTimeout(t);
      t = window.setTimeout(() => setIdle(true), ms);
    };
    window.addEventListener("mousemove", wake);
    window.addEventListener("mousedown", wake);
    return () => {
      window.clearTimeout(t);
      window.removeEventListener("mousemove", wake);
      window.removeEventListener("mousedown", wake);
    };
  }, [ms]);
  return idle;
}

function toggleFullscreen() {
  if (document.fullscreenElement) void document.exitFullscreen?.().catch(() => {});
  else void document.documentElement.requestFullscreen?.().catch(() => {});
}

const time = (d: Date, seconds = false) =>
  d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", ...(seconds ? { second: "2-digit" } : {}) });

function Clock() {
  const [now, setNow] = useState(() => new Date());
  useEffect(() => {
    const t = window.setInterval(() => setNow(new Date()), 1000);
    return () => window.clearInterval(t);
  }, []);
  return (
    <div className="text-right leading-none">
      <div className="text-[length:5.2vh] font-semibold tabular-nums text-white" data-testid="present-clock" data-value={now.toISOString()}>
        {time(now)}
      </div>
      <div className="mt-[0.6vh] text-[length:2.2vh] text-slate-400">
        {now.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long" })}
      </div>
    </div>
  );
}

/** "30 days · 1 Oct – 30 Oct", and the filters in force. */
function viewText(period: PeriodView | undefined, params: URLSearchParams, names: (resource: string, id: string) => string | undefined): string {
  const parts: string[] = [];
  if (period) {
    const named = PERIODS.find((p) => p.id === period.label)?.label ?? period.label.replace(/_/g, " ");
    const d = (s: string) => new Date(s).toLocaleDateString(undefined, { day: "numeric", month: "short" });
    parts.push(`${named.charAt(0).toUpperCase()}${named.slice(1)} · ${d(period.from)} – ${d(new Date(Date.parse(period.to) - 1000).toISOString())}`);
  }
  for (const f of FILTERS) {
    const v = params.get(f.key);
    // Companies and technicians are ids in the URL: shown by name once it has arrived.
    const resource = filterResource(f.key);
    if (v) parts.push(`${f.label}: ${resource ? names(resource, v) ?? "…" : valueText(f.key, v)}`);
  }
  return parts.join(" · ");
}

function ControlButton({ label, onClick, children, pressed }: { label: string; onClick: () => void; children: ReactNode; pressed?: boolean }) {
  return (
    <button
      type="button"
      onClick={onClick}
      aria-label={label}
      aria-pressed={pressed}
      title={label}
      className="grid h-[4.6vh] w-[4.6vh] place-items-center rounded-full text-slate-300 hover:bg-slate-800 hover:text-white focus:outline-none focus-visible:ring-[0.3vh] focus-visible:ring-indigo-400"
    >
      <svg viewBox="0 0 24 24" className="h-[2.8vh] w-[2.8vh]" fill="currentColor" aria-hidden="true">
        {children}
      </svg>
    </button>
  );
}

/** How the charts' columns share the width: the time series takes two parts. */
function columns(charts: ChartId[]): string {
  return charts.map((c) => (c === "opened_closed" ? "minmax(0,2fr)" : "minmax(0,1fr)")).join(" ");
}

export function PresentPage() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const user = useCurrentUser();
  const rotate = rotateSeconds(params.get("rotate"));
  const refresh = refreshMs(params.get("refresh"));
  const reducer = useMemo(() => slideReducer(SLIDES.length), []);
  const [state, dispatch] = useReducer(reducer, { index: 0, paused: false });
  const { width, height } = useViewport();
  const idle = useIdle();
  const exitTo = `/${dashboardSearch(params) ? `?${dashboardSearch(params)}` : ""}`;

  const qs = analyticsQuery(params, { metrics: slideCards().join(",") });
  const kpis = useQuery({
    queryKey: ["kpis", qs],
    queryFn: () => api.request<{ items: MetricView[] }>(`/api/analytics/kpis?${qs}`),
    placeholderData: keepPreviousData,
    refetchInterval: refresh,
    refetchIntervalInBackground: true,
  });
  const byId = new Map((kpis.data?.items ?? []).map((m) => [m.metric, m]));

  const theme: ChartTheme = useMemo(() => {
    const z = presentSizes(width, height);
    return {
      present: true,
      font: z.font,
      labelFont: z.font,
      categoryWidth: z.categoryWidth,
      labelChars: z.labelChars,
      stroke: z.stroke,
      margin: z.margin,
      barSize: z.barSize,
      grid: "#334155",
      tick: "#cbd5e1",
      label: "#e2e8f0",
      interactive: false,
      refetchInterval: refresh,
    };
  }, [width, height, refresh]);

  // The rotation: a new timer for each slide, none while paused or with ?rotate=0.
  useEffect(() => {
    if (rotate <= 0 || state.paused) return;
    const t = window.setTimeout(() => dispatch({ type: "tick" }), rotate * 1000);
    return () => window.clearTimeout(t);
  }, [rotate, state.paused, state.index]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const c = keyCommand(e, SLIDES.length);
      if (!c) return;
      e.preventDefault();
      if (c.type === "exit") navigate(exitTo);
      else if (c.type === "fullscreen") toggleFullscreen();
      else dispatch(c);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [navigate, exitTo]);

  useEffect(() => {
    const before = document.title;
    document.title = "AVESA · Present";
    return () => {
      document.title = before;
    };
  }, []);

  const slide = SLIDES[state.index];
  const period = kpis.data?.items[0]?.period;
  const asOf = params.get("as_of");
  const names = useRecordNames(
    FILTERS.flatMap((f) => {
      const resource = filterResource(f.key);
      const id = params.get(f.key);
      return resource && id ? [{ resource, id }] : [];
    }),
  );
  const updated = kpis.dataUpdatedAt ? new Date(kpis.dataUpdatedAt) : null;
  const stale = kpis.isError && kpis.data !== undefined;

  return (
    <div
      className={`dark fixed inset-0 grid grid-rows-[auto_minmax(0,1fr)] gap-[2vh] overflow-hidden bg-slate-950 px-[2.5vw] pt-[2.5vh] pb-[3vh] font-sans text-slate-100 ${idle ? "cursor-none" : ""}`}
      data-testid="present"
      data-paused={state.paused}
      data-rotate={rotate}
    >
      <header className="flex items-center gap-[2vw]">
        <div className="min-w-0 flex-1">
          <div className="flex items-center gap-[1.2vh] text-[length:2.2vh] text-slate-400">
            <img src="/favicon.svg" alt="" className="h-[2.8vh] w-[2.8vh]" />
            <span className="font-semibold tracking-wide text-slate-300">AVESA</span>
            {user?.tenant_name && <span className="truncate">· {user.tenant_name}</span>}
          </div>
          <h1 className="mt-[0.6vh] truncate text-[length:4.6vh] leading-tight font-bold text-white" data-testid="present-slide-title" aria-live="polite">
            {slide.title}
          </h1>
          <div className="mt-[0.4vh] truncate text-[length:2.4vh] text-slate-300" data-testid="present-period">
            {viewText(period, params, names) || "…"}
            {asOf && <span className="ml-[1vh] rounded-[0.6vh] bg-amber-900/60 px-[0.8vh] text-amber-200">As of {new Date(asOf).toLocaleString()}</span>}
          </div>
        </div>

        <nav aria-label="Slides" className={`flex items-center gap-[0.6vh] transition-opacity duration-500 ${idle ? "opacity-30" : ""}`}>
          <ControlButton label="Previous slide" onClick={() => dispatch({ type: "prev" })}>
            <path d="M15.41 7.41 14 6l-6 6 6 6 1.41-1.41L10.83 12z" />
          </ControlButton>
          {SLIDES.map((s, i) => (
            <button
              key={s.id}
              type="button"
              onClick={() => dispatch({ type: "goto", index: i })}
              aria-label={`Slide ${i + 1}: ${s.title}`}
              aria-current={i === state.index ? "true" : undefined}
              className={`h-[1.6vh] rounded-full transition-all ${i === state.index ? "w-[4vh] bg-indigo-400" : "w-[1.6vh] bg-slate-600 hover:bg-slate-400"}`}
            />
          ))}
          <ControlButton label="Next slide" onClick={() => dispatch({ type: "next" })}>
            <path d="M10 6 8.59 7.41 13.17 12l-4.58 4.59L10 18l6-6z" />
          </ControlButton>
          <ControlButton label={state.paused ? "Resume rotation" : "Pause rotation"} pressed={state.paused} onClick={() => dispatch({ type: "toggle" })}>
            {state.paused ? <path d="M8 5v14l11-7z" /> : <path d="M6 19h4V5H6v14zm8-14v14h4V5h-4z" />}
          </ControlButton>
          <ControlButton label="Full screen (F)" onClick={toggleFullscreen}>
            <path d="M7 14H5v5h5v-2H7v-3zm-2-4h2V7h3V5H5v5zm12 7h-3v2h5v-5h-2v3zM14 5v2h3v3h2V5h-5z" />
          </ControlButton>
          <Link
            to={exitTo}
            aria-label="Leave present mode (Esc)"
            title="Leave present mode (Esc)"
            data-testid="present-exit"
            className="grid h-[4.6vh] w-[4.6vh] place-items-center rounded-full text-slate-300 hover:bg-slate-800 hover:text-white focus:outline-none focus-visible:ring-[0.3vh] focus-visible:ring-indigo-400"
          >
            <svg viewBox="0 0 24 24" className="h-[2.8vh] w-[2.8vh]" fill="currentColor" aria-hidden="true">
              <path d="M19 6.41 17.59 5 12 10.59 6.41 5 5 6.41 10.59 12 5 17.59 6.41 19 12 13.41 17.59 19 19 17.59 13.41 12z" />
            </svg>
          </Link>
        </nav>

        <div className="flex items-center gap-[2vw]">
          <div className="text-right text-[length:2.2vh] leading-snug">
            {state.paused && (
              <div className="font-semibold text-amber-300" data-testid="present-paused">
                Paused · space resumes
              </div>
            )}
            <div
              className={stale ? "text-amber-300" : "text-slate-400"}
              data-testid="present-refreshed"
              data-value={updated ? updated.toISOString() : ""}
              title={refresh === 60_000 ? "The figures are read again every minute" : `The figures are read again every ${Math.round(refresh / 1000)} s`}
            >
              {stale ? "Offline · last updated " : "Updated "}
              {updated ? time(updated, true) : "…"}
            </div>
          </div>
          <Clock />
        </div>
      </header>

      <ChartThemeProvider value={theme}>
        <main className="relative min-h-0">
          {kpis.isError && !kpis.data ? (
            <p role="alert" data-testid="error" className="text-[length:3vh] text-red-300">
              {kpis.error instanceof ApiError || kpis.error instanceof Error ? kpis.error.message : "The figures could not be read."}
            </p>
          ) : kpis.isLoading ? (
            <p className="text-[length:3vh] text-slate-400">Loading…</p>
          ) : (
            // Every slide stays mounted (its figures refresh, its charts keep their size);
            // only the current one shows.
            SLIDES.map((s, i) => {
              const active = i === state.index;
              const cards = s.cards.map((id) => byId.get(id)).filter((m) => m !== undefined);
              return (
                <section
                  key={s.id}
                  aria-label={s.title}
                  aria-hidden={!active}
                  inert={!active}
                  data-testid="present-slide"
                  data-slide={s.id}
                  data-active={active}
                  className={`absolute inset-0 grid grid-rows-[auto_minmax(0,1fr)] gap-[2vh] transition-opacity duration-700 ${active ? "opacity-100" : "pointer-events-none opacity-0"}`}
                >
                  <div
                    className="grid gap-[1.6vh]"
                    style={{ gridTemplateColumns: `repeat(${cards.length}, minmax(0, 1fr))`, "--cards": cards.length } as CSSProperties}
                  >
                    {cards.map((m) => (
                      <KpiCard key={m.metric} m={m} size="present" interactive={false} testId="present-kpi" />
                    ))}
                  </div>
                  <div className="grid min-h-0 gap-[1.6vh]" style={{ gridTemplateColumns: columns(s.charts) }}>
                    {s.charts.map((c) => (
                      <Chart key={c} id={c} />
                    ))}
                  </div>
                </section>
              );
            })
          )}
        </main>
      </ChartThemeProvider>

      {/* Time left on this slide. */}
      {rotate > 0 && (
        <div className="absolute inset-x-0 bottom-0 h-[0.6vh] bg-slate-900" aria-hidden="true">
          {/* Restarts with each slide and on resuming, as the rotation's timer does. */}
          {!state.paused && (
            <div
              key={`${state.index}-${rotate}`}
              className="h-full origin-left bg-indigo-500/70"
              style={{ animation: `present-progress ${rotate}s linear forwards` }}
            />
          )}
        </div>
      )}
    </div>
  );
}
