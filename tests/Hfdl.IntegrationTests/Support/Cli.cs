using Hfdl.Cli;
using Hfdl.Core.Hub;
using Hfdl.Hub.Server;

namespace Hfdl.IntegrationTests.Support;

public sealed record CliResult(int ExitCode, string Out, string Error)
{
    public string All => Out + Error;

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{Out}\n--- stderr\n{Error}";
}

/// <summary>
/// Runs the real <c>hfdl</c> command in-process, with an environment of its own: HF_ENDPOINT points at the test
/// server and HF_HOME at an empty folder, so no token or setting of the machine leaks in.
/// </summary>
public sealed class CliRunner(HubServer server, TempFolder home)
{
    public Dictionary<string, string?> Environment { get; } = new()
    {
        ["HF_ENDPOINT"] = server.Endpoint.ToString().TrimEnd('/'),
        ["HF_HOME"] = home.Combine("hf-home"),
        ["HOME"] = home.Combine("home"),
    };

    /// <summary>What the command reads from standard input (<c>hfdl login --token-stdin</c>); empty by default.</summary>
    public string StandardInput { get; set; } = "";

    /// <summary>When set, standard input is a terminal and this returns what the user types at a hidden prompt.</summary>
    public Func<string?>? Terminal { get; set; }

    /// <summary>When set, standard input is a terminal and this answers each question asked there (the question is kept in <see cref="Questions"/>).</summary>
    public Func<string, string?>? Prompt { get; set; }

    public List<string> Questions { get; } = [];

    /// <summary>When set, what the process's stop signals would drive (the run's token is then its source's).</summary>
    internal Interruption? Interruption { get; set; }

    public async Task<CliResult> RunAsync(params string[] args) => await RunAsync(CancellationToken.None, args);

    public async Task<CliResult> RunAsync(CancellationToken cancellationToken, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var context = new CliContext
        {
            Environment = HubEnvironment.FromDictionary(Environment),
            Out = TextWriter.Synchronized(output),
            Error = TextWriter.Synchronized(error),
            IsTerminal = false,
            In = new StringReader(StandardInput),
            ReadSecret = Terminal,
            Prompt = Prompt is { } answer ? question =>
            {
                Questions.Add(question);
                return answer(question);
            } : null,
        };
        var code = Interruption is { } interruption
            ? await HfdlCommand.RunAsync(args, context, cancellationToken, interruption.Describe, say => interruption.BeforeForcedExit = say)
            : await HfdlCommand.RunAsync(args, context, cancellationToken);
        return new CliResult(code, output.ToString(), error.ToString());
    }
}
