import { PipelinesView } from "@/components/pipelines/pipelines-view";

export default function PipelinesPage() {
  return <PipelinesView />;
}
