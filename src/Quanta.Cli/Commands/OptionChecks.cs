using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Numerics;

namespace Quanta.Cli.Commands;

/// <summary>
/// Numeric options parsed and range-checked by the command-line parser itself, so a bad value is reported as one
/// line naming the option before any work starts (no model is loaded, no port opened).
/// </summary>
internal static class OptionChecks
{
    /// <summary>Accepts only values for which <paramref name="ok"/> holds; <paramref name="rule"/> completes "--x must be ...".</summary>
    public static Option<T> Must<T>(this Option<T> o, Func<T, bool> ok, string rule) where T : struct, INumber<T>
    {
        o.CustomParser = r => Parse(r, o.Name, ok, rule);
        return o;
    }

    /// <inheritdoc cref="Must{T}(Option{T}, Func{T, bool}, string)"/>
    public static Option<T?> Must<T>(this Option<T?> o, Func<T, bool> ok, string rule) where T : struct, INumber<T>
    {
        o.CustomParser = r => Parse(r, o.Name, ok, rule);
        return o;
    }

    public static Option<T> AtLeast<T>(this Option<T> o, T min) where T : struct, INumber<T> => o.Must(v => v >= min, $"at least {Show(min)}");
    public static Option<T?> AtLeast<T>(this Option<T?> o, T min) where T : struct, INumber<T> => o.Must(v => v >= min, $"at least {Show(min)}");
    public static Option<T> InRange<T>(this Option<T> o, T min, T max) where T : struct, INumber<T> =>
        o.Must(v => v >= min && v <= max, $"in {Show(min)}..{Show(max)}");

    /// <summary>
    /// Gives every numeric option under <paramref name="command"/> that has no parser of its own one that reports
    /// "'abc' is not a number" instead of the .NET type it failed to convert to.
    /// </summary>
    public static void ParseAllNumbers(Command command)
    {
        foreach (var o in command.Options)
        {
            switch (o)
            {
                case Option<int> x when x.CustomParser is null: x.Must(_ => true, ""); break;
                case Option<int?> x when x.CustomParser is null: x.Must(_ => true, ""); break;
                case Option<long> x when x.CustomParser is null: x.Must(_ => true, ""); break;
                case Option<ulong> x when x.CustomParser is null: x.Must(_ => true, ""); break;
                case Option<ulong?> x when x.CustomParser is null: x.Must(_ => true, ""); break;
                case Option<float> x when x.CustomParser is null: x.Must(_ => true, ""); break;
                case Option<float?> x when x.CustomParser is null: x.Must(_ => true, ""); break;
                case Option<double> x when x.CustomParser is null: x.Must(_ => true, ""); break;
                case Option<double?> x when x.CustomParser is null: x.Must(_ => true, ""); break;
            }
        }
        foreach (var sub in command.Subcommands) ParseAllNumbers(sub);
    }

    static T Parse<T>(ArgumentResult r, string name, Func<T, bool> ok, string rule) where T : struct, INumber<T>
    {
        string text = r.Tokens.Count > 0 ? r.Tokens[^1].Value : "";
        bool integral = typeof(T) != typeof(float) && typeof(T) != typeof(double);
        var style = integral ? NumberStyles.Integer : NumberStyles.Float;
        if (!T.TryParse(text, style, CultureInfo.InvariantCulture, out var v) || !T.IsFinite(v))
        {
            r.AddError($"{name}: '{text}' is not {(!integral ? "a finite number" : typeof(T) == typeof(ulong) ? "a whole number >= 0" : "an integer")}");
            return default;
        }
        if (!ok(v)) r.AddError($"{name} must be {rule}, got {text}");
        return v;
    }

    static string Show<T>(T v) where T : INumber<T> => v.ToString(null, CultureInfo.InvariantCulture);
}
