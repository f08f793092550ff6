namespace Quanta.Templates.Jinja;

/// <summary>
/// A parsed Jinja2 template, rendered as transformers renders chat templates (ImmutableSandboxedEnvironment,
/// trim_blocks, lstrip_blocks, loop controls, <c>raise_exception</c>, <c>tojson</c> with ensure_ascii=False,
/// <c>strftime_now</c>). Parse once, render many times; rendering is thread-safe.
/// </summary>
public sealed class JinjaTemplate
{
    readonly List<Node> body;

    JinjaTemplate(List<Node> body) => this.body = body;

    /// <summary>Parses <paramref name="source"/>; a syntax error throws <see cref="JinjaException"/> (TemplateSyntaxError).</summary>
    public static JinjaTemplate Parse(string source) => new(Parser.Parse(source));

    /// <summary>
    /// Renders with <paramref name="variables"/> (template values: see <see cref="PyDict"/>; convert JSON with
    /// <see cref="PyJson.FromJson"/>). <paramref name="now"/> is what <c>strftime_now</c> formats (default: local now).
    /// A variable named like a global (e.g. <c>strftime_now</c>) shadows it. Template errors throw <see cref="JinjaException"/>.
    /// </summary>
    public string Render(IReadOnlyDictionary<string, object?> variables, DateTime? now = null, RenderLimits? limits = null)
    {
        var globals = new Scope(null);
        Globals.AddTo(globals, now ?? DateTime.Now);
        var root = new Scope(globals);
        foreach (var kv in variables) root.Set(kv.Key, kv.Value);
        return new Renderer(limits ?? new RenderLimits()).Render(body, root);
    }
}
