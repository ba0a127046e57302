import { Suspense } from "react";
import { IncidentsView } from "@/components/incidents/incidents-view";

export default function IncidentsPage() {
  return (
    <Suspense>
      <IncidentsView />
    </Suspense>
  );
}
