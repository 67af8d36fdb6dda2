// Operations → Users: the tenant's users; create one (e-mail, name, role, initial
// password), change a role, disable / enable, reset a password. The server's refusals
// (an admin cannot disable themself or change their own role …) show where they happened.
import { useState, type FormEvent } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../lib/client";
import { useCurrentUser } from "../lib/auth";
import { apiFieldError, assignableRoles, roleLabel, validatePassword, validateUser, type AdminUser, type Errors, type UserForm } from "../lib/ops";
import { usePageTitle } from "../lib/title";
import { Modal } from "../components/Modal";
import { Field, OpsPage, describedBy, useAdminPath } from "../components/Ops";
import { BUTTON, BUTTON_PRIMARY, Badge, CONTROL, Card, CardHeader, ErrorBox, Spinner } from "../components/ui";

const INPUT = `${CONTROL} block w-full px-3 py-2 aria-[invalid=true]:border-red-400`;
const JSON_HEADERS = { "Content-Type": "application/json" };

export function OpsUsersPage() {
  usePageTitle("Users");
  const [creating, setCreating] = useState(false);
  return (
    <OpsPage
      title="Users"
      subtitle="Who may sign in to this tenant, and what they may do."
      actions={
        <button type="button" className={`${BUTTON_PRIMARY} px-3 py-1.5`} data-testid="user-create" onClick={() => setCreating(true)}>
          Add user…
        </button>
      }
    >
      {() => (
        <>
          <UsersTable />
          {creating && <CreateUserDialog onClose={() => setCreating(false)} />}
        </>
      )}
    </OpsPage>
  );
}

function UsersTable() {
  const p = useAdminPath();
  const qc = useQueryClient();
  const me = useCurrentUser();
  const users = useQuery({ queryKey: ["ops", "users"], queryFn: () => api.request<{ items: AdminUser[] }>(p("/api/admin/users")) });
  const [rowError, setRowError] = useState<Record<string, string | undefined>>({});
  const [rowDone, setRowDone] = useState<Record<string, string | undefined>>({});
  const [resetting, setResetting] = useState<AdminUser | null>(null);
  const roles = assignableRoles(me?.role);

  const patch = useMutation({
    mutationFn: ({ user, body }: { user: AdminUser; body: { role?: string; disabled?: boolean }; what: string }) =>
      api.request<AdminUser>(p(`/api/admin/users/${encodeURIComponent(user.id)}`), { method: "PATCH", headers: JSON_HEADERS, body: JSON.stringify(body) }),
    onMutate: ({ user }) => {
      setRowError((e) => ({ ...e, [user.id]: undefined }));
      setRowDone((e) => ({ ...e, [user.id]: undefined }));
    },
    onSuccess: async (_u, { user, what }) => {
      await qc.invalidateQueries({ queryKey: ["ops", "users"] });
      setRowDone((e) => ({ ...e, [user.id]: what }));
    },
    onError: (e, { user }) => setRowError((r) => ({ ...r, [user.id]: e instanceof Error ? e.message : "The change was refused." })),
  });

  if (users.isError) return <ErrorBox error={users.error} />;
  if (users.isLoading) return <Spinner label="Loading users…" />;
  const items = [...(users.data?.items ?? [])].sort((a, b) => a.email.localeCompare(b.email));

  return (
    <Card>
      <CardHeader title="Users" subtitle={`${items.length} ${items.length === 1 ? "user" : "users"}`} />
      {items.length === 0 ? (
        <p className="p-6 text-sm text-fg-muted" data-testid="users-empty">
          No users yet.
        </p>
      ) : (
        <div className="relative overflow-x-auto">
          <table className="min-w-full text-sm" data-testid="users-table">
            <thead className="bg-subtle text-left text-xs font-medium tracking-wide text-fg-muted uppercase">
              <tr>
                <th scope="col" className="px-4 py-2">User</th>
                <th scope="col" className="px-4 py-2">Role</th>
                <th scope="col" className="px-4 py-2">Status</th>
                <th scope="col" className="px-4 py-2"><span className="sr-only">Actions</span></th>
              </tr>
            </thead>
            <tbody className="divide-y divide-line-soft">
              {items.map((u) => {
                const self = u.id === me?.id;
                const busy = patch.isPending && patch.variables?.user.id === u.id;
                const roleId = `user-role-${u.id}`;
                const options = roles.some((r) => r.id === u.role) ? roles : [...roles, { id: u.role, label: roleLabel(u.role) }];
                return (
                  <tr key={u.id} data-testid="user-row" data-email={u.email} data-role={u.role} data-disabled={u.disabled} className={u.disabled ? "bg-subtle" : undefined}>
                    <th scope="row" className="px-4 py-2.5 text-left font-normal">
                      <span className="font-medium text-fg">{u.name}</span>
                      {self && <span className="ml-2 text-xs text-fg-muted">(you)</span>}
                      <span className="block text-xs text-fg-muted">{u.email}</span>
                    </th>
                    <td className="px-4 py-2.5">
                      <label htmlFor={roleId} className="sr-only">
                        Role of {u.email}
                      </label>
                      <select
                        id={roleId}
                        data-testid="user-role"
                        value={u.role}
                        disabled={busy}
                        onChange={(e) => patch.mutate({ user: u, body: { role: e.target.value }, what: `Role changed to ${roleLabel(e.target.value)}.` })}
                        className={`${CONTROL} px-2 py-1`}
                      >
                        {options.map((r) => (
                          <option key={r.id} value={r.id}>
                            {r.label}
                          </option>
                        ))}
                      </select>
                    </td>
                    <td className="px-4 py-2.5">
                      <Badge tone={u.disabled ? "slate" : "green"}>{u.disabled ? "Disabled" : "Active"}</Badge>
                    </td>
                    <td className="px-4 py-2.5">
                      <div className="flex flex-wrap justify-end gap-2">
                        <button
                          type="button"
                          className={`${BUTTON} px-2.5 py-1 text-xs`}
                          data-testid="user-toggle"
                          disabled={busy}
                          aria-label={`${u.disabled ? "Enable" : "Disable"} ${u.email}`}
                          onClick={() =>
                            patch.mutate({ user: u, body: { disabled: !u.disabled }, what: u.disabled ? "Enabled." : "Disabled: their sessions have ended." })
                          }
                        >
                          {u.disabled ? "Enable" : "Disable"}
                        </button>
                        <button
                          type="button"
                          className={`${BUTTON} px-2.5 py-1 text-xs`}
                          data-testid="user-reset"
                          aria-label={`Reset password for ${u.email}`}
                          onClick={() => setResetting(u)}
                        >
                          Reset password…
                        </button>
                      </div>
                      {rowError[u.id] && (
                        <p role="alert" className="mt-1 text-right text-sm text-danger" data-testid="user-error">
                          {rowError[u.id]}
                        </p>
                      )}
                      {rowDone[u.id] && !rowError[u.id] && (
                        <p role="status" className="mt-1 text-right text-xs text-fg-muted" data-testid="user-done">
                          {rowDone[u.id]}
                        </p>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {resetting && <ResetPasswordDialog user={resetting} onClose={() => setResetting(null)} />}
    </Card>
  );
}

function CreateUserDialog({ onClose }: { onClose: () => void }) {
  const p = useAdminPath();
  const qc = useQueryClient();
  const me = useCurrentUser();
  const [form, setForm] = useState<UserForm>({ email: "", name: "", role: "viewer", password: "" });
  const [errors, setErrors] = useState<Errors>({});
  const create = useMutation({
    mutationFn: (body: object) => api.request<AdminUser>(p("/api/admin/users"), { method: "POST", headers: JSON_HEADERS, body: JSON.stringify(body) }),
    onSuccess: async () => {
      await qc.invalidateQueries({ queryKey: ["ops", "users"] });
      onClose();
    },
    onError: (e) => {
      const m = apiFieldError(e as { message: string; details?: unknown }, ["email", "name", "role", "password"]);
      if (m?.field) setErrors({ [m.field]: m.message });
      else if ((e as { status?: number }).status === 409) setErrors({ email: e.message });
    },
  });
  const set = (k: keyof UserForm, v: string) => {
    setForm((f) => ({ ...f, [k]: v }));
    setErrors((e) => ({ ...e, [k]: undefined }));
  };
  function onSubmit(e: FormEvent) {
    e.preventDefault();
    const checked = validateUser(form);
    if (checked.errors || !checked.body) {
      setErrors(checked.errors ?? {});
      const first = (["email", "role", "password"] as const).find((f) => checked.errors?.[f]);
      if (first) document.getElementById(`new-user-${first}`)?.focus();
      return;
    }
    setErrors({});
    create.mutate(checked.body);
  }
  const shownElsewhere = Object.values(errors).some(Boolean);
  return (
    <Modal title="Add a user" description="They sign in with this e-mail and password; give them the password yourself." onClose={() => !create.isPending && onClose()} testId="user-dialog">
      <form onSubmit={onSubmit} noValidate autoComplete="off" className="space-y-4 px-5 py-4">
        <Field id="new-user-email" label="E-mail" error={errors.email}>
          <input
            id="new-user-email"
            data-testid="new-user-email"
            data-autofocus
            type="email"
            autoComplete="off"
            value={form.email}
            onChange={(e) => set("email", e.target.value)}
            aria-invalid={errors.email ? true : undefined}
            aria-describedby={describedBy("new-user-email", errors.email)}
            className={INPUT}
          />
        </Field>
        <Field id="new-user-name" label="Name (optional)" error={errors.name}>
          <input id="new-user-name" data-testid="new-user-name" value={form.name} onChange={(e) => set("name", e.target.value)} className={INPUT} />
        </Field>
        <Field id="new-user-role" label="Role" error={errors.role}>
          <select
            id="new-user-role"
            data-testid="new-user-role"
            value={form.role}
            onChange={(e) => set("role", e.target.value)}
            aria-invalid={errors.role ? true : undefined}
            aria-describedby={describedBy("new-user-role", errors.role)}
            className={INPUT}
          >
            {assignableRoles(me?.role).map((r) => (
              <option key={r.id} value={r.id}>
                {r.label}
              </option>
            ))}
          </select>
        </Field>
        <Field id="new-user-password" label="Initial password" error={errors.password} hint="At least 12 characters.">
          <input
            id="new-user-password"
            data-testid="new-user-password"
            type="password"
            autoComplete="new-password"
            value={form.password}
            onChange={(e) => set("password", e.target.value)}
            aria-invalid={errors.password ? true : undefined}
            aria-describedby={describedBy("new-user-password", errors.password, true)}
            className={INPUT}
          />
        </Field>
        {create.isError && !shownElsewhere && <ErrorBox error={create.error} />}
        <div className="flex justify-end gap-2 border-t border-line-soft pt-4">
          <button type="button" className={`${BUTTON} px-3 py-1.5`} onClick={onClose} disabled={create.isPending}>
            Cancel
          </button>
          <button type="submit" className={`${BUTTON_PRIMARY} px-3 py-1.5`} data-testid="new-user-submit" disabled={create.isPending}>
            {create.isPending ? "Adding…" : "Add user"}
          </button>
        </div>
      </form>
    </Modal>
  );
}

function ResetPasswordDialog({ user, onClose }: { user: AdminUser; onClose: () => void }) {
  const p = useAdminPath();
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [done, setDone] = useState(false);
  const reset = useMutation({
    mutationFn: (pw: string) =>
      api.request<void>(p(`/api/admin/users/${encodeURIComponent(user.id)}/password`), { method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ password: pw }) }),
    onSuccess: () => {
      setDone(true);
      setPassword("");
    },
    onError: (e) => setError(e instanceof Error ? e.message : "The password was refused."),
  });
  return (
    <Modal title={`Reset the password of ${user.email}`} description="Their sessions end at once; they sign in again with the new password." onClose={() => !reset.isPending && onClose()} testId="reset-dialog">
      <form
        noValidate
        autoComplete="off"
        className="space-y-4 px-5 py-4"
        onSubmit={(e) => {
          e.preventDefault();
          const bad = validatePassword(password);
          setError(bad);
          setDone(false);
          if (!bad) reset.mutate(password);
        }}
      >
        <Field id="reset-password" label="New password" error={error} hint="At least 12 characters.">
          <input
            id="reset-password"
            data-testid="reset-password"
            data-autofocus
            type="password"
            autoComplete="new-password"
            value={password}
            onChange={(e) => {
              setPassword(e.target.value);
              setError(undefined);
            }}
            aria-invalid={error ? true : undefined}
            aria-describedby={describedBy("reset-password", error, true)}
            className={INPUT}
          />
        </Field>
        {done && (
          <p role="status" className="text-sm text-fg-soft" data-testid="reset-done">
            Password changed; their sessions have ended.
          </p>
        )}
        <div className="flex justify-end gap-2 border-t border-line-soft pt-4">
          <button type="button" className={`${BUTTON} px-3 py-1.5`} onClick={onClose} disabled={reset.isPending}>
            {done ? "Close" : "Cancel"}
          </button>
          <button type="submit" className={`${BUTTON_PRIMARY} px-3 py-1.5`} data-testid="reset-submit" disabled={reset.isPending}>
            Set password
          </button>
        </div>
      </form>
    </Modal>
  );
}
