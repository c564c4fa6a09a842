using Iser.Cli;

return await CommandRouter.RunAsync(args).ConfigureAwait(false);
