using System.CommandLine;
using System.Reflection;
using System.CommandLine.Parsing;
using Hfdl.Core.Hub;
using Hfdl.Core.Progress;
using Hfdl.Core.Storage;
using Hfdl.Core.Transfer;

namespace Hfdl.Cli;

/// <summary>The <c>hfdl</c> command line: parsing and rendering only; the work is done by Hfdl.Core.</summary>
internal static class HfdlCommand
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitUsage = 2;
    /// <summary>Ctrl+C (SIGINT): 128 + 2.</summary>
    public const int ExitInterrupted = 130;

    /// <summary>SIGTERM (docker stop, timeout, systemd): 128 + 15.</summary>
    public const int ExitTerminated = 143;

    /// <summary>SIGHUP (the terminal went away): 128 + 1.</summary>
    public const int ExitHangUp = 129;

    private static readonly string[] SubcommandNames = ["download", "ls", "whoami", "cache", "completion", "login", "logout", "auth", "serve"];

    /// <summary>Runs hfdl with <paramref name="args"/>; returns the process exit code.</summary>
    /// <param name="stopped">What cancelled <paramref name="cancellationToken"/>, and the exit code that says so (Ctrl+C when not given).</param>
    /// <param name="args">The command line.</param>
    /// <param name="context">Where output goes, the environment.</param>
    /// <param name="cancellationToken">Cancelled by the first stop signal.</param>
    /// <param name="stopped">Which signal stopped the run.</param>
    /// <param name="onForcedExit">Receives how to say, as this run's last words, that the process is ended at once.</param>
    public static async Task<int> RunAsync(string[] args, CliContext context, CancellationToken cancellationToken, Func<(string Reason, int ExitCode)>? stopped = null, Action<Action<string, int>>? onForcedExit = null)
    {
        // Whatever is printed, a name or a message from a server included, reaches the terminal escaped.
        context = context with { Out = Output.TerminalText.Wrap(context.Out), Error = Output.TerminalText.Wrap(context.Error) };
        if (SuggestPosition(args) is { } position)
        {
            return Suggest(context, args[1], position);
        }
        args = RewritePatternLists(RewriteShortForm(args));
        // System.CommandLine reads `--local-dir=` (nothing after the '=') as `--local-dir` and takes the next word as its
        // value: `--local-dir= --dry-run` downloaded into a folder named --dry-run (QA). Before "--", that is refused.
        if (args.TakeWhile(a => a != "--").FirstOrDefault(a => a.Length > 3 && a.StartsWith("--", StringComparison.Ordinal) && a.EndsWith('=') && a.IndexOf('=') == a.Length - 1) is { } empty)
        {
            return UsageError(context, args, [$"{empty[..^1]} has an empty value after '='. Give it a value (or leave the option out)."], usage: null);
        }
        var root = Build(context);
        var parseResult = root.Parse(args);
        // A --force run forced to exit starts over when run again as is: the advice names the command that continues it.
        // One that writes nothing (ls, a dry run, a verification) has nothing to continue: no advice.
        onForcedExit?.Invoke((message, code) => Fail(context, parseResult,
            !WritesFiles(parseResult) ? message.Replace(" " + Interruption.ContinueAdvice, "", StringComparison.Ordinal)
            : IsForced(parseResult) ? message.Replace(Interruption.ContinueAdvice, ForcedContinueAdvice, StringComparison.Ordinal)
            : message, code, prefix: ""));
        if (parseResult.Errors.Count > 0)
        {
            return UsageError(context, args, [.. parseResult.Errors.Select(e => OneLine(e.Message))], $"Run '{HelpWriter.CommandPath(parseResult.CommandResult.Command)} --help' for usage.");
        }
        if (OptionTakenAsArgument(parseResult) is { } unknown)
        {
            return UsageError(context, args, [$"'{unknown}' is not an option of this command. To name a file that starts with '-', put it after --."],
                $"Run '{HelpWriter.CommandPath(parseResult.CommandResult.Command)} --help' for usage.");
        }
        try
        {
            return await parseResult.InvokeAsync(new InvocationConfiguration
            {
                Output = context.Out,
                Error = context.Error,
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = null,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            var (reason, code) = stopped?.Invoke() ?? ("Interrupted", ExitInterrupted);
            // The same --force command starts over: what continues is the command without it. One that writes nothing
            // (ls, a dry run, a verification) has nothing to continue or keep.
            return Fail(context, parseResult, !WritesFiles(parseResult) ? $"{reason}."
                : IsForced(parseResult) ? $"{reason}. {ForcedContinueAdvice}"
                : $"{reason}. Run the same command again to continue; verified files are kept.", code, prefix: "");
        }
        catch (HfdlException ex)
        {
            var repo = parseResult.CommandResult.Children.OfType<ArgumentResult>().FirstOrDefault(a => a.Argument.Name == "REPO")?.Tokens.FirstOrDefault()?.Value;
            // A hint that names a command (`hfdl ls REPO`) names the same repo: its type and revision too.
            string? Given(string name) => parseResult.CommandResult.Children.OfType<OptionResult>().FirstOrDefault(o => o.Option.Name == name)?.Tokens.FirstOrDefault()?.Value;
            if (repo is not null && RepoReference.TryParse(repo, out var reference, out _) && reference.PathInRepo is not null)
            {
                // A URL into a file or folder would list just the name that was not found: the hint names the repo.
                var type = reference.Type?.Name() ?? Given("--repo-type");
                repo = reference.Id + (type is null or "model" ? "" : $" -r {type}") + ((reference.Revision ?? Given("--revision")) is { } revision ? $" --revision {revision}" : "");
            }
            else if (repo is not null)
            {
                repo += (Given("--repo-type") is { } type ? $" -r {type}" : "") + (Given("--revision") is { } revision ? $" --revision {revision}" : "");
            }
            return Fail(context, parseResult, CliErrors.Describe(ex, repo, Given("--token") is null && ImplicitTokenWithheld(context)), CliErrors.ExitCode(ex));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Fail(context, parseResult, CliErrors.DescribeFileSystem(ex), ExitFailure);
        }
        catch (Exception ex)
        {
            var code = Fail(context, parseResult, $"unexpected {ex.GetType().Name}: {ex.Message} This is a bug in hfdl; please report it with the command you ran.", ExitFailure);
            if (context.Environment.IsTrue("HFDL_DEBUG"))
            {
                context.Error.WriteLine(ex.ToString());
            }
            return code;
        }
    }

    /// <summary>
    /// A token is saved (or in HF_TOKEN) but <c>HF_HUB_DISABLE_IMPLICIT_TOKEN</c> keeps it from being sent: an access
    /// error must then say so, not advise a login the user has done.
    /// </summary>
    private static bool ImplicitTokenWithheld(CliContext context)
    {
        if (!context.Environment.IsTrue("HF_HUB_DISABLE_IMPLICIT_TOKEN"))
        {
            return false;
        }
        try
        {
            return AccessToken.Discover(null, context.Environment, evenIfImplicitDisabled: true) is not null;
        }
        catch (HfdlException)
        {
            return false; // an unreadable token file: not a token that was withheld
        }
    }

    /// <summary>
    /// System.CommandLine lists the allowed values on lines of their own, indented with tabs, which the escaping of
    /// terminal output would show as <c>\x09</c>: "Must be one of: 'bash', 'zsh'." reads better on one line.
    /// </summary>
    internal static string OneLine(string message)
    {
        var lines = message.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return lines.Length <= 1 ? message.Trim() : $"{lines[0]} {string.Join(", ", lines[1..])}.";
    }

    /// <summary>
    /// A word that looks like an option but that a command's list argument (FILES) swallowed: System.CommandLine gives
    /// unmatched words to such an argument, so a mistyped <c>--plian</c> would otherwise become a file that does not
    /// exist, after a trip to the Hub. Words after <c>--</c> are arguments, whatever they look like.
    /// </summary>
    private static string? OptionTakenAsArgument(ParseResult parseResult)
    {
        // Only list arguments swallow unmatched words; a single REPO that starts with '-' gets the repo id's own error.
        var positional = new HashSet<Token>(
            parseResult.CommandResult.Children.OfType<ArgumentResult>().Where(a => a.Argument.Arity.MaximumNumberOfValues > 1).SelectMany(a => a.Tokens),
            ReferenceEqualityComparer.Instance);
        foreach (var token in parseResult.Tokens)
        {
            if (token.Type == TokenType.DoubleDash)
            {
                return null;
            }
            if (token.Value.Length > 1 && token.Value[0] == '-' && positional.Contains(token))
            {
                return token.Value;
            }
        }
        return null;
    }

    /// <summary>
    /// A command line hfdl cannot run (exit 2), found before the command starts: each error on stderr, then how to get
    /// help; and when the command line asks for --json, one fatal <c>error</c> event that says it all, as every other
    /// way a --json run stops ends. The words are read as given: a command line that does not parse has no values to ask.
    /// </summary>
    private static int UsageError(CliContext context, string[] args, string[] errors, string? usage)
    {
        try
        {
            foreach (var error in errors)
            {
                context.Error.WriteLine($"error: {error}");
            }
            if (usage is not null)
            {
                context.Error.WriteLine(usage);
            }
            if (args.Length > 0 && args[0] is "download" or "ls" && args.Skip(1).TakeWhile(a => a != "--").Contains("--json"))
            {
                new Output.JsonEvents(context.Out).Error(string.Join(" ", usage is null ? errors : [.. errors, usage]), ExitUsage);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // Nobody is reading (a closed stream): the exit code still tells.
        }
        return ExitUsage;
    }

    /// <summary>Reports a run that stopped: a paragraph on stderr, and with --json an <c>error</c> event on stdout.</summary>
    private static int Fail(CliContext context, ParseResult parseResult, string message, int exitCode, string prefix = "error: ")
    {
        try
        {
            context.Error.WriteLine(prefix + message);
            if (parseResult.CommandResult.Command.Options.Any(o => o.Name == "--json") && parseResult.GetValue<bool>("--json"))
            {
                new Output.JsonEvents(context.Out).Error(message, exitCode);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ObjectDisposedException)
        {
            // Nobody is reading any more (after SIGHUP the terminal is gone; .NET reports a descriptor it cannot write
            // as access denied): the exit code still tells.
        }
        return exitCode;
    }

    /// <summary>What continues an interrupted --force run: the same command starts over.</summary>
    private const string ForcedContinueAdvice = "Run the same command without --force to keep the files verified on disk and resume the rest; with --force it starts over.";

    private static bool IsForced(ParseResult parseResult) =>
        parseResult.CommandResult.Children.OfType<OptionResult>().Any(o => o.Option.Name == "--force" && !o.Implicit);

    /// <summary>
    /// A download that writes files (what its journal records is continued by the same command): not a dry run, nor
    /// a verification without --fix-broken, nor any other command.
    /// </summary>
    private static bool WritesFiles(ParseResult parseResult)
    {
        bool Given(string name) => parseResult.CommandResult.Children.OfType<OptionResult>()
            .FirstOrDefault(o => o.Option.Name == name) is { Implicit: false } given && given.GetValueOrDefault<bool>();
        return parseResult.CommandResult.Command.Name == "download" && !Given("--dry-run") && (!Given("--verify") || Given("--fix-broken"));
    }

    /// <summary>
    /// The seed's short form <c>hfdl REPO [options]</c> means <c>hfdl download REPO [options]</c>. Anything that is
    /// not a subcommand, help, version or a directive is taken as that form.
    /// </summary>
    internal static string[] RewriteShortForm(string[] args) => args.Length > 0 && IsShortForm(args[0]) ? ["download", .. args] : args;

    private static bool IsShortForm(string first) =>
        !(SubcommandNames.Contains(first) || first is "-h" or "--help" or "-?" or "--version" || first.StartsWith('['));

    /// <summary>Names completion does not offer: hidden aliases hfdl accepts for old scripts (the dashed name is offered).</summary>
    private static readonly HashSet<string> UnlistedNames = ["--repo_type"];

    /// <summary>The cursor position of <c>hfdl "[suggest:N]" "LINE"</c>, the form the completion scripts use; else null.</summary>
    private static int? SuggestPosition(string[] args) =>
        args is [var directive, _] && directive.StartsWith("[suggest:", StringComparison.Ordinal) && directive.EndsWith(']')
            && int.TryParse(directive.AsSpan(9, directive.Length - 10), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var position)
            ? position : null;

    /// <summary>
    /// Completion candidates for the cursor at <paramref name="position"/> in <paramref name="line"/>, one a line.
    /// System.CommandLine's own [suggest] parses LINE without the short form: after <c>hfdl REPO</c> it offered the
    /// root's options and the subcommands instead of download's (QA: helper-49). So the line is read as the command
    /// would read it: <c>download</c> goes in before a REPO the cursor has left behind.
    /// </summary>
    private static int Suggest(CliContext context, string line, int position)
    {
        position = Math.Clamp(position, 0, line.Length);
        var start = 0;
        while (start < line.Length && char.IsWhiteSpace(line[start]))
        {
            start++;
        }
        while (start < line.Length && !char.IsWhiteSpace(line[start]))
        {
            start++; // the program's own name
        }
        while (start < line.Length && char.IsWhiteSpace(line[start]))
        {
            start++;
        }
        var end = start;
        while (end < line.Length && !char.IsWhiteSpace(line[end]))
        {
            end++;
        }
        // Only a word the cursor has left: the first word being typed completes as a subcommand.
        if (end > start && end < position && IsShortForm(line[start..end].Trim('"', '\'')))
        {
            line = line[..start] + "download " + line[start..];
            position += "download ".Length;
        }
        var candidates = Build(context).Parse(line).GetCompletions(position).Select(c => c.Label).Where(l => !UnlistedNames.Contains(l));
        context.Out.WriteLine(string.Join(Environment.NewLine, candidates));
        return ExitOk;
    }

    /// <summary>
    /// huggingface-cli took several patterns after one flag (<c>--include '*.json' '*.txt'</c>, argparse's
    /// <c>nargs="*"</c>); <c>hf download</c> takes one per flag and reads the next word as a file name. hfdl takes a word
    /// that follows a pattern as one more pattern only when it has <c>*</c> or <c>?</c>, which a file name hardly ever
    /// has (and as a file name <c>hf download</c> would fail on it); any other word stays a FILE, as hf reads it.
    /// </summary>
    internal static string[] RewritePatternLists(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("download" or "ls"))
        {
            return args;
        }
        var result = new List<string>(args.Length);
        string? openFlag = null;
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg == "--")
            {
                result.AddRange(args[i..]);
                break;
            }
            if (openFlag is not null && !arg.StartsWith('-') && arg.IndexOfAny(['*', '?']) >= 0)
            {
                result.Add(openFlag);
                result.Add(arg);
                continue;
            }
            openFlag = null;
            result.Add(arg);
            if (arg is "--include" or "--exclude" && i + 1 < args.Length)
            {
                result.Add(args[++i]);
                openFlag = arg;
            }
            else if (arg.StartsWith("--include=", StringComparison.Ordinal) || arg.StartsWith("--exclude=", StringComparison.Ordinal))
            {
                openFlag = arg[..arg.IndexOf('=', StringComparison.Ordinal)];
            }
        }
        return [.. result];
    }

    internal static RootCommand Build(CliContext context)
    {
        var root = new RootCommand("hfdl: a fast, verified downloader for Hugging Face Hub models, datasets and spaces.\n\n" +
            "Examples:\n" +
            "  hfdl openai-community/gpt2                       download a model into ./downloads/openai-community/gpt2\n" +
            "  hfdl download -r dataset org/data --revision v1  a dataset at a tag\n" +
            "  hfdl download org/model config.json onnx/        one file and one folder\n" +
            "  hfdl ls org/model                                list the files of a revision\n" +
            "  hfdl cache prune --dry-run                       what cleaning the Hugging Face cache would free\n" +
            "  hfdl serve                                       a mirror of the Hub for a site (HF_ENDPOINT=http://127.0.0.1:8080)\n\n" +
            "Run 'hfdl COMMAND --help' for the options of a command, 'hfdl completion --help' for shell completion.");
        root.Subcommands.Add(DownloadCommand.Build(context));
        root.Subcommands.Add(ListCommand.Build(context));
        root.Subcommands.Add(WhoAmICommand.Build(context));
        root.Subcommands.Add(CacheCommand.Build(context));
        root.Subcommands.Add(ServeCommand.Build(context));
        root.Subcommands.Add(AuthCommands.BuildLogin(context));
        root.Subcommands.Add(AuthCommands.BuildLogout(context));
        root.Subcommands.Add(AuthCommands.BuildAuth(context));
        root.Subcommands.Add(CompletionCommand.Build(context));
        HelpWriter.Install(root, () => HelpWidth(context));
        foreach (var option in root.Options.OfType<VersionOption>())
        {
            option.Action = new VersionAction();
            option.Description = "Show hfdl's version.";
        }
        return root;
    }

    /// <summary>hfdl's version: the package version and, in builds from a git checkout, the commit.</summary>
    public static string Version
    {
        get
        {
            var informational = typeof(HfdlCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
            var plus = informational.IndexOf('+', StringComparison.Ordinal);
            return plus < 0 ? informational : $"{informational[..plus]} (commit {informational[(plus + 1)..][..Math.Min(12, informational.Length - plus - 1)]})";
        }
    }

    private sealed class VersionAction : System.CommandLine.Invocation.SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parseResult)
        {
            (parseResult.InvocationConfiguration.Output ?? Console.Out).WriteLine($"hfdl {Version}");
            return ExitOk;
        }
    }

    private static int HelpWidth(CliContext context)
    {
        if (!context.OutIsTerminal)
        {
            return 100;
        }
        try
        {
            return Console.WindowWidth > 0 ? Console.WindowWidth : 100;
        }
        catch (IOException)
        {
            return 100;
        }
    }
}

/// <summary>Options every command that talks to the Hub shares.</summary>
internal sealed class HubConnectionOptions
{
    public Option<string?> Token { get; } = new Option<string?>("--token")
    {
        Description = "Hub access token (default: HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then the token file at HF_TOKEN_PATH or $HF_HOME/token). Prefer HF_TOKEN or `hfdl login`: a token on the command line is visible to other users of this machine.",
        HelpName = "TOKEN",
    }.NotEmpty("a token");

    public Option<string?> Endpoint { get; } = EndpointOption();

    public static Option<string?> EndpointOption() => new("--endpoint")
    {
        Description = "Hub URL (default: HF_ENDPOINT, else https://huggingface.co).",
        HelpName = "URL",
    };

    /// <summary>The endpoint <see cref="ResolveEndpoint"/> gives, or null when it is not a valid one (for reading REPO, where the error comes later if the Hub is needed).</summary>
    public static Uri? EndpointOrNull(string? given, HubEnvironment environment)
    {
        try
        {
            return ResolveEndpoint(given, environment);
        }
        catch (UsageException)
        {
            return null;
        }
    }

    /// <summary><c>--endpoint</c>, else <c>HF_ENDPOINT</c>, else https://huggingface.co; must be an http(s) URL.</summary>
    public static Uri ResolveEndpoint(string? given, HubEnvironment environment)
    {
        var endpointText = (given ?? environment.Endpoint).TrimEnd('/');
        if (!Uri.TryCreate(endpointText, UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("http" or "https"))
        {
            throw new UsageException($"The endpoint '{HubUrls.DisplayText(endpointText)}' is not an http(s) URL. Give one such as https://huggingface.co with --endpoint or HF_ENDPOINT.");
        }
        return endpoint;
    }

    /// <summary>
    /// HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) promises no network call at all, and huggingface_hub raises
    /// OfflineModeIsEnabled for any request then. A command that cannot work without the Hub refuses before it reads a
    /// token or touches a file; <paramref name="needsTheHub"/> says why it needs it, <paramref name="nextStep"/> what to do instead.
    /// </summary>
    public static void RefuseWhenOffline(HubEnvironment environment, string needsTheHub, string nextStep)
    {
        var variables = environment.OfflineVariables;
        if (variables.Count == 0)
        {
            return;
        }
        var names = string.Join(" and ", variables);
        throw new UsageException($"{names} {(variables.Count == 1 ? "is" : "are")} set, so hfdl makes no network call, but {needsTheHub}. Unset {names} to run it{nextStep}.");
    }

    public void AddTo(Command command)
    {
        command.Options.Add(Token);
        command.Options.Add(Endpoint);
    }

    public void Group(string group)
    {
        Token.Group(group);
        Endpoint.Group(group);
    }

    /// <summary>The Hub settings of a command; <paramref name="retries"/> hears of each retried metadata call.</summary>
    /// <param name="storedTokenEvenIfImplicitDisabled">Use the stored token despite <c>HF_HUB_DISABLE_IMPLICIT_TOKEN</c> (whoami, as huggingface_hub's).</param>
    public HubClientOptions Resolve(ParseResult result, HubEnvironment environment, IProgress<RequestRetrying>? retries, bool storedTokenEvenIfImplicitDisabled = false)
    {
        var endpoint = ResolveEndpoint(result.GetValue(Endpoint), environment);
        var explicitToken = result.GetValue(Token);
        var token = AccessToken.Discover(explicitToken, environment, storedTokenEvenIfImplicitDisabled);
        var options = new HubClientOptions
        {
            Endpoint = endpoint,
            Token = token,
            // A token given on the command line cannot change; one from a variable or the file may have been renewed.
            ReloadToken = explicitToken is null ? () => AccessToken.Discover(null, environment, storedTokenEvenIfImplicitDisabled) : null,
            Retries = retries,
        };
        return environment.Apply(options);
    }
}

internal static class RepoOptions
{
    public static Option<string?> RepoTypeOption()
    {
        var option = new Option<string?>("--repo-type", "-r", "--repo_type", "--type")
        {
            Description = "model, dataset or space (default: model, or what a URL or a datasets/ or spaces/ prefix says). --type is hf's newer name for it.",
            HelpName = "TYPE",
        };
        option.CompletionSources.Add("model", "dataset", "space");
        return option;
    }

    public static Option<string?> RevisionOption() => new("--revision")
    {
        Description = "Branch, tag, commit id or refs/pr/N (default: main, or what a URL says).",
        HelpName = "REV",
    };

    /// <summary>
    /// The file or folder a Hub URL given as REPO points into (<c>.../blob/main/config.json</c>, <c>.../tree/main/onnx</c>),
    /// as FILES would name it; null for a plain id or a URL of the repo itself.
    /// </summary>
    public static string? PathInRepo(string repoText, Uri? endpoint) => RepoReference.TryParse(repoText, endpoint, out var reference, out _) ? reference.PathInRepo : null;

    /// <summary>
    /// FILES, or the file or folder a Hub URL given as REPO points into (a pasted link to one file must not fetch the
    /// whole repo), for download and ls alike: the path is a name, never a pattern. Both at once would be ambiguous, and
    /// patterns on top would silently narrow or empty what the URL names.
    /// </summary>
    public static string[] Selection(string repoText, Uri? endpoint, string[] files, bool patterns)
    {
        if (PathInRepo(repoText, endpoint) is not { } path)
        {
            return files;
        }
        if (files.Length > 0)
        {
            throw new UsageException($"'{repoText}' points at '{path}' in the repo, and FILES name more: give the repo's URL (or its id) with FILES, or the file's URL alone.");
        }
        if (patterns)
        {
            throw new UsageException($"'{repoText}' points at '{path}' in the repo, and --include/--exclude name more: give the repo's URL (or its id) with patterns, or the URL alone.");
        }
        return [path];
    }

    /// <summary>
    /// Combines the REPO argument with --repo-type; a URL's own type wins unless they conflict. <paramref name="endpoint"/>
    /// (when known) lets a URL of an endpoint with a path of its own (<c>https://host/hf/org/name</c>) be read.
    /// </summary>
    public static (RepoType Type, RepoId Id, string? Revision) Resolve(string repoText, string? typeText, string? revisionText, Uri? endpoint = null)
    {
        var reference = RepoReference.Parse(repoText, endpoint);
        RepoType? explicitType = null;
        if (typeText is not null)
        {
            if (!RepoTypes.TryParse(typeText, out var parsed))
            {
                throw new UsageException($"--repo-type must be model, dataset or space (got '{typeText}').");
            }
            explicitType = parsed;
        }
        var fromUrl = reference.Type;
        if (explicitType is { } given && fromUrl is { } named && named != RepoType.Model && given != named)
        {
            throw new UsageException($"'{repoText}' names a {named.Name()}, but --repo-type says {given.Name()}.");
        }
        if (revisionText is { Length: 0 })
        {
            throw new UsageException("--revision is empty: give a branch, a tag or a commit id (or leave it out for main).");
        }
        if (revisionText is not null && reference.Revision is { } inUrl && inUrl != revisionText
            && !(RepoDownloader.IsCommit(inUrl.ToLowerInvariant()) && string.Equals(inUrl, revisionText, StringComparison.OrdinalIgnoreCase)))
        {
            // As with --repo-type: two answers to one question are a mistake to point out, not to settle silently.
            throw new UsageException($"'{repoText}' names revision '{inUrl}', but --revision says '{revisionText}'; give one of them.");
        }
        var type = explicitType ?? fromUrl ?? RepoType.Model;
        // The same commit given twice, once in capitals, is the URL's (the Hub takes commit ids in lower case).
        return (type, reference.Id, reference.Revision ?? revisionText);
    }
}
