import { UsersView } from "@/components/users/users-view";

export default function UsersPage() {
  return <UsersView />;
}
