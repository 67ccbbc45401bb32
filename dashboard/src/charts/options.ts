// ECharts options for the evaluation report's curves. Tooltips print each value with String(), so a
// hovered point shows every digit the API sent (the axes round, the tooltips never do).
import type { EChartsCoreOption } from "echarts/core";
import type { Confusion, Curves, FeatureImportance } from "../types";

type Point = [number, number];
interface Series {
  name: string;
  points: Point[];
  dashed?: boolean;
}

interface TooltipParam {
  seriesName: string;
  value: Point;
  marker: string;
}

function fullTooltip(xName: string, yName: string) {
  return (raw: TooltipParam | TooltipParam[]) => {
    const params = Array.isArray(raw) ? raw : [raw];
    const head = params.length ? `${xName}: ${String(params[0].value[0])}` : "";
    const rows = params.map((p) => `${p.marker}${p.seriesName} (${yName}): ${String(p.value[1])}`);
    return [head, ...rows].join("<br/>");
  };
}

export function lineOption(title: string, xName: string, yName: string, series: Series[], square = false): EChartsCoreOption {
  return {
    title: { text: title, left: "center", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis", formatter: fullTooltip(xName, yName) },
    legend: { bottom: 0 },
    grid: { left: 56, right: 24, top: 40, bottom: square ? 56 : 64 },
    xAxis: { type: "value", name: xName, nameLocation: "middle", nameGap: 26, min: square ? 0 : undefined, max: square ? 1 : undefined },
    yAxis: { type: "value", name: yName, min: square ? 0 : undefined, max: square ? 1 : undefined },
    series: series.map((s) => ({
      name: s.name,
      type: "line",
      data: s.points,
      showSymbol: s.points.length <= 30,
      lineStyle: s.dashed ? { type: "dashed", width: 1 } : { width: 2 },
    })),
  };
}

const diagonal: Series = { name: "random", points: [[0, 0], [1, 1]], dashed: true };

export const rocOption = (curves: Curves, auc: unknown) =>
  lineOption(`ROC (AUC ${String(auc ?? "—")})`, "FPR", "TPR", [{ name: "ROC", points: curves.roc.map((p) => [p.fpr, p.tpr]) }, diagonal], true);

export function ksOption(curves: Curves, ks: unknown): EChartsCoreOption {
  const at = (key: "tpr" | "fpr" | "gap") => curves.ks.map((p): Point => [p.population, p[key]]);
  return lineOption(`KS (${String(ks ?? "—")})`, "population", "rate", [
    { name: "TPR", points: at("tpr") },
    { name: "FPR", points: at("fpr") },
    { name: "TPR − FPR", points: at("gap") },
  ]);
}

export const prOption = (curves: Curves) =>
  lineOption("Precision–recall", "recall", "precision", [{ name: "precision", points: curves.pr.map((p) => [p.recall, p.precision]) }], true);

export const liftOption = (curves: Curves) =>
  lineOption("Lift", "population", "lift", [{ name: "lift", points: curves.lift.map((p) => [p.population, p.lift]) }]);

export const gainOption = (curves: Curves) =>
  lineOption("Cumulative gain", "population", "gain", [
    { name: "gain", points: curves.gain.map((p) => [p.population, p.gain]) },
    diagonal,
  ]);

export const lossOption = (curves: Curves) =>
  lineOption("Loss per epoch", "epoch", "loss", [{ name: "loss", points: curves.loss.map((p) => [p.epoch, p.loss]) }]);

export function confusionOption(c: Confusion): EChartsCoreOption {
  const cells: [number, number, number][] = [
    [0, 1, c.tp], // predicted 1, actual 1
    [1, 1, c.fn],
    [0, 0, c.fp],
    [1, 0, c.tn],
  ];
  return {
    title: { text: `Confusion at threshold ${String(c.threshold)}`, left: "center", textStyle: { fontSize: 14 } },
    tooltip: { formatter: (p: { value: [number, number, number] }) => `${["predicted 1", "predicted 0"][p.value[0]]}, ${["actual 0", "actual 1"][p.value[1]]}: ${p.value[2]}` },
    grid: { left: 80, right: 24, top: 40, bottom: 48 },
    xAxis: { type: "category", data: ["predicted 1", "predicted 0"] },
    yAxis: { type: "category", data: ["actual 0", "actual 1"] },
    visualMap: { min: 0, max: Math.max(1, c.tp, c.fp, c.tn, c.fn), show: false, inRange: { color: ["#eef4fb", "#2b6cb0"] } },
    series: [{ name: "confusion", type: "heatmap", data: cells, label: { show: true, fontSize: 16 } }],
  };
}

export function importanceOption(fi: FeatureImportance): EChartsCoreOption {
  const rows = Object.entries(fi.by_party).flatMap(([party, features]) =>
    features.map((f) => ({ label: `${f.feature} (${party})`, party, importance: f.importance })),
  );
  rows.sort((a, b) => a.importance - b.importance); // the largest at the top of a horizontal bar chart
  const parties = [...new Set(rows.map((r) => r.party))];
  return {
    title: { text: `Feature importance (${fi.method})`, left: "center", textStyle: { fontSize: 14 } },
    tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, valueFormatter: (v: unknown) => String(v) },
    legend: { bottom: 0 },
    grid: { left: 160, right: 24, top: 40, bottom: 48 },
    xAxis: { type: "value" },
    yAxis: { type: "category", data: rows.map((r) => r.label) },
    series: parties.map((party) => ({
      name: `party ${party}`,
      type: "bar",
      stack: "importance",
      data: rows.map((r) => (r.party === party ? r.importance : null)),
    })),
  };
}
