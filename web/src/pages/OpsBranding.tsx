// Operations → Branding: the name, colour, logo, footer and reply-to address the tenant's
// client reports carry (and the app's header shows). Saved with PUT /api/admin/branding;
// the server checks every field (a logo by decoding it) and its refusals show by the field.
import { useEffect, useState, type ChangeEvent, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../lib/client";
import { apiFieldError, type Errors } from "../lib/ops";
import { BRANDING_PATH, brandingChanges, logoProblem, normaliseAccent, type Branding } from "../lib/branding";
import { usePageTitle } from "../lib/title";
import { Field, OpsPage, describedBy, useAdminPath } from "../components/Ops";
import { BUTTON, BUTTON_PRIMARY, CONTROL, Card, CardHeader, ErrorBox, Spinner } from "../components/ui";

const INPUT = `${CONTROL} block w-full px-3 py-2 aria-[invalid=true]:border-red-400`;
const FIELDS = ["name", "accent", "footer", "reply_to", "logo"];

export function OpsBrandingPage() {
  usePageTitle("Branding");
  return (
    <OpsPage title="Branding" subtitle="How client reports look: your name, colour, logo and contact line.">
      {() => <BrandingForm />}
    </OpsPage>
  );
}

function readAsDataUrl(file: File): Promise<string> {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(r.error ?? new Error("the file could not be read"));
    r.readAsDataURL(file);
  });
}

function BrandingForm() {
  const p = useAdminPath();
  const qc = useQueryClient();
  const current = useQuery({ queryKey: ["branding"], queryFn: () => api.request<Branding>(BRANDING_PATH) });
  const [form, setForm] = useState({ name: "", accent: "#1d4ed8", footer: "", reply_to: "", logo: null as string | null });
  const [errors, setErrors] = useState<Errors>({});
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    const b = current.data;
    if (b) setForm({ name: b.name, accent: b.accent, footer: b.footer ?? "", reply_to: b.reply_to ?? "", logo: b.logo });
  }, [current.data]);

  const save = useMutation({
    mutationFn: (body: Record<string, string>) =>
      api.request<Branding>(p("/api/admin/branding"), { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }),
    onSuccess: async (b) => {
      qc.setQueryData(["branding"], b);
      await qc.invalidateQueries({ queryKey: ["branding"] });
      setSaved(true);
    },
    onError: (e: Error & { details?: unknown }) => {
      const f = apiFieldError(e, FIELDS);
      setErrors(f?.field ? { [f.field]: f.message } : { form: e.message });
    },
  });

  if (current.isLoading) return <Spinner label="Loading branding…" />;
  if (current.isError || !current.data) return <ErrorBox error={current.error} />;
  const before = current.data;

  const set = (k: keyof typeof form) => (e: ChangeEvent<HTMLInputElement>) => {
    setSaved(false);
    setErrors((x) => ({ ...x, [k]: undefined, form: undefined }));
    setForm((f) => ({ ...f, [k]: e.target.value }));
  };

  const pickLogo = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    e.target.value = "";
    if (!file) return;
    setSaved(false);
    const problem = logoProblem(file);
    if (problem) {
      setErrors((x) => ({ ...x, logo: problem }));
      return;
    }
    try {
      const url = await readAsDataUrl(file);
      setErrors((x) => ({ ...x, logo: undefined }));
      setForm((f) => ({ ...f, logo: url }));
    } catch (err) {
      setErrors((x) => ({ ...x, logo: (err as Error).message }));
    }
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const changes = brandingChanges(before, form);
    if (changes.accent !== undefined && changes.accent !== "" && !normaliseAccent(changes.accent)) {
      setErrors({ accent: "Use a colour like #1d4ed8." });
      return;
    }
    if (Object.keys(changes).length === 0) {
      setSaved(true);
      return;
    }
    save.mutate(changes);
  };

  const accent = normaliseAccent(form.accent) ?? "#1d4ed8";
  return (
    <div className="grid gap-5 lg:grid-cols-[minmax(0,1fr)_minmax(0,22rem)]">
      <Card>
        <CardHeader title="Report branding" subtitle="Shown on every client report and in this app's header." />
        <form className="space-y-4 p-4" onSubmit={submit} noValidate data-testid="branding-form">
          <Field id="branding-name" label="Name" error={errors.name} hint="Default: the tenant's name.">
            <input id="branding-name" className={INPUT} value={form.name} onChange={set("name")} maxLength={80}
              aria-invalid={!!errors.name} aria-describedby={describedBy("branding-name", errors.name, true)} />
          </Field>
          <Field id="branding-accent" label="Colour" error={errors.accent} hint="The reports' header band and first chart series.">
            <div className="flex items-center gap-2">
              <input type="color" aria-label="Pick the colour" className="h-9 w-12 cursor-pointer rounded border border-line bg-surface"
                value={accent} onChange={set("accent")} />
              <input id="branding-accent" className={`${INPUT} max-w-40 font-mono`} value={form.accent} onChange={set("accent")}
                aria-invalid={!!errors.accent} aria-describedby={describedBy("branding-accent", errors.accent, true)} />
            </div>
          </Field>
          <Field id="branding-logo" label="Logo" error={errors.logo} hint="A PNG or JPEG, at most 256 KiB and 2,000 pixels either way.">
            <div className="flex flex-wrap items-center gap-3">
              <input id="branding-logo" type="file" accept="image/png,image/jpeg" onChange={pickLogo}
                className="text-sm text-fg-soft file:mr-3 file:rounded-md file:border file:border-line file:bg-surface file:px-3 file:py-1.5 file:text-sm file:text-fg"
                aria-invalid={!!errors.logo} aria-describedby={describedBy("branding-logo", errors.logo, true)} data-testid="branding-logo" />
              {form.logo && (
                <button type="button" className={`${BUTTON} px-3 py-1.5`} onClick={() => { setSaved(false); setForm((f) => ({ ...f, logo: null })); }}>
                  Remove logo
                </button>
              )}
            </div>
          </Field>
          <Field id="branding-footer" label="Footer" error={errors.footer} hint="A line on every page and under every report e-mail: contact details.">
            <input id="branding-footer" className={INPUT} value={form.footer} onChange={set("footer")} maxLength={200}
              aria-invalid={!!errors.footer} aria-describedby={describedBy("branding-footer", errors.footer, true)} />
          </Field>
          <Field id="branding-reply" label="Replies go to" error={errors.reply_to} hint="The Reply-To of report e-mails.">
            <input id="branding-reply" type="email" className={INPUT} value={form.reply_to} onChange={set("reply_to")}
              aria-invalid={!!errors.reply_to} aria-describedby={describedBy("branding-reply", errors.reply_to, true)} />
          </Field>
          {errors.form && <p role="alert" className="text-sm text-danger">{errors.form}</p>}
          <div className="flex items-center gap-3">
            <button type="submit" className={`${BUTTON_PRIMARY} px-4 py-2`} disabled={save.isPending} data-testid="branding-save">
              {save.isPending ? "Saving…" : "Save"}
            </button>
            {saved && <span role="status" className="text-sm text-fg-muted" data-testid="branding-saved">Saved.</span>}
          </div>
        </form>
      </Card>
      <Card>
        <CardHeader title="Preview" subtitle="The top of a report's first page." />
        <div className="p-4">
          <div className="flex h-16 items-center gap-3 rounded-md px-4" style={{ background: accent }} data-testid="branding-preview">
            {form.logo && <img src={form.logo} alt="Logo" className="h-10 w-auto max-w-32 object-contain" />}
            <span className="truncate text-base font-bold text-white mix-blend-normal" style={{ textShadow: "0 0 2px rgba(0,0,0,.35)" }}>
              {form.name || before.name}
            </span>
          </div>
          {form.footer && <p className="mt-3 border-t border-line pt-2 text-xs text-fg-muted">{form.footer}</p>}
        </div>
      </Card>
    </div>
  );
}
