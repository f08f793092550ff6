using System.CommandLine;
using Quanta.Cli;

var root = new RootCommand("Quanta: text-generation inference for quantized Llama-family models");
CliCommands.AddAll(root);
return await root.Parse(args).InvokeAsync();
