using System.Text;

namespace Quanta.Bench.Report;

/// <summary>
/// <c>bench compare</c>: two results.json side by side with B/A ratios. Runs pair by label (the interval)
/// when the files share any; otherwise (say a rate against an interval) by position.
/// </summary>
public static class Compare
{
    public static string Render(BenchReport a, string nameA, BenchReport b, string nameB)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"A = {nameA} ({a.Backend}, {a.Model ?? a.BaseUrl}, {a.NumPrompts} prompts)");
        sb.AppendLine($"B = {nameB} ({b.Backend}, {b.Model ?? b.BaseUrl}, {b.NumPrompts} prompts)");
        bool byLabel = a.Runs.Any(ra => b.Runs.Any(rb => rb.Label == ra.Label));    // else pair by position
        var used = new HashSet<Metrics.RunMetrics>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < a.Runs.Count; i++)
        {
            var ra = a.Runs[i];
            var rb = byLabel ? b.Runs.FirstOrDefault(r => r.Label == ra.Label) : i < b.Runs.Count ? b.Runs[i] : null;
            if (rb is null || !used.Add(rb)) { sb.AppendLine().AppendLine($"run {ra.Label}: only in A"); continue; }
            sb.AppendLine();
            sb.AppendLine(ra.Label == rb.Label ? $"## {ra.Label}" : $"## A {ra.Label} vs B {rb.Label}");
            sb.AppendLine("| metric | A | B | B/A |");
            sb.AppendLine("|---|---:|---:|---:|");
            sb.AppendLine($"| completed | {ra.Completed} | {rb.Completed} | |");
            sb.AppendLine($"| failed | {ra.Failed} | {rb.Failed} | |");
            foreach (var (name, get) in MarkdownReport.Numeric())
            {
                double va = get(ra), vb = get(rb);
                string ratio = va != 0 ? (vb / va).ToString("0.00x", System.Globalization.CultureInfo.InvariantCulture) : "-";
                sb.AppendLine($"| {name} | {MarkdownReport.F(va)} | {MarkdownReport.F(vb)} | {ratio} |");
            }
        }
        foreach (var rb in b.Runs.Where(r => !used.Contains(r)))
            sb.AppendLine().AppendLine($"run {rb.Label}: only in B");
        return sb.ToString();
    }
}
