// A metric's card: the dashboard's KPIs, present mode's, and the figures on company and
// technician pages.
import { Link } from "react-router";
import { drillPath, formatChange, formatMetric, GOAL_LABEL, goalTone, ignoredNote, type MetricView } from "../lib/analytics";
import { describeTarget, periodLabel } from "../lib/goals";
import { TEXT_TONE, TONE } from "./ui";

const TONE_BORDER = {
  green: "border-l-emerald-500",
  amber: "border-l-amber-500",
  red: "border-l-red-500",
  slate: "border-l-transparent dark:border-l-slate-700",
} as const;

const SIZES = {
  card: {
    box: "rounded-xl border-l-4 px-4 py-3",
    label: "text-xs",
    value: "mt-1.5 text-2xl",
    row: "mt-1 gap-x-2 gap-y-1 text-xs",
    chip: "px-1.5 py-0.5",
  },
  // Present mode: sized to the screen (vh), every text at least 2% of its height.
  present: {
    box: "rounded-[1.2vh] border-l-[0.8vh] px-[2vh] py-[1.6vh]",
    label: "text-[length:2.4vh] leading-tight",
    // The value shrinks with the number of cards in the row (--cards), to fit "$123,456".
    value: "mt-[0.6vh] text-[length:min(7.5vh,calc(14.5vw/var(--cards,4)))] leading-none",
    row: "mt-[1vh] gap-x-[1.2vh] gap-y-[0.6vh] text-[length:2.2vh] leading-tight",
    chip: "px-[1vh] py-[0.3vh]",
  },
} as const;

/** The goal's chip: where the figure stands (met, at risk, missed) against its target,
 *  or, when the goal does not hold for this period or the figure is not available, the
 *  goal itself, greyed. */
function GoalChip({ m, testId, chip }: { m: MetricView; testId: string; chip: string }) {
  const g = m.goal;
  if (!g) return null;
  const tone = goalTone(g.status);
  const text = g.status
    ? `${GOAL_LABEL[g.status]} · ${formatMetric(m.unit, g.pace_target ?? g.target)}`
    : `Goal ${describeTarget(g, m.unit)}`;
  const title = g.status
    ? `Goal ${describeTarget(g, m.unit)}${g.pace_target !== null && g.pace_target !== g.target ? `; on pace so far: ${formatMetric(m.unit, g.pace_target)}` : ""}`
    : !g.applies
      ? `The goal is for ${periodLabel(g.period).toLowerCase()}; this period is not one`
      : "No figure to hold to the goal";
  return (
    <span
      className={`rounded-full font-medium ${chip} ${TONE[tone]}`}
      data-testid={`${testId}-${m.metric}-goal`}
      data-status={g.status ?? "none"}
      title={title}
    >
      {text}
    </span>
  );
}

/** One figure: its value, the change against the previous period and its goal; a link
 *  to the records behind it (the whole card is the link's target, `interactive`). With
 *  `onEditGoal`, a "Set goal" / "Edit goal" button (admins). `testId` prefixes its test ids
 *  (`kpi-tickets_opened`, `kpi-tickets_opened-goal`, `kpi-tickets_opened-goal-edit`). */
export function KpiCard({
  m,
  testId = "kpi",
  size = "card",
  interactive = true,
  onEditGoal,
}: {
  m: MetricView;
  testId?: string;
  size?: keyof typeof SIZES;
  interactive?: boolean;
  onEditGoal?: (m: MetricView) => void;
}) {
  const z = SIZES[size];
  const tone = goalTone(m.goal?.status);
  const change = formatChange(m.unit, m.previous);
  const a = m.previous?.assessment;
  const arrow = m.previous?.trend === "up" ? "▲" : m.previous?.trend === "down" ? "▼" : "";
  const changeColour =
    a === "better" ? TEXT_TONE.green : a === "worse" ? TEXT_TONE.red : "text-fg-muted";
  const to = interactive ? drillPath(m.drill) : undefined;
  const value = (
    <div
      className={`${z.value} font-semibold tabular-nums text-fg`}
      data-testid={`${testId}-${m.metric}`}
      data-value={m.value ?? "null"}
      title={m.available ? undefined : "Not available: no connected service records this"}
    >
      {formatMetric(m.unit, m.value)}
    </div>
  );
  return (
    <div
      className={`relative flex h-full min-w-0 flex-col border border-line bg-surface shadow-sm ${z.box} ${TONE_BORDER[tone]} ${
        to ? "hover:border-indigo-300 hover:shadow dark:hover:border-indigo-500" : ""
      }`}
      data-testid={`${testId}-${m.metric}-card`}
      data-goal-status={m.goal?.status ?? "none"}
    >
      <div className={`${z.label} font-medium tracking-wide text-fg-muted uppercase`}>{m.label}</div>
      {to ? (
        // The link's box covers the card (after:inset-0), so the whole card opens the
        // records while the goal button above it stays its own control.
        <Link
          to={to}
          className="rounded-sm after:absolute after:inset-0 after:rounded-xl focus:outline-none focus-visible:after:ring-2 focus-visible:after:ring-indigo-500"
          aria-label={`${m.label}: ${formatMetric(m.unit, m.value)}. Show the records`}
        >
          {value}
        </Link>
      ) : (
        value
      )}
      <div className={`${z.row} flex flex-wrap items-center`}>
        {change && (
          <span className={`font-medium ${changeColour}`} data-testid={`${testId}-${m.metric}-change`}>
            {arrow} {change}
          </span>
        )}
        {m.previous && <span className="text-fg-muted">vs {formatMetric(m.unit, m.previous.value)}</span>}
        <GoalChip m={m} testId={testId} chip={z.chip} />
      </div>
      {ignoredNote(m.ignored_filters) && (
        <div className={`${z.row} text-fg-muted`} data-testid={`${testId}-${m.metric}-ignored`}>
          {ignoredNote(m.ignored_filters)}
        </div>
      )}
      {onEditGoal && (
        <div className="mt-auto pt-1.5">
          <button
            type="button"
            onClick={() => onEditGoal(m)}
            data-testid={`${testId}-${m.metric}-goal-edit`}
            aria-label={`${m.goal ? "Edit goal" : "Set goal"} for ${m.label}`}
            className="relative z-10 rounded text-xs font-medium text-accent hover:text-accent-hover hover:underline focus:outline-none focus-visible:ring-2 focus-visible:ring-indigo-500"
          >
            {m.goal ? "Edit goal" : "Set goal"}
          </button>
        </div>
      )}
    </div>
  );
}
