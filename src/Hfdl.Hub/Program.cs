return await Hfdl.Hub.Server.StandaloneHub.RunAsync(args, Console.Out, Console.Error, CancellationToken.None).ConfigureAwait(false);
