import type { Column } from "../lib/resources";
import { billableLabel, formatDate, formatDateTime, formatShortDateTime, formatDecimal, formatHours, formatInt, formatValue } from "../lib/format";
import { priorityColor, statusColor } from "../lib/analytics";
import { Badge } from "./ui";

export function cellText(col: Column, row: Record<string, unknown>): string {
  if (col.render) return col.render(row) || "—";
  const v = row[col.key];
  if (v === null || v === undefined || v === "") return "—";
  switch (col.format) {
    case "int":
      return typeof v === "number" ? formatInt(v) : String(v);
    case "decimal":
    case "money":
      return typeof v === "number" ? formatDecimal(v) : String(v);
    case "hours":
      return typeof v === "number" ? formatHours(v) : String(v);
    case "date":
      return typeof v === "string" ? formatDate(v) : String(v);
    case "datetime":
      return typeof v === "string" ? formatDateTime(v) : String(v);
    case "shortdatetime":
      return typeof v === "string" ? formatShortDateTime(v) : String(v);
    case "billable":
      return billableLabel(String(v));
    default:
      return formatValue(v);
  }
}

export function CellValue({ col, row }: { col: Column; row: Record<string, unknown> }) {
  const v = row[col.key];
  if (col.format === "bool" && typeof v === "boolean") {
    return <Badge tone={v ? "green" : "slate"}>{v ? "Yes" : "No"}</Badge>;
  }
  if ((col.format === "status" || col.format === "priority") && typeof v === "string" && v) {
    const colour = col.format === "status" ? statusColor(v) : priorityColor(v);
    return (
      <span className="inline-flex max-w-full items-center gap-1.5 whitespace-nowrap">
        <span className="h-2 w-2 shrink-0 rounded-full" style={{ backgroundColor: colour }} aria-hidden="true" />
        <span className="truncate">{v}</span>
      </span>
    );
  }
  return <>{cellText(col, row)}</>;
}
