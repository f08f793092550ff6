using ScottPlot;

namespace Quanta.Bench.Report;

/// <summary>PNG chart: request throughput (left axis) and average / lowest per-request speed (right axis) per run.</summary>
public static class Chart
{
    public static void Save(BenchReport rep, string path, int width = 900, int height = 520)
    {
        var runs = rep.Runs;
        double[] xs = [.. Enumerable.Range(0, runs.Count).Select(i => (double)i)];
        var plot = new Plot();
        var thr = plot.Add.Scatter(xs, [.. runs.Select(r => r.RequestThroughput)]);
        thr.LegendText = "throughput (req/s)";
        thr.MarkerSize = 8;
        var avg = plot.Add.Scatter(xs, [.. runs.Select(r => r.SpeedMeanTokS)]);
        avg.LegendText = "average speed (tokens/s)";
        avg.Axes.YAxis = plot.Axes.Right;
        avg.MarkerSize = 8;
        var low = plot.Add.Scatter(xs, [.. runs.Select(r => r.SpeedMinTokS)]);
        low.LegendText = "lowest speed (tokens/s)";
        low.Axes.YAxis = plot.Axes.Right;
        low.LinePattern = LinePattern.Dashed;
        low.MarkerSize = 8;
        plot.Axes.Bottom.SetTicks(xs, [.. runs.Select(r => r.Label)]);
        plot.Axes.Bottom.Label.Text = runs.Any(r => r.RequestInterval is not null) ? "request interval (s)"
            : runs.Any(r => r.RequestRate is not null) ? "Poisson request rate (req/s)" : "arrivals";
        plot.Axes.Left.Label.Text = "throughput (req/s)";
        plot.Axes.Right.Label.Text = "per-request speed (tokens/s)";
        plot.Title($"{rep.Model ?? rep.BaseUrl} · {rep.Backend} · {rep.NumPrompts} prompts");
        plot.ShowLegend(Edge.Bottom);
        foreach (var sc in new[] { thr, avg, low }) sc.LineWidth = 2;
        plot.Axes.Margins(0.1, 0.15);
        plot.Axes.AutoScale();
        plot.Axes.SetLimitsY(0, Top(runs.Select(r => r.RequestThroughput)), plot.Axes.Left);
        plot.Axes.SetLimitsY(0, Top(runs.Select(r => Math.Max(r.SpeedMeanTokS, r.SpeedMinTokS))), plot.Axes.Right);
        plot.SavePng(path, width, height);
    }

    /// <summary>Axis top: 15 % above the largest value (1 when all are zero).</summary>
    static double Top(IEnumerable<double> values)
    {
        double max = values.DefaultIfEmpty(0).Max();
        return max > 0 ? max * 1.15 : 1;
    }
}
