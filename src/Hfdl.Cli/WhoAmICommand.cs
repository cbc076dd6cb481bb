using System.CommandLine;
using Hfdl.Hub;

namespace Hfdl.Cli;

internal static class WhoAmICommand
{
    public static Command Build(CliContext context)
    {
        var connection = new HubConnectionOptions();
        var command = new Command("whoami", "Show the account of the token hfdl would use (never the token itself).");
        connection.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            var options = connection.Resolve(result, context.Environment);
            if (options.Token is null)
            {
                context.Error.WriteLine("Not logged in: no token in --token, HF_TOKEN, HUGGING_FACE_HUB_TOKEN or the token file. Public repos still download.");
                return HfdlCommand.ExitFailure;
            }
            using var client = new HubClient(options);
            var me = await client.WhoAmIAsync(cancellationToken).ConfigureAwait(false);
            context.Out.WriteLine(me.Name);
            if (me.Orgs.Count > 0)
            {
                context.Out.WriteLine($"orgs: {string.Join(", ", me.Orgs.Select(o => o.Name))}");
            }
            context.Error.WriteLine($"(token from {options.Token.Describe()["the token ".Length..]})");
            return HfdlCommand.ExitOk;
        });
        return command;
    }
}
