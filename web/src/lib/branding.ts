// The tenant's branding (GET /api/settings/branding): the name, colour, logo and footer
// its client reports carry, and the app's header shows.

export interface Branding {
  name: string;
  /** `#rrggbb`. */
  accent: string;
  footer: string | null;
  reply_to: string | null;
  /** A `data:image/png;base64,…` or `data:image/jpeg;base64,…` URL. */
  logo: string | null;
}

export const BRANDING_PATH = "/api/settings/branding";

/** The largest logo file the server takes. */
export const MAX_LOGO_BYTES = 256 * 1024;

/** Why a chosen logo file cannot be used, or null. */
export function logoProblem(file: { type: string; size: number }): string | null {
  if (file.type !== "image/png" && file.type !== "image/jpeg") return "Choose a PNG or JPEG image.";
  if (file.size > MAX_LOGO_BYTES) return `The logo is ${Math.ceil(file.size / 1024)} KiB; at most 256 KiB.`;
  return null;
}

/** `#1D4ED8` or `1d4ed8` as `#1d4ed8`; null when it is not a colour. */
export function normaliseAccent(v: string): string | null {
  const h = v.trim().replace(/^#/, "");
  return /^[0-9a-fA-F]{6}$/.test(h) ? `#${h.toLowerCase()}` : null;
}

/** What PUT /api/admin/branding gets: only what changed ("" resets a field). */
export function brandingChanges(
  before: Branding,
  form: { name: string; accent: string; footer: string; reply_to: string; logo: string | null },
): Record<string, string> {
  const out: Record<string, string> = {};
  if (form.name.trim() !== before.name) out.name = form.name.trim();
  const accent = normaliseAccent(form.accent) ?? form.accent.trim();
  if (accent !== before.accent) out.accent = accent;
  if (form.footer.trim() !== (before.footer ?? "")) out.footer = form.footer.trim();
  if (form.reply_to.trim() !== (before.reply_to ?? "")) out.reply_to = form.reply_to.trim();
  if ((form.logo ?? "") !== (before.logo ?? "")) out.logo = form.logo ?? "";
  return out;
}
