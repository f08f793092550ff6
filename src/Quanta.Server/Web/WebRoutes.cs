using System.Reflection;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Quanta.Server.Api;

namespace Quanta.Server.Web;

/// <summary>
/// The playground (<c>/</c>, <c>/playground</c>), the dashboard (<c>/dashboard</c>), their files under <c>/web/</c>
/// (embedded in this assembly) and the <c>/stats</c> snapshot the dashboard polls.
/// </summary>
internal static class WebRoutes
{
    const string Prefix = "quanta.web.";
    // Pages hold no data; everything they show comes from API calls that carry the key.
    const string Csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
                       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    sealed record Asset(byte[] Body, string ContentType, string ETag);

    static readonly Lazy<Dictionary<string, Asset>> Assets = new(Load);

    /// <summary>Paths a browser navigates to or loads from a page: served without the API key (with --api-key, the page asks for it).</summary>
    public static bool IsPublic(ServerOptions o, HttpRequest req)
    {
        if (!o.Web || !HttpMethods.IsGet(req.Method)) return false;
        var path = req.Path;
        return path == "/" || path == "/playground" || path == "/dashboard" || path == "/favicon.ico" || path.StartsWithSegments("/web");
    }

    public static void Map(WebApplication app, ServerState s)
    {
        app.MapGet("/stats", () => Results.Json(StatsSnapshot.Take(s), Json.Options));
        // Mapped with --no-web too, to answer 404 (not 405 beside TGI's POST /).
        bool on = s.Options.Web;
        app.MapGet("/", (HttpContext ctx) => Serve(ctx, on, "index.html"));
        app.MapGet("/playground", (HttpContext ctx) => Serve(ctx, on, "index.html"));
        app.MapGet("/dashboard", (HttpContext ctx) => Serve(ctx, on, "dashboard.html"));
        app.MapGet("/web/{file}", (HttpContext ctx, string file) => Serve(ctx, on, file));
        app.MapGet("/favicon.ico", () => on ? Results.NoContent() : Results.NotFound());
    }

    /// <summary>Names and sizes of the embedded files (for the size budget test).</summary>
    public static IReadOnlyDictionary<string, int> Files => Assets.Value.ToDictionary(kv => kv.Key, kv => kv.Value.Body.Length);

    static IResult Serve(HttpContext ctx, bool on, string file)
    {
        if (!on || !Assets.Value.TryGetValue(file, out var a)) return Results.NotFound();
        var h = ctx.Response.Headers;
        h.ETag = a.ETag;
        h.CacheControl = "no-cache";
        h.XContentTypeOptions = "nosniff";
        h.ContentSecurityPolicy = Csp;
        h["Referrer-Policy"] = "no-referrer";
        if (ctx.Request.Headers.IfNoneMatch == a.ETag) return Results.StatusCode(StatusCodes.Status304NotModified);
        return Results.Bytes(a.Body, a.ContentType);
    }

    static Dictionary<string, Asset> Load()
    {
        var asm = typeof(WebRoutes).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in asm.GetManifestResourceNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)))
        {
            using var stream = asm.GetManifestResourceStream(name)!;
            using var ms = new MemoryStream();
            stream.CopyTo(ms);
            var body = ms.ToArray();
            string file = name[Prefix.Length..];
            assets[file] = new Asset(body, ContentType(file), $"\"{Convert.ToHexString(SHA256.HashData(body))[..16]}\"");
        }
        return assets;
    }

    static string ContentType(string file) => Path.GetExtension(file) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".svg" => "image/svg+xml",
        _ => "application/octet-stream",
    };
}
