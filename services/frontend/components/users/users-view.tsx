"use client";
/** Users (admin): list, create, change role, deactivate. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { FormEvent } from "react";
import { useApi, useSession } from "@/components/providers";
import { useCan } from "@/components/auth/use-can";
import { call, type Schemas } from "@/lib/api/client";
import { Empty, QueryView } from "@/components/ui/states";
import { Time } from "@/components/ui/time";

type User = Schemas["UserRead"];
const ROLES: User["role"][] = ["viewer", "operator", "admin"];

function useUserChange() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ id, change }: { id: string; change: Schemas["UserUpdate"] }) =>
      call(api.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: id } }, body: change })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["users"] }),
  });
}

function UserRow({ user, self }: { user: User; self: boolean }) {
  const change = useUserChange();
  return (
    <tr>
      <td>{user.username}</td>
      <td>{user.email ?? "—"}</td>
      <td>
        <select aria-label={`Role of ${user.username}`} value={user.role} disabled={self || change.isPending}
          onChange={(e) => change.mutate({ id: user.id, change: { role: e.target.value as User["role"] } })}>
          {ROLES.map((r) => <option key={r}>{r}</option>)}
        </select>
      </td>
      <td>{user.active ? "active" : "deactivated"}</td>
      <td><Time iso={user.last_login_at} /></td>
      <td>
        {!self && (
          <button onClick={() => change.mutate({ id: user.id, change: { active: !user.active } })} disabled={change.isPending}>
            {user.active ? "Deactivate" : "Reactivate"}
          </button>
        )}
        {change.error && <span className="error" role="alert">{change.error.message}</span>}
      </td>
    </tr>
  );
}

function NewUser() {
  const api = useApi();
  const queryClient = useQueryClient();
  const create = useMutation({
    mutationFn: (body: Schemas["UserCreate"]) => call(api.POST("/api/v1/users", { body })),
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["users"] }),
  });
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    const email = String(form.get("email") ?? "");
    create.mutate({ username: String(form.get("username")), password: String(form.get("password")),
      role: form.get("role") as User["role"], email: email || null }, { onSuccess: () => (event.target as HTMLFormElement).reset() });
  }
  return (
    <form className="panel row" onSubmit={submit} aria-label="New user">
      <label>Username<input name="username" required autoComplete="off" /></label>
      <label>Email<input name="email" type="email" autoComplete="off" /></label>
      <label>Password<input name="password" type="password" required autoComplete="new-password" /></label>
      <label>Role<select name="role" defaultValue="viewer">{ROLES.map((r) => <option key={r}>{r}</option>)}</select></label>
      <button className="primary" type="submit" disabled={create.isPending}>Create user</button>
      {create.error && <span className="error" role="alert">{create.error.message}</span>}
    </form>
  );
}

export function UsersView() {
  const api = useApi();
  const session = useSession();
  const isAdmin = useCan("admin");
  const users = useQuery({ queryKey: ["users"], enabled: isAdmin, queryFn: () => call(api.GET("/api/v1/users")) });
  if (!isAdmin) return <Empty>Users are managed by admins.</Empty>;
  return (
    <>
      <h1>Users</h1>
      <NewUser />
      <div className="panel">
        <QueryView query={users} what="users" isEmpty={(u) => u.length === 0}>
          {(items) => (
            <table>
              <thead><tr><th>Username</th><th>Email</th><th>Role</th><th>State</th><th>Last sign-in</th><th><span className="muted">Actions</span></th></tr></thead>
              <tbody>{items.map((u) => <UserRow key={u.id} user={u} self={u.username === session?.subject || u.id === session?.subject} />)}</tbody>
            </table>
          )}
        </QueryView>
      </div>
    </>
  );
}
