// One ECharts chart (echarts-for-react on ECharts' tree-shaken core: only the chart kinds used here).
// The echarts module is also window.echarts, so the console and the browser tests can read a chart's
// option data: echarts.getInstanceByDom(element).getOption().
import { BarChart, HeatmapChart, LineChart } from "echarts/charts";
import {
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapComponent,
} from "echarts/components";
import * as echarts from "echarts/core";
import type { EChartsCoreOption } from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import ReactEChartsCore from "echarts-for-react/esm/core";

echarts.use([
  BarChart,
  HeatmapChart,
  LineChart,
  DataZoomComponent,
  GridComponent,
  LegendComponent,
  MarkLineComponent,
  TitleComponent,
  TooltipComponent,
  VisualMapComponent,
  CanvasRenderer,
]);
(window as unknown as { echarts: typeof echarts }).echarts = echarts;

export function Chart({ name, option, height = 280 }: { name: string; option: EChartsCoreOption; height?: number }) {
  return (
    <div className="chart" data-chart={name}>
      <ReactEChartsCore echarts={echarts} option={option} notMerge style={{ height }} />
    </div>
  );
}
