using System.CommandLine;
using System.Text;
using Hfdl.Core.Hub;

namespace Hfdl.Cli;

/// <summary><c>hfdl login</c> and <c>hfdl logout</c>: the token file huggingface_hub also reads, written safely.</summary>
internal static class AuthCommands
{
    private const int MaxTokenInput = 64 * 1024;

    public static Command BuildLogin(CliContext context)
    {
        var token = new Option<string?>("--token")
        {
            Description = "The token to save. Prefer the prompt or --token-stdin: a command line is visible to other users of this machine.",
            HelpName = "TOKEN",
        };
        var fromStdin = new Option<bool>("--token-stdin")
        {
            Description = "Read the token from standard input (for scripts: `printenv MY_TOKEN | hfdl login --token-stdin`).",
        };
        var endpoint = HubConnectionOptions.EndpointOption();
        var command = new Command("login",
            "Save a Hub token after checking it with the Hub. Without options the token is read from the terminal without echo. " +
            "It goes to HF_TOKEN_PATH or $HF_HOME/token (mode 600), the file huggingface_hub uses, so both tools share one login.");
        command.Options.Add(token);
        command.Options.Add(fromStdin);
        command.Options.Add(endpoint);
        command.SetAction(async (result, cancellationToken) =>
        {
            var hub = HubConnectionOptions.ResolveEndpoint(result.GetValue(endpoint), context.Environment);
            var given = result.GetValue(token);
            string? raw;
            if (result.GetValue(fromStdin))
            {
                if (given is not null)
                {
                    throw new UsageException("Give the token either with --token or with --token-stdin, not both.");
                }
                raw = ReadBounded(context.In);
            }
            else if (given is not null)
            {
                raw = given;
            }
            else if (context.ReadSecret is { } readSecret)
            {
                context.Error.WriteLine($"Paste a token from {HubUrls.Base(hub)}/settings/tokens (a read token is enough to download).");
                raw = readSecret();
            }
            else
            {
                throw new UsageException("hfdl login reads the token from a terminal without echo, but standard input is not a terminal. Pipe the token in with --token-stdin, for example `printenv MY_TOKEN | hfdl login --token-stdin`.");
            }

            var clean = AccessToken.Clean(raw) ?? throw new UsageException("No token was given; nothing was saved.");
            var accessToken = new AccessToken(clean, TokenOrigin.Login);
            if (clean.StartsWith("api_org", StringComparison.Ordinal))
            {
                throw new UsageException("That is an organization token (api_org_...); log in with a personal user token, as huggingface_hub requires. Nothing was saved.");
            }

            WhoAmIInfo me;
            using (var client = new HubClient(new HubClientOptions { Endpoint = hub, Token = accessToken }))
            {
                try
                {
                    me = await client.WhoAmIAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (HubException ex) when (ex is InvalidTokenException || (int?)ex.StatusCode is 401 or 403)
                {
                    throw new HfdlException($"The Hub at {HubUrls.Base(hub)} rejected {accessToken.Describe()}: it is invalid, expired or revoked. Nothing was saved; create a token at {HubUrls.Base(hub)}/settings/tokens and run `hfdl login` again.", ex);
                }
            }

            var store = new TokenStore(context.Environment);
            var note = store.Save(accessToken, me.Auth?.AccessToken?.DisplayName);
            var tokenName = me.Auth?.AccessToken is { DisplayName: { } name } access
                ? $" (token '{SafeText.Printable(name)}'{(access.Role is { } role ? $", {SafeText.Printable(role)}" : "")})"
                : "";
            context.Error.WriteLine($"Logged in to {HubUrls.Base(hub)} as {SafeText.Printable(me.Name)}{tokenName}.");
            context.Error.WriteLine($"The token was saved to {store.TokenPath}, readable only by you; huggingface_hub reads the same file.");
            if (note is not null)
            {
                context.Error.WriteLine(note);
            }
            WarnAboutOverrides(context);
            return HfdlCommand.ExitOk;
        });
        return command;
    }

    public static Command BuildLogout(CliContext context)
    {
        var all = new Option<bool>("--all")
        {
            Description = "Also delete stored_tokens, every token huggingface_hub saved by name (what `hf auth logout` does).",
        };
        // No --endpoint: the token file is shared by every endpoint, as in huggingface_hub, so it would change nothing.
        var command = new Command("logout",
            "Delete the saved token (HF_TOKEN_PATH or $HF_HOME/token) and its entry in stored_tokens. Tokens set in HF_TOKEN stay in force.");
        command.Options.Add(all);
        command.SetAction(result =>
        {
            var store = new TokenStore(context.Environment);
            var removed = store.Remove(result.GetValue(all));
            if (removed.RemovedTokenFile)
            {
                context.Error.WriteLine($"Logged out: deleted {store.TokenPath}{(removed.RemovedStoredTokens > 0 ? $" and its entry in {store.StoredTokensPath}" : "")}.");
            }
            else
            {
                context.Error.WriteLine($"There was no saved token at {store.TokenPath}.");
            }
            if (removed.RemovedStoredTokensFile)
            {
                context.Error.WriteLine($"Deleted {store.StoredTokensPath}.");
            }
            if (context.Environment.Get("HF_TOKEN") is not null || context.Environment.Get("HUGGING_FACE_HUB_TOKEN") is not null)
            {
                var variable = context.Environment.Get("HF_TOKEN") is not null ? "HF_TOKEN" : "HUGGING_FACE_HUB_TOKEN";
                context.Error.WriteLine($"{variable} is still set in this environment, so hfdl still sends that token. Unset HF_TOKEN and HUGGING_FACE_HUB_TOKEN to log out completely.");
            }
            return HfdlCommand.ExitOk;
        });
        return command;
    }

    /// <summary>Notes when the token just saved is not the one hfdl will use.</summary>
    private static void WarnAboutOverrides(CliContext context)
    {
        if (context.Environment.Get("HF_TOKEN") is not null)
        {
            context.Error.WriteLine("Note: HF_TOKEN is set in this environment and takes precedence over the saved token.");
        }
        else if (context.Environment.Get("HUGGING_FACE_HUB_TOKEN") is not null)
        {
            context.Error.WriteLine("Note: HUGGING_FACE_HUB_TOKEN is set in this environment and takes precedence over the saved token.");
        }
        if (context.Environment.IsTrue("HF_HUB_DISABLE_IMPLICIT_TOKEN"))
        {
            context.Error.WriteLine("Note: HF_HUB_DISABLE_IMPLICIT_TOKEN is set, so hfdl uses only a token given with --token until you unset it.");
        }
    }

    private static string ReadBounded(TextReader reader)
    {
        var buffer = new char[MaxTokenInput + 1];
        var total = 0;
        int read;
        while (total < buffer.Length && (read = reader.Read(buffer, total, buffer.Length - total)) > 0)
        {
            total += read;
        }
        if (total > MaxTokenInput)
        {
            throw new UsageException("Standard input holds more than 64 KiB, which cannot be a token; nothing was saved.");
        }
        return new string(buffer, 0, total);
    }
}

/// <summary>Reads a secret from the console key by key, echoing nothing.</summary>
internal static class ConsoleSecret
{
    public static string Read(TextWriter prompt)
    {
        prompt.Write("Token (input is hidden): ");
        prompt.Flush();
        var secret = new StringBuilder();
        var treatControlC = Console.TreatControlCAsInput;
        Console.TreatControlCAsInput = true;
        try
        {
            while (true)
            {
                var key = Console.ReadKey(intercept: true);
                if (key.Key == ConsoleKey.Enter || key.KeyChar is '\r' or '\n')
                {
                    break;
                }
                if ((key.Modifiers & ConsoleModifiers.Control) != 0 && key.Key is ConsoleKey.C or ConsoleKey.D)
                {
                    prompt.WriteLine();
                    throw new HfdlException("Login cancelled; nothing was saved.");
                }
                if (key.Key == ConsoleKey.Backspace)
                {
                    if (secret.Length > 0)
                    {
                        secret.Length--;
                    }
                    continue;
                }
                if (key.KeyChar != '\0' && !char.IsControl(key.KeyChar))
                {
                    secret.Append(key.KeyChar);
                }
            }
        }
        finally
        {
            Console.TreatControlCAsInput = treatControlC;
        }
        prompt.WriteLine();
        return secret.ToString();
    }
}
