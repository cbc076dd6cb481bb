using System.CommandLine;
using Hfdl.Core.Hub;

namespace Hfdl.Cli;

internal static class WhoAmICommand
{
    public static Command Build(CliContext context)
    {
        var connection = new HubConnectionOptions();
        var command = new Command("whoami", "Show the account and organisations of the token hfdl would use (never the token itself).");
        connection.AddTo(command);
        command.SetAction(async (result, cancellationToken) =>
        {
            HubConnectionOptions.RefuseWhenOffline(context.Environment, "`hfdl whoami` asks the Hub whose token it is", "");
            // As huggingface_hub's whoami: the stored token is asked about even with HF_HUB_DISABLE_IMPLICIT_TOKEN.
            var options = connection.Resolve(result, context.Environment, new RetryLines(context.Error), storedTokenEvenIfImplicitDisabled: true);
            if (options.Token is null)
            {
                context.Error.WriteLine($"Not logged in: no token in --token, HF_TOKEN, HUGGING_FACE_HUB_TOKEN or {context.Environment.TokenPath}. Log in with `hfdl login`; public repos download without a token.");
                return HfdlCommand.ExitFailure;
            }
            using var client = new HubClient(options);
            var me = await client.WhoAmIAsync(cancellationToken).ConfigureAwait(false);
            context.Out.WriteLine(SafeText.Printable(me.Name));
            var orgs = (me.Orgs ?? []).Select(o => o?.Name).OfType<string>().Select(SafeText.Printable).ToList();
            if (orgs.Count > 0)
            {
                context.Out.WriteLine($"orgs: {string.Join(", ", orgs)}");
            }
            var tokenName = me.Auth?.AccessToken is { DisplayName: { } name } access
                ? $" (named '{SafeText.Printable(name)}'{(access.Role is { } role ? $", {SafeText.Printable(role)}" : "")})"
                : "";
            context.Error.WriteLine($"Using {options.Token.Describe()}{tokenName} on {HubUrls.DisplayBase(options.Endpoint)}.");
            return HfdlCommand.ExitOk;
        });
        return command;
    }
}
