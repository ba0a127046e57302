import { Suspense } from "react";
import { DeadLettersView } from "@/components/dead-letters/dead-letters-view";

export default function DeadLettersPage() {
  return (
    <Suspense>
      <DeadLettersView />
    </Suspense>
  );
}
