using Quanta.Cli;

return await CliCommands.InvokeAsync(args);
