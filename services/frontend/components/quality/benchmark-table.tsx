/** One benchmark's scores: per data set or category, the shipped detector's figure and the baselines'. */
import type { Schemas } from "@/lib/api/client";

type Benchmark = Schemas["QualityBenchmark"];
type Score = Schemas["QualityScore"];

const BETTER: Record<Score["better"], string> = {
  higher: "higher is better",
  lower: "lower is better",
  target: "closest to 0.95 is best",
};

export function formatScore(value: number): string {
  return Math.abs(value) >= 10 ? value.toFixed(1) : value.toFixed(3);
}

export function BenchmarkTable({ benchmark }: { benchmark: Benchmark }) {
  return (
    <table aria-label={benchmark.title}>
      <thead>
        <tr><th>Subject</th><th>Metric</th><th className="num">Score</th><th>Kind</th></tr>
      </thead>
      <tbody>
        {benchmark.scores.map((score) => (
          <tr key={`${score.subject}/${score.metric}`} className={score.reference ? "muted" : undefined}>
            <td>{score.subject}</td>
            <td title={BETTER[score.better]}>{score.metric}</td>
            <td className="num">{formatScore(score.value)}</td>
            <td>{score.reference ? "baseline" : "shipped"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
