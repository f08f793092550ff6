using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Quanta.Templates;
using Quanta.Templates.Jinja;

namespace Quanta.Cli;

internal static partial class CliCommands
{
    static partial void AddTemplate(RootCommand root)
    {
        var template = new Command("template", "Chat-template tools");
        var render = new Command("render", "Render a chat template as transformers does; prints the text, or the template's error with exit 1");
        var file = new Option<string>("--template") { Description = "Jinja template file (or a tokenizer_config.json with chat_template)", Required = true };
        var messages = new Option<string>("--messages") { Description = "JSON file: a list of OpenAI messages (or an object with messages and tools)", Required = true };
        var tools = new Option<string?>("--tools") { Description = "JSON file: a list of tool schemas (the template's tools variable)" };
        var agp = new Option<bool>("--add-generation-prompt") { Description = "true | false (default true)", DefaultValueFactory = _ => true, Arity = ArgumentArity.ExactlyOne };
        var bos = new Option<string?>("--bos-token") { Description = "bos_token variable (not passed when absent)" };
        var eos = new Option<string?>("--eos-token") { Description = "eos_token variable (not passed when absent)" };
        var date = new Option<string?>("--date") { Description = "yyyy-MM-dd: fixes strftime_now (at 12:00:00) and date_string" };
        foreach (var o in new Option[] { file, messages, tools, agp, bos, eos, date }) render.Options.Add(o);
        render.SetAction((ParseResult pr, CancellationToken ct) => Commands.CommandGuard.Run(() =>
        {
            var source = Commands.TemplateFiles.ReadTemplate(pr.GetValue(file)!);
            var (msgs, toolsFromMessages) = Commands.TemplateFiles.ReadMessages(pr.GetValue(messages)!);
            JsonElement? toolList = pr.GetValue(tools) is { } t ? Commands.TemplateFiles.ReadJson(t, "--tools") : toolsFromMessages;
            var input = new ChatRenderInput
            {
                Messages = msgs,
                Tools = toolList is { ValueKind: JsonValueKind.Array } l && l.GetArrayLength() > 0 ? l : null,
                AddGenerationPrompt = pr.GetValue(agp),
                BosToken = pr.GetValue(bos),
                EosToken = pr.GetValue(eos),
            };
            if (pr.GetValue(date) is { } d)
            {
                if (!DateTime.TryParseExact(d, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
                    throw new ArgumentException($"--date must be yyyy-MM-dd, not '{d}'");
                input = input with { Now = day.AddHours(12), DateString = day.ToString("dd MMM yyyy", CultureInfo.InvariantCulture) };
            }
            try
            {
                string text = new ChatTemplateRenderer(source).Render(input);
                pr.InvocationConfiguration.Output.Write(text);
                pr.InvocationConfiguration.Output.Flush();
                return Task.FromResult(0);
            }
            catch (JinjaException e)
            {
                Console.Error.WriteLine($"error: {e.PyType}: {e.Message}");
                return Task.FromResult(1);
            }
        }));
        template.Subcommands.Add(render);
        root.Subcommands.Add(template);
    }
}
