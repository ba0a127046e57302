import { QualityView } from "@/components/quality/quality-view";

export default function QualityPage() {
  return <QualityView />;
}
