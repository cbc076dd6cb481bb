using Hfdl.Core.Hub;
using Spectre.Console;

namespace Hfdl.Cli;

/// <summary>
/// Everything the command reads from or writes to the outside world, so tests can run the real command in-process
/// with their own environment and captured output.
/// </summary>
internal sealed record CliContext
{
    public required HubEnvironment Environment { get; init; }

    /// <summary>Results meant for scripts (the final path, listings, JSON).</summary>
    public required TextWriter Out { get; init; }

    /// <summary>Progress, warnings and errors, for people.</summary>
    public required TextWriter Error { get; init; }

    /// <summary>True when stderr is an interactive terminal.</summary>
    public bool IsTerminal { get; init; }

    /// <summary>True when stdout is an interactive terminal (tables get colours and the terminal's width).</summary>
    public bool OutIsTerminal { get; init; }

    /// <summary>The console the live display draws on (default: one on stderr); tests pass a fake one.</summary>
    public IAnsiConsole? ErrorConsole { get; init; }

    /// <summary>The console tables are written to (default: one on <see cref="Out"/>); tests pass a fake one.</summary>
    public IAnsiConsole? OutConsole { get; init; }

    /// <summary>Standard input, read by <c>hfdl login --token-stdin</c>.</summary>
    public TextReader In { get; init; } = TextReader.Null;

    /// <summary>Reads a secret from the terminal without echoing it; null when standard input is not a terminal.</summary>
    public Func<string?>? ReadSecret { get; init; }

    /// <summary>
    /// Asks a question at the terminal and returns the line typed (null at end of input); null when standard input is
    /// not a terminal, so commands that would ask (<c>hfdl cache rm</c>) refuse instead of hanging.
    /// </summary>
    public Func<string, string?>? Prompt { get; init; }

    public static CliContext FromProcess() => new()
    {
        Environment = HubEnvironment.Process,
        Out = StandardStreams.Out,
        Error = StandardStreams.Error,
        IsTerminal = !Console.IsErrorRedirected,
        OutIsTerminal = !Console.IsOutputRedirected,
        In = Console.In,
        ReadSecret = Console.IsInputRedirected ? null : () => ConsoleSecret.Read(Console.Error),
        Prompt = Console.IsInputRedirected ? null : question =>
        {
            Console.Error.Write(question);
            Console.Error.Flush();
            return Console.ReadLine();
        },
    };
}
