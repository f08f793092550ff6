using System.Text.Json;
using Quanta.Templates.Jinja;

namespace Quanta.Tests.Templates;

/// <summary>
/// Hand-written templates beyond the corpus (reprs, tojson, slicing, scoping, loop variables, macros, whitespace
/// control, filters, tests, string methods, unicode, Python errors, template variants on a unicode conversation).
/// Expected outputs in jinja-cases.json are jinja2 3.1.6's with transformers' environment.
/// </summary>
public class JinjaTests
{
    static readonly string CasesPath = Path.Combine(TestPaths.RepoRoot, "tests", "Quanta.Tests", "Templates", "jinja-cases.json");
    static readonly Lazy<Dictionary<string, JsonElement>> All = new(() =>
        JsonDocument.Parse(File.ReadAllText(CasesPath)).RootElement.EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.Clone()));

    public static TheoryData<string> Names() => new(All.Value.Keys);

    [Theory]
    [MemberData(nameof(Names))]
    public void Renders_like_jinja2(string name)
    {
        var c = All.Value[name];
        string source;
        if (c.GetProperty("template").ValueKind == JsonValueKind.String) source = c.GetProperty("template").GetString()!;
        else
        {
            // Variants of corpus templates are built from ../shared at test time (template texts stay out of the repository).
            var baseFile = TestPaths.SharedPath("chat-templates", "templates", c.GetProperty("base").GetString() + ".jinja");
            var replace = c.GetProperty("replace");
            source = File.ReadAllText(baseFile).Replace(replace[0].GetString()!, replace[1].GetString());
        }
        var vars = c.GetProperty("vars").EnumerateObject().ToDictionary(p => p.Name, p => PyJson.FromJson(p.Value));
        var template = JinjaTemplate.Parse(source);
        var now = new DateTime(2024, 7, 26, 12, 0, 0);
        if (c.TryGetProperty("error", out var error))
        {
            var ex = Assert.Throws<JinjaException>(() => template.Render(vars, now));
            Assert.Equal(error.GetString(), ex.Message);
            Assert.Equal(c.GetProperty("error_type").GetString(), ex.PyType);
        }
        else Assert.Equal(c.GetProperty("output").GetString(), template.Render(vars, now));
    }

    [Theory]
    [InlineData("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "RecursionError")]
    [InlineData("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "SecurityError")]
    [InlineData("{{ 'x' * 100000000 }}", "SecurityError")]
    [InlineData("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "SecurityError")]
    [InlineData("{% for i in range(1000) %}{% for j in range(1000) %}xxxxxxxxxxxxxxxx{% endfor %}{% endfor %}", "SecurityError")]
    [InlineData("{{ range(10**9) }}", "OverflowError")]
    [InlineData("{{ ''.__class__ }}", "")]
    public void Hostile_templates_are_bounded(string source, string errorType)
    {
        var template = JinjaTemplate.Parse(source);
        if (errorType == "") { Assert.Equal("", template.Render(new Dictionary<string, object?>())); return; }
        var ex = Assert.Throws<JinjaException>(() => template.Render(new Dictionary<string, object?>()));
        Assert.Equal(errorType, ex.PyType);
    }

    [Theory]
    [InlineData("{{ x ")]
    [InlineData("{% if x %}no end")]
    [InlineData("{% endfor %}")]
    [InlineData("{% include 'x' %}")]
    [InlineData("{{ ((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((((1 }}")]
    public void Syntax_errors_are_reported(string source)
    {
        var ex = Assert.Throws<JinjaException>(() => JinjaTemplate.Parse(source));
        Assert.Equal("TemplateSyntaxError", ex.PyType);
    }
}
