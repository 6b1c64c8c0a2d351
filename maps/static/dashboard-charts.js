// The dashboard's charts (Apache ECharts, served by wangge): the trend of an indicator by week or
// month, and its breakdown by category. A click on a bar asks the page for the incidents behind it;
// each chart saves itself as a picture (the toolbox).
import * as echarts from 'echarts';

const BLUE = '#1d4e89';

export class Chart {
  constructor(element, words, format) {
    this.words = words;
    this.format = format;
    this.chart = echarts.init(element, null, { renderer: 'canvas' });
    this.onPick = null;
    this.chart.on('click', (p) => this.onPick && this.onPick(p.dataIndex));
    addEventListener('resize', () => this.chart.resize());
  }

  base(name, unit) {
    return {
      animation: false,
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' }, valueFormatter: (v) => this.format(v, unit) },
      toolbox: { right: 4, top: 0, feature: { saveAsImage: { title: this.words.save_image, name } } },
    };
  }

  // periods: [{label, value}], the indicator's unit.
  trend(periods, unit, name) {
    const rate = unit === 'rate';
    this.chart.setOption(
      {
        ...this.base(name, unit),
        xAxis: { type: 'category', data: periods.map((p) => p.label), axisLabel: { hideOverlap: true } },
        yAxis: { type: 'value', axisLabel: { formatter: (v) => this.format(v, unit) }, max: rate ? 1 : null, minInterval: unit === 'count' ? 1 : 0 },
        series: [
          {
            type: rate ? 'line' : 'bar',
            name,
            data: periods.map((p) => p.value),
            itemStyle: { color: BLUE },
            symbolSize: 7,
            barMaxWidth: 36,
            connectNulls: false,
            cursor: 'pointer',
          },
        ],
      },
      true,
    );
  }

  // rows: [{label, value}], largest first; drawn as horizontal bars, the largest on top.
  bars(rows, unit, name) {
    const shown = rows.slice(0, 15).reverse();
    this.chart.setOption(
      {
        ...this.base(name, unit),
        xAxis: { type: 'value', axisLabel: { formatter: (v) => this.format(v, unit), hideOverlap: true }, minInterval: unit === 'count' ? 1 : 0 },
        yAxis: { type: 'category', data: shown.map((r) => r.label), axisLabel: { width: 110, overflow: 'truncate' } },
        series: [{ type: 'bar', name, data: shown.map((r) => r.value), itemStyle: { color: '#3182bd' }, barMaxWidth: 28, cursor: 'pointer' }],
      },
      true,
    );
    return shown;
  }

  resize() {
    this.chart.resize();
  }
}
