using System.CommandLine;
using System.Text;
using Hfdl.Core.Hub;

namespace Hfdl.Cli;

/// <summary>
/// <c>hfdl login</c>, <c>hfdl logout</c> and <c>hfdl auth ...</c> (the same, plus <c>list</c> and <c>switch</c>, as
/// <c>hf auth</c> has them): the token file and <c>stored_tokens</c> huggingface_hub also reads, written safely.
/// </summary>
internal static class AuthCommands
{
    private const int MaxTokenInput = 64 * 1024;

    /// <summary><c>hfdl auth</c>: hf's command group, over the same files.</summary>
    public static Command BuildAuth(CliContext context)
    {
        var command = new Command("auth",
            "Manage Hub tokens as `hf auth` does: login, logout and whoami (the same as the top-level commands), and list or switch between the tokens saved by name in stored_tokens.");
        command.Subcommands.Add(BuildLogin(context));
        command.Subcommands.Add(BuildLogout(context));
        command.Subcommands.Add(WhoAmICommand.Build(context));
        command.Subcommands.Add(BuildList(context));
        command.Subcommands.Add(BuildSwitch(context));
        return command;
    }

    /// <summary><c>hfdl auth list</c>: the names and masked tokens of stored_tokens, the one in use marked, as hf prints them.</summary>
    private static Command BuildList(CliContext context)
    {
        var command = new Command("list",
            "List the tokens saved by name in stored_tokens (beside the token file), masked as `hf auth list` shows them (hf_****abcd); * marks the one in use. Never prints a token.");
        command.Aliases.Add("ls");
        command.SetAction(_ =>
        {
            var store = new TokenStore(context.Environment);
            var tokens = store.ListStoredTokens(AccessToken.Discover(null, context.Environment));
            if (tokens.Count == 0)
            {
                context.Error.WriteLine($"No tokens are saved by name in {store.StoredTokensPath}. `hfdl login` saves one.");
                return HfdlCommand.ExitOk;
            }
            var names = tokens.Select(t => SafeText.Printable(t.Name)).ToList();
            var width = Math.Max("token".Length, names.Max(n => n.Length)) + 2;
            context.Out.WriteLine($"  {"name".PadRight(width)}| token");
            context.Out.WriteLine($"{new string('-', width + 2)}|{new string('-', 15)}");
            for (var i = 0; i < tokens.Count; i++)
            {
                context.Out.WriteLine($"{(tokens[i].IsActive ? '*' : ' ')} {names[i].PadRight(width)}| {tokens[i].Masked}");
            }
            if (context.Environment.Get("HF_TOKEN") is not null || context.Environment.Get("HUGGING_FACE_HUB_TOKEN") is not null)
            {
                context.Error.WriteLine("Note: a token variable (HF_TOKEN or HUGGING_FACE_HUB_TOKEN) is set in this environment; it is the token in use, whatever the list says.");
            }
            else if (!tokens.Any(t => t.IsActive))
            {
                context.Error.WriteLine($"Note: none of these is the active token in {store.TokenPath}. `hfdl auth switch NAME` makes one active.");
            }
            return HfdlCommand.ExitOk;
        });
        return command;
    }

    /// <summary><c>hfdl auth switch NAME</c>: the named token of stored_tokens becomes the active one.</summary>
    private static Command BuildSwitch(CliContext context)
    {
        var name = new Argument<string?>("NAME")
        {
            Description = "The token's name, as `hfdl auth list` shows it (at a terminal, hfdl asks when it is left out).",
            Arity = ArgumentArity.ZeroOrOne,
        };
        var tokenName = new Option<string?>("--token-name")
        {
            Description = "The same name, given the way `hf auth switch --token-name` takes it.",
            HelpName = "NAME",
        };
        var command = new Command("switch",
            "Make a token saved by name in stored_tokens the active one: it is written to the token file (HF_TOKEN_PATH or $HF_HOME/token, mode 600) that hfdl and huggingface_hub use.");
        command.Arguments.Add(name);
        command.Options.Add(tokenName);
        command.Options.Add(GitCredentialOption());
        command.SetAction(result =>
        {
            var store = new TokenStore(context.Environment);
            var chosen = result.GetValue(name);
            if (result.GetValue(tokenName) is { } named)
            {
                if (chosen is not null && chosen != named)
                {
                    throw new UsageException("Give the token's name once: as NAME or with --token-name.");
                }
                chosen = named;
            }
            chosen ??= AskForName(context, store);
            if (chosen is null)
            {
                context.Error.WriteLine("No token was chosen; nothing was changed.");
                return HfdlCommand.ExitOk;
            }
            store.Switch(chosen);
            context.Error.WriteLine($"The active token is now '{SafeText.Printable(chosen)}', written to {store.TokenPath}, which hfdl and huggingface_hub use.");
            WarnAboutOverrides(context);
            return HfdlCommand.ExitOk;
        });
        return command;
    }

    /// <summary>At a terminal, a numbered list to pick from (as <c>hf auth switch</c> offers); elsewhere an error naming the choices.</summary>
    private static string? AskForName(CliContext context, TokenStore store)
    {
        var names = store.ListStoredTokens(null).Select(t => t.Name).ToList();
        if (names.Count == 0)
        {
            throw new HfdlException($"No tokens are saved by name in {store.StoredTokensPath}; `hfdl login` saves one.");
        }
        if (context.Prompt is not { } prompt)
        {
            throw new UsageException($"Name the token to switch to: `hfdl auth switch NAME`. Saved: {string.Join(", ", names.Select(SafeText.Printable))}.");
        }
        for (var i = 0; i < names.Count; i++)
        {
            context.Error.WriteLine($"{i + 1}. {SafeText.Printable(names[i])}");
        }
        var answer = prompt("Number of the token to switch to (q to quit): ")?.Trim();
        if (answer is null or "q" or "Q" or "")
        {
            return null;
        }
        if (!int.TryParse(answer, System.Globalization.CultureInfo.InvariantCulture, out var number) || number < 1 || number > names.Count)
        {
            throw new UsageException($"'{SafeText.Printable(answer)}' is not a number from 1 to {names.Count}; nothing was changed.");
        }
        return names[number - 1];
    }

    /// <summary>hf's <c>--add-to-git-credential</c>: refused, since hfdl never touches git's credentials.</summary>
    private static Option<bool> GitCredentialOption() => new("--add-to-git-credential")
    {
        Hidden = true,
        Validators =
        {
            result =>
            {
                if (!result.Implicit)
                {
                    result.AddError("hfdl does not save tokens to git's credential helper: it downloads over HTTPS with the token itself. Leave out --add-to-git-credential (`hf auth login --add-to-git-credential` does that for git).");
                }
            },
        },
    };

    public static Command BuildLogin(CliContext context)
    {
        var token = new Option<string?>("--token")
        {
            Description = "The token to save. Prefer the prompt or --token-stdin: a command line is visible to other users of this machine.",
            HelpName = "TOKEN",
        }.NotEmpty("a token");
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
        command.Options.Add(GitCredentialOption());
        command.SetAction(async (result, cancellationToken) =>
        {
            HubConnectionOptions.RefuseWhenOffline(context.Environment, "`hfdl login` checks the token with the Hub before it saves it", "; nothing was saved");
            var hub = HubConnectionOptions.ResolveEndpoint(result.GetValue(endpoint), context.Environment);
            // Before the token is asked for: a token file that cannot be written must not cost a paste and a check.
            var store = new TokenStore(context.Environment);
            store.CheckDestinations();
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
                context.Error.WriteLine($"Paste a token from {HubUrls.DisplayBase(hub)}/settings/tokens (a read token is enough to download).");
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
                    throw new HfdlException($"The Hub at {HubUrls.DisplayBase(hub)} rejected {accessToken.Describe()}: it is invalid, expired or revoked. Nothing was saved; create a token at {HubUrls.DisplayBase(hub)}/settings/tokens and run `hfdl login` again.", ex);
                }
            }

            var note = store.Save(accessToken, me.Auth?.AccessToken?.DisplayName);
            var tokenName = me.Auth?.AccessToken is { DisplayName: { } name } access
                ? $" (token '{SafeText.Printable(name)}'{(access.Role is { } role ? $", {SafeText.Printable(role)}" : "")})"
                : "";
            context.Error.WriteLine($"Logged in to {HubUrls.DisplayBase(hub)} as {SafeText.Printable(me.Name)}{tokenName}.");
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
        var tokenName = new Option<string?>("--token-name")
        {
            Description = "Log out of this one token saved by name in stored_tokens, as `hf auth logout --token-name` does: its entry goes, and the token file too when it holds that token.",
            HelpName = "NAME",
        };
        // No --endpoint: the token file is shared by every endpoint, as in huggingface_hub, so it would change nothing.
        var command = new Command("logout",
            "Delete the saved token (HF_TOKEN_PATH or $HF_HOME/token) and its entry in stored_tokens. Tokens set in HF_TOKEN stay in force.");
        command.Options.Add(all);
        command.Options.Add(tokenName);
        command.SetAction(result =>
        {
            var store = new TokenStore(context.Environment);
            // A token path that cannot be the token file (HF_TOKEN_PATH naming a folder) is refused, as by login and
            // whoami: "no saved token there" would pass a wrong setting for a logout that happened.
            store.CheckTokenPath();
            if (result.GetValue(tokenName) is { } named)
            {
                if (result.GetValue(all))
                {
                    throw new UsageException("--all logs out of every token and --token-name of one; give one of them.");
                }
                var outcome = store.RemoveNamed(named);
                if (!outcome.Found)
                {
                    // A failure, as `hf auth logout --token-name` and `hfdl auth switch` make it: a script that logged
                    // out of a misspelt name must not go on as if the token were gone.
                    throw new HfdlException($"There is no token named '{SafeText.Printable(named)}' in {store.StoredTokensPath}; nothing was changed. `hfdl auth list` shows the names.");
                }
                context.Error.WriteLine(outcome.RemovedTokenFile
                        ? $"Logged out of '{SafeText.Printable(named)}': deleted its entry in {store.StoredTokensPath} and {store.TokenPath}, which held it."
                        : $"Deleted the token '{SafeText.Printable(named)}' from {store.StoredTokensPath}; the active token in {store.TokenPath} is another one and stays.");
                WarnAboutVariables(context);
                return HfdlCommand.ExitOk;
            }
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
            if (removed.StoredTokensUnreadable)
            {
                // Said, not silent: the file may still hold the token just logged out of.
                context.Error.WriteLine($"Note: {store.LeftUnchanged}, so it may still hold {(removed.RemovedTokenFile ? "that" : "a")} token. Fix or remove it; `hfdl logout --all` deletes it.");
            }
            WarnAboutVariables(context);
            return HfdlCommand.ExitOk;
        });
        return command;
    }

    /// <summary>After a logout: a token variable still in the environment keeps hfdl logged in.</summary>
    private static void WarnAboutVariables(CliContext context)
    {
        if (context.Environment.Get("HF_TOKEN") is not null || context.Environment.Get("HUGGING_FACE_HUB_TOKEN") is not null)
        {
            var variable = context.Environment.Get("HF_TOKEN") is not null ? "HF_TOKEN" : "HUGGING_FACE_HUB_TOKEN";
            context.Error.WriteLine($"{variable} is still set in this environment, so hfdl still sends that token. Unset HF_TOKEN and HUGGING_FACE_HUB_TOKEN to log out completely.");
        }
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
