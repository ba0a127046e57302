import { Suspense } from "react";
import { AutomationsView } from "@/components/automations/automations-view";

export default function AutomationsPage() {
  return (
    <Suspense>
      <AutomationsView />
    </Suspense>
  );
}
