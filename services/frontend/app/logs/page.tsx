import { Suspense } from "react";
import { LogsView } from "@/components/logs/logs-view";

export default function LogsPage() {
  return (
    <Suspense>
      <LogsView />
    </Suspense>
  );
}
